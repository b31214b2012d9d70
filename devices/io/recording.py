"""The recording / import format: CSV (long or wide form) plus an optional JSON sidecar.

Long form, one reading per row::

    t,vital,value,unit,source,status
    0,sbp,127,mmHg,sim-nibp,ok
    300,spo2,,%,sim-oximeter,no_value
    300,condition:sensor_off,1,,sim-oximeter,

An empty value or ``-`` is a no-value reading. Wide form, one row per time, one column per vital
(an empty cell is no reading, ``-`` a no-value reading)::

    t,hr,spo2,sbp,dbp
    0,72,98,127,81
    1,73,-,,

``t`` is seconds from session start, or ISO-8601 timestamps (rebased to seconds from the
sidecar's ``started``, else from the first row). The full description, the sidecar schema and
the error rules are in ``sample_data/README.md``. Every error is a ``RecordingError`` whose
message names the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from devices.errors import RecordingError
from devices.patient import AGE_YEARS, dose_problem, lot_problem, weight_problem
from devices.screening import ScreeningError, parse_answers
from devices.reading import Condition, Item, Reading
from devices.vocabulary import CONDITIONS, NO_VALUE, OK, ROUTES, STATUSES, VITALS

FORMAT = "kapmon-recording/1"
LONG, WIDE = "long", "wide"
LONG_REQUIRED = ("t", "vital", "value")
LONG_OPTIONAL = ("unit", "source", "status", "vitals", "detail")
CONDITION_PREFIX = "condition:"
NO_VALUE_CELL = "-"
NO_VALUE_CELLS = ("", NO_VALUE_CELL)  # long form: an empty value is no value, as in exported spreadsheets
DEFAULT_SOURCE = "recording"
# A row may be up to this many seconds earlier than the latest row before it (devices multiplexed
# into one file stamp slightly out of order); items are then put in time order. More is an error.
BACKWARDS_TOLERANCE_S = 2.0
# The longest recording: every time (rows, doses, events, duration) is at most this many seconds
# after session start. Design proposal: a KAP session lasts hours; 14 days covers any monitored stay
# while a stray 1e300 or a year typed wrong is refused instead of run through second by second.
MAX_SPAN_S = 14 * 24 * 3600.0

# Units accepted as spellings of a vital's standard unit.
UNIT_ALIASES: dict[str, str] = {
    "mmhg": "mmHg",
    "mm hg": "mmHg",
    "/min": "/min",
    "bpm": "/min",
    "1/min": "/min",
    "min-1": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "%": "%",
    "au": "au",
    "a.u.": "au",
    "cel": "Cel",
    "°c": "Cel",
    "degc": "Cel",
}


@dataclass
class Recording:
    """A read recording: ``items`` stamped in seconds from session start (start = 0)."""

    path: Path | None
    metadata: dict = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)

    def items_from(self, start: float) -> list[Item]:
        """The items shifted so that session start is ``start`` (e.g. the clock's epoch seconds)."""
        return [shift(item, start) for item in self.items]

    @property
    def duration(self) -> float:
        return self.items[-1].t if self.items else 0.0

    @property
    def end(self) -> float:
        """Seconds from session start to the end of the recording: the latest of its last item, the sidecar's
        duration and its doses (a dose recorded after the last reading is still part of the session)."""
        stated = self.metadata.get("duration_s")
        times = [self.duration, float(stated) if isinstance(stated, (int, float)) else 0.0]
        times += [float(d["t"]) for d in self.metadata.get("doses") or () if isinstance(d, dict) and isinstance(d.get("t"), (int, float))]
        return max(times)

    def sampling_s(self) -> dict[str, float]:
        """Seconds between readings per vital: as the sidecar states (``sampling_s``), else the median
        interval in the recording (vitals with fewer than two readings are left out)."""
        stated = self.metadata.get("sampling_s")
        if isinstance(stated, dict):
            return {k: float(v) for k, v in stated.items()}
        times: dict[str, list[float]] = {}
        for item in self.items:
            if isinstance(item, Reading) and item.vital != "pleth":
                seen = times.setdefault(item.vital, [])
                if not seen or item.t > seen[-1]:
                    seen.append(item.t)
        return {v: statistics.median(b - a for a, b in zip(ts, ts[1:])) for v, ts in times.items() if len(ts) > 1}


def shift(item: Item, dt: float) -> Item:
    """``item`` with ``dt`` added to its time."""
    if isinstance(item, Reading):
        return Reading(item.t + dt, item.vital, item.value, item.unit, item.source, item.status)
    return Condition(item.t + dt, item.condition, item.source, item.active, item.vitals, item.detail)


# ---------------------------------------------------------------------------------------------
# Reading CSV


class _Where:
    """Formats error messages: ``file, line N, column M (name): message``."""

    def __init__(self, name: str, header: list[str], header_line: int = 1) -> None:
        self.name = name
        self.header = header
        self.header_line = header_line

    def error(self, line: int, col: int | None, message: str) -> RecordingError:
        if col is None:
            return RecordingError(f"{self.name}, line {line}: {message}")
        label = self.header[col] if col < len(self.header) else "?"
        return RecordingError(f"{self.name}, line {line}, column {col + 1} ({label}): {message}")


def _parse_number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _parse_iso(cell: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(cell)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)


def parse_started(value: str) -> datetime:
    """An ISO-8601 timestamp as an aware datetime (naive means UTC); ``ValueError`` if malformed."""
    ts = _parse_iso(value)
    if ts is None:
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp")
    return ts


def parse_rows(lines: Iterable[str], name: str = "<recording>", *, started: datetime | None = None) -> list[Item]:
    """Parse CSV text lines (long or wide form) into items with t in seconds from session start.

    ``started`` is the session start used to rebase ISO-8601 times (else the first row's time).
    Pure: no file access. Raises ``RecordingError`` naming ``name``, line and column.
    """
    rows = _Rows(lines, name)
    header: list[str] | None = None
    header_line = 0
    for raw in rows:
        if not raw or all(not c.strip() for c in raw) or raw[0].lstrip().startswith("#"):
            continue
        header = [c.strip().lower() for c in raw]
        header_line = rows.line_num
        break
    if header is None:
        raise RecordingError(f"{name}, line 1: empty recording (expected a header such as t,vital,value)")
    where = _Where(name, header, header_line)
    seen: dict[str, int] = {}
    for i, col in enumerate(header):
        if not col:
            raise where.error(header_line, i, "empty column name")
        if col in seen:
            raise where.error(header_line, i, f"column {col!r} appears twice (also column {seen[col] + 1})")
        seen[col] = i
    if "t" not in seen:
        raise where.error(header_line, None, f"no 't' column (header: {','.join(header)})")
    if "vital" in seen:
        items = _parse_long(rows, where, seen, started)
    else:
        items = _parse_wide(rows, where, seen, started)
    if not items:
        raise RecordingError(f"{name}, line {header_line + 1}: no rows after the header")
    items.sort(key=lambda item: item.t)  # stable: rows out of order within the tolerance
    return items


class _Rows:
    """``csv.reader`` whose malformed lines (a stray carriage return, ...) raise ``RecordingError``."""

    def __init__(self, lines: Iterable[str], name: str) -> None:
        self._reader = csv.reader(line for line in lines)
        self._name = name

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> _Rows:
        return self

    def __next__(self) -> list[str]:
        try:
            return next(self._reader)
        except csv.Error as exc:
            raise RecordingError(f"{self._name}, line {max(self._reader.line_num, 1)}: malformed CSV ({exc})") from None


class _Times:
    """Parses the t column: all seconds or all ISO-8601; rebases ISO; checks order."""

    def __init__(self, where: _Where, col: int, started: datetime | None) -> None:
        self.where = where
        self.col = col
        self.started = started
        self.iso: bool | None = None
        self.latest = -math.inf

    def parse(self, cell: str, line: int) -> float:
        cell = cell.strip()
        if not cell:
            raise self.where.error(line, self.col, "empty time")
        seconds = _parse_number(cell)
        if seconds is not None:
            if self.iso:
                raise self.where.error(line, self.col, f"{cell!r} is seconds but earlier rows are ISO-8601 timestamps")
            self.iso = False
            if seconds < 0:
                raise self.where.error(line, self.col, f"negative time {cell}")
            t = seconds
            if t > MAX_SPAN_S:
                raise self.where.error(line, self.col, f"time {cell} s is beyond {span_text()} after the session start")
        else:
            ts = _parse_iso(cell)
            if ts is None:
                raise self.where.error(
                    line, self.col, f"{cell!r} is neither seconds nor an ISO-8601 timestamp"
                )
            if self.iso is False:
                raise self.where.error(line, self.col, f"{cell!r} is a timestamp but earlier rows are seconds")
            self.iso = True
            if self.started is None:
                self.started = ts
            t = (ts - self.started).total_seconds()
            if t < -BACKWARDS_TOLERANCE_S:
                raise self.where.error(line, self.col, f"{cell} is before the session start {self.started.isoformat()}")
            t = max(t, 0.0)
            if t > MAX_SPAN_S:
                raise self.where.error(
                    line, self.col, f"{cell} is more than {span_text()} after the session start {self.started.isoformat()}"
                )
        if t < self.latest - BACKWARDS_TOLERANCE_S:
            raise self.where.error(
                line,
                self.col,
                f"time goes backwards: {cell} is {self.latest - t:g} s before an earlier row "
                f"(tolerance {BACKWARDS_TOLERANCE_S:g} s)",
            )
        self.latest = max(self.latest, t)
        return t


def span_text() -> str:
    """The longest recording, in words (``14 days``)."""
    return f"{MAX_SPAN_S / 86400:g} days"


def _value(where: _Where, line: int, col: int, vital: str, cell: str) -> float:
    value = _parse_number(cell)
    if value is None:
        raise where.error(line, col, f"{cell!r} is not a number")
    spec = VITALS[vital]
    if not spec.low <= value <= spec.high:
        raise where.error(
            line, col, f"{vital} {cell} is outside its physical range {spec.low:g}..{spec.high:g} {spec.unit}"
        )
    return value


def _unit(where: _Where, line: int, col: int, vital: str, cell: str) -> str:
    standard = VITALS[vital].unit
    if not cell:
        return standard
    unit = UNIT_ALIASES.get(cell.lower(), cell)
    if unit != standard:
        raise where.error(line, col, f"unit {cell!r} does not match {vital} (expected {standard})")
    return standard


def _data_rows(rows: Iterator[list[str]], where: _Where) -> Iterator[tuple[int, list[str]]]:
    """(line number, stripped cells padded to the header's width) for every data row; blank and
    ``#`` comment lines are skipped, a row wider than the header is an error naming its line."""
    width = len(where.header)
    for raw in rows:
        line = rows.line_num  # type: ignore[attr-defined]
        if not raw or all(not c.strip() for c in raw) or raw[0].lstrip().startswith("#"):
            continue
        if len(raw) > width:
            raise where.error(line, width, f"{len(raw)} cells but the header has {width} columns")
        yield line, [c.strip() for c in raw] + [""] * (width - len(raw))


def _parse_long(rows: Iterator[list[str]], where: _Where, cols: dict[str, int], started: datetime | None) -> list[Item]:
    for name, i in cols.items():
        if name not in LONG_REQUIRED + LONG_OPTIONAL:
            raise where.error(
                where.header_line, i, f"unknown column {name!r} in long form (known: {', '.join(LONG_REQUIRED + LONG_OPTIONAL)})"
            )
    ct, cv, cval = cols["t"], cols["vital"], cols["value"]
    cu, cs, cst = cols.get("unit"), cols.get("source"), cols.get("status")
    cvs, cd = cols.get("vitals"), cols.get("detail")
    times = _Times(where, ct, started)
    items: list[Item] = []
    for line, cells in _data_rows(rows, where):
        t = times.parse(cells[ct], line)
        vital = cells[cv]
        source = cells[cs] if cs is not None and cells[cs] else DEFAULT_SOURCE
        status = cells[cst].lower() if cst is not None else ""
        value_cell = cells[cval]
        if vital.lower().startswith(CONDITION_PREFIX):
            items.append(_condition_row(where, line, cols, cells, t, vital, source))
            continue
        vital = vital.lower()
        if vital not in VITALS:
            if not vital:
                raise where.error(line, cv, "empty vital")
            raise where.error(
                line, cv, f"unknown vital {vital!r} (known: {', '.join(VITALS)}, or condition:NAME)"
            )
        for extra in (cvs, cd):
            if extra is not None and cells[extra]:
                raise where.error(line, extra, "only condition rows have this column")
        unit = _unit(where, line, cu, vital, cells[cu]) if cu is not None else VITALS[vital].unit
        if status and status not in STATUSES:
            raise where.error(line, cst, f"unknown status {cells[cst]!r} (known: {', '.join(STATUSES)})")
        if value_cell in NO_VALUE_CELLS:
            if status not in ("", NO_VALUE):
                shown = f"'{value_cell}'" if value_cell else "empty"
                raise where.error(line, cval, f"no value ({shown}) with status {status} (only no_value has no value)")
            items.append(Reading(t, vital, None, unit, source, NO_VALUE))
        elif status == NO_VALUE:
            raise where.error(line, cval, f"value {value_cell!r} present with status no_value")
        else:
            items.append(Reading(t, vital, _value(where, line, cval, vital, value_cell), unit, source, status or OK))
    return items


def _condition_row(
    where: _Where, line: int, cols: dict[str, int], cells: list[str], t: float, vital: str, source: str
) -> Condition:
    cv, cval = cols["vital"], cols["value"]
    name = vital[len(CONDITION_PREFIX):].strip().lower()
    if name not in CONDITIONS:
        raise where.error(line, cv, f"unknown condition {name!r} (known: {', '.join(CONDITIONS)})")
    value = cells[cval]
    if value not in ("0", "1"):
        raise where.error(line, cval, f"condition value must be 1 (starts) or 0 (ends), not {value!r}")
    cu, cst = cols.get("unit"), cols.get("status")
    if cu is not None and cells[cu]:
        raise where.error(line, cu, "a condition has no unit")
    if cst is not None and cells[cst] not in ("", OK):
        raise where.error(line, cst, f"a condition has no status (got {cells[cst]!r})")
    vitals: tuple[str, ...] = ()
    cvs = cols.get("vitals")
    if cvs is not None and cells[cvs]:
        vitals = tuple(v.strip().lower() for v in cells[cvs].split() if v.strip())
        for v in vitals:
            if v not in VITALS:
                raise where.error(line, cvs, f"unknown vital {v!r} in the condition's vitals")
    cd = cols.get("detail")
    detail = cells[cd] if cd is not None else ""
    return Condition(t, name, source, value == "1", vitals, detail)


def _parse_wide(rows: Iterator[list[str]], where: _Where, cols: dict[str, int], started: datetime | None) -> list[Item]:
    vitals: list[tuple[int, str]] = []
    for name, i in cols.items():
        if name == "t":
            continue
        if name not in VITALS:
            raise where.error(
                where.header_line, i, f"unknown column {name!r} in wide form (known: t and vitals {', '.join(VITALS)}; "
                "long form needs a 'vital' column)"
            )
        vitals.append((i, name))
    if not vitals:
        raise where.error(where.header_line, None, "wide form needs at least one vital column after t")
    ct = cols["t"]
    times = _Times(where, ct, started)
    items: list[Item] = []
    for line, cells in _data_rows(rows, where):
        t = times.parse(cells[ct], line)
        for i, vital in vitals:
            cell = cells[i]
            if not cell:
                continue
            if cell == NO_VALUE_CELL or cell.lower() == NO_VALUE:
                items.append(Reading(t, vital, None, VITALS[vital].unit, DEFAULT_SOURCE, NO_VALUE))
            else:
                items.append(Reading(t, vital, _value(where, line, i, vital, cell), VITALS[vital].unit, DEFAULT_SOURCE))
    return items


# ---------------------------------------------------------------------------------------------
# Sidecar

SIDECAR_KEYS = (
    "format", "scenario", "seed", "description", "started", "duration_s", "patient", "route", "drug",
    "screening", "doses", "events", "sources", "teaching", "sampling_s",
)
PATIENT_KEYS = ("pseudonym", "age", "weight_kg", "sex")
FieldError = Callable[[str, str], RecordingError]  # (field, message) -> the error naming the file and field


def sidecar_path(csv_path: str | Path) -> Path:
    """``x.csv`` -> ``x.json``."""
    return Path(csv_path).with_suffix(".json")


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_time(v: object) -> bool:
    """Seconds from session start within the longest recording."""
    return _is_num(v) and 0 <= v <= MAX_SPAN_S  # type: ignore[operator]


def validate_metadata(meta: object, name: str = "<sidecar>") -> dict:
    """Check a sidecar dict; return a copy with the defaults the rest of kapmon relies on filled in
    (each dose's ``route`` and ``drug`` from the sidecar's, ``end`` and each event's ``text``).
    ``RecordingError`` naming the file and the field."""
    def err(fieldname: str, message: str) -> RecordingError:
        return RecordingError(f"{name}: field {fieldname}: {message}")

    if not isinstance(meta, dict):
        raise RecordingError(f"{name}: the sidecar must be a JSON object")
    for key in meta:
        if key not in SIDECAR_KEYS:
            raise err(key, f"unknown field (known: {', '.join(SIDECAR_KEYS)})")
    if meta.get("format") != FORMAT:
        raise err("format", f"must be {FORMAT!r}, got {meta.get('format')!r}")
    for key in ("scenario", "description", "drug", "teaching"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise err(key, "must be a string")
    if meta.get("seed") is not None and (not isinstance(meta["seed"], int) or isinstance(meta["seed"], bool)):
        raise err("seed", "must be an integer")
    if meta.get("started") is not None:
        if not isinstance(meta["started"], str) or _parse_iso(meta["started"]) is None:
            raise err("started", f"{meta['started']!r} is not an ISO-8601 timestamp")
    if meta.get("duration_s") is not None and not _is_time(meta["duration_s"]):
        raise err("duration_s", f"must be seconds from 0 to {span_text()}")
    if meta.get("route") is not None and meta["route"] not in ROUTES:
        raise err("route", f"{meta['route']!r} is not one of {', '.join(ROUTES)}")
    patient = meta.get("patient")
    if patient is not None:
        if not isinstance(patient, dict):
            raise err("patient", "must be an object")
        for key, value in patient.items():
            if key not in PATIENT_KEYS:
                raise err(f"patient.{key}", f"unknown field (known: {', '.join(PATIENT_KEYS)})")
            if value is None:
                continue
            if key in ("pseudonym", "sex") and not isinstance(value, str):
                raise err(f"patient.{key}", "must be a string")
            if key == "age" and not (isinstance(value, int) and not isinstance(value, bool)
                                     and AGE_YEARS[0] <= value <= AGE_YEARS[1]):
                raise err("patient.age", f"must be an integer {AGE_YEARS[0]}..{AGE_YEARS[1]}")
            if key == "weight_kg" and (problem := weight_problem(value)):
                raise err("patient.weight_kg", problem)
    screening = None
    if meta.get("screening") is not None:
        try:
            screening = parse_answers(meta["screening"], name)
        except ScreeningError as exc:
            raise RecordingError(str(exc)) from None
    if meta.get("doses") is not None and not isinstance(meta["doses"], list):
        raise err("doses", "must be a list")
    if meta.get("events") is not None and not isinstance(meta["events"], list):
        raise err("events", "must be a list")
    sampling = meta.get("sampling_s")
    if sampling is not None:
        if not isinstance(sampling, dict) or not all(k in VITALS and _is_num(v) and v > 0 for k, v in sampling.items()):
            raise err("sampling_s", "must map vital names to seconds between readings (> 0)")
    sources = meta.get("sources")
    if sources is not None:
        if not isinstance(sources, dict) or not all(k in VITALS and isinstance(v, str) for k, v in sources.items()):
            raise err("sources", "must map vital names to source names")
    out = dict(meta)
    if screening is not None:
        out["screening"] = screening
    if meta.get("doses") is not None:
        out["doses"] = [_dose(err, f"doses[{i}]", dose, meta) for i, dose in enumerate(meta["doses"])]
    if meta.get("events") is not None:
        out["events"] = [_event(err, f"events[{i}]", event) for i, event in enumerate(meta["events"])]
    return out


def _dose(err: FieldError, where: str, dose: object, meta: dict) -> dict:
    """One sidecar dose, checked, with ``route`` and ``drug`` defaulted to the sidecar's own."""
    if not isinstance(dose, dict):
        raise err(where, "must be an object")
    for key in dose:
        if key not in ("t", "route", "drug", "mg", "end", "lot"):
            raise err(f"{where}.{key}", "unknown field (known: t, route, drug, mg, end, lot)")
    if not _is_time(dose.get("t")):
        raise err(f"{where}.t", f"must be seconds from 0 to {span_text()}")
    if (problem := dose_problem(dose.get("mg"))) is not None:
        raise err(f"{where}.mg", problem)
    end = dose.get("end")
    if end is not None and not (_is_time(end) and end >= dose["t"]):
        raise err(f"{where}.end", f"must be null or seconds >= t (at most {span_text()})")
    route = dose["route"] if dose.get("route") is not None else meta.get("route")
    if route is None:
        raise err(f"{where}.route", "missing (give the dose's route, or the sidecar's route)")
    if route not in ROUTES:
        raise err(f"{where}.route", f"{route!r} is not one of {', '.join(ROUTES)}")
    drug = dose["drug"] if dose.get("drug") is not None else meta.get("drug")
    if not isinstance(drug, str) or not drug.strip():
        raise err(f"{where}.drug", "must be a drug name (give the dose's drug, or the sidecar's drug)")
    lot = dose.get("lot")
    if lot is not None and (problem := lot_problem(lot)) is not None:
        raise err(f"{where}.lot", problem)
    return {"t": dose["t"], "route": route, "drug": drug, "mg": dose["mg"], "end": end} | ({"lot": lot} if lot else {})


def _event(err: FieldError, where: str, event: object) -> dict:
    """One sidecar timeline event, checked, with ``text`` defaulted to empty."""
    if not isinstance(event, dict):
        raise err(where, "must be an object")
    if not _is_time(event.get("t")):
        raise err(f"{where}.t", f"must be seconds from 0 to {span_text()}")
    if not isinstance(event.get("kind"), str) or not event["kind"]:
        raise err(f"{where}.kind", "must be a non-empty string (note, phase, ...)")
    if not isinstance(event.get("text", ""), str):
        raise err(f"{where}.text", "must be a string")
    return {**event, "text": event.get("text", "")}


def read_metadata(path: str | Path) -> dict:
    """Read and check a sidecar JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
    return validate_metadata(meta, str(path))


def read_recording(path: str | Path) -> Recording:
    """Read a CSV recording and its sidecar ``<same stem>.json`` if there is one."""
    path = Path(path)
    side = sidecar_path(path)
    meta = read_metadata(side) if side.is_file() and side != path else {}
    started = parse_started(meta["started"]) if meta.get("started") else None
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            items = parse_rows(fh, str(path), started=started)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return Recording(path=path, metadata=meta, items=items)


# ---------------------------------------------------------------------------------------------
# Writing


def _num(x: float) -> str:
    """Shortest text that reads back as the same float; integers without a decimal point."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def format_rows(items: Iterable[Item], form: str = LONG, start: float = 0.0) -> Iterator[list[str]]:
    """The CSV rows (header first) for ``items``; t is written as ``item.t - start`` seconds."""
    items = list(items)
    if form == LONG:
        has_cond_extras = any(isinstance(i, Condition) and (i.vitals or i.detail) for i in items)
        header = ["t", "vital", "value", "unit", "source", "status"]
        if has_cond_extras:
            header += ["vitals", "detail"]
        yield header
        for item in items:
            t = _num(item.t - start)
            if isinstance(item, Reading):
                value = "" if item.value is None else _num(item.value)
                row = [t, item.vital, value, item.unit, item.source, item.status]
                if has_cond_extras:
                    row += ["", ""]
            else:
                row = [t, CONDITION_PREFIX + item.condition, "1" if item.active else "0", "", item.source, ""]
                if has_cond_extras:
                    row += [" ".join(item.vitals), item.detail]
            yield row
    elif form == WIDE:
        readings = [i for i in items if isinstance(i, Reading)]
        present = {r.vital for r in readings}
        vitals = [v for v in VITALS if v in present]
        yield ["t", *vitals]
        col = {v: k for k, v in enumerate(vitals)}
        row_t: float | None = None
        cells: list[str] = []
        for r in readings:
            if r.t != row_t:
                if row_t is not None:
                    yield [_num(row_t - start), *cells]
                row_t = r.t
                cells = [""] * len(vitals)
            k = col[r.vital]
            if cells[k]:
                raise RecordingError(f"wide form cannot hold two {r.vital} readings at t={r.t - start:g}")
            cells[k] = NO_VALUE_CELL if r.value is None else _num(r.value)
        if row_t is not None:
            yield [_num(row_t - start), *cells]
    else:
        raise ValueError(f"form must be {LONG!r} or {WIDE!r}, not {form!r}")


def write_recording(
    path: str | Path, items: Iterable[Item], metadata: dict | None = None, form: str = LONG, start: float = 0.0
) -> Path:
    """Write ``items`` as a CSV recording (and ``metadata`` as its sidecar, checked first).

    Long form keeps everything (no-value statuses, sources, conditions). Wide form keeps the
    readings' values and no-value cells only: sources, units and conditions are not written.
    Items are written in the order given (they should be in time order).
    """
    path = Path(path)
    if metadata:
        validate_metadata(metadata, str(sidecar_path(path)))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(format_rows(items, form, start))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
    if metadata:
        sidecar_path(path).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
