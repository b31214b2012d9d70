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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import ConfigDict, model_validator

from devices.errors import RecordingError, SidecarError
from devices.patient import (
    AGE_YEARS,
    dose_problem,
    lot_problem,
    observation_level,
    observation_problem,
    weight_problem,
    who_problem,
)
from devices.reading import Condition, Item, Reading, Samples, expand, last_time
from devices.schema import FieldProblem, FileModel, check, json_lines, read_json, rule
from devices.screening import ScreeningAnswers
from devices.vocabulary import CONDITIONS, NO_VALUE, OK, ROUTES, SCALES, STATUSES, VITALS

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
        return last_time(self.items[-1]) if self.items else 0.0

    @property
    def end(self) -> float:
        """Seconds from session start to the end of the recording: the latest of its last item, the sidecar's
        duration, its doses and its observations (a dose given or a level charted after the last reading is
        still part of the session)."""
        stated = self.metadata.get("duration_s")
        times = [self.duration, float(stated) if isinstance(stated, (int, float)) else 0.0]
        times += [
            float(entry["t"])
            for key in ("doses", "observations")
            for entry in self.metadata.get(key) or ()
            if isinstance(entry, dict) and isinstance(entry.get("t"), (int, float))
        ]
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
    if isinstance(item, Samples):
        return Samples(item.t0 + dt, item.vital, item.rate_hz, item.values, item.unit, item.source, item.status)
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
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


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
                raise self.where.error(line, self.col, f"{cell!r} is neither seconds nor an ISO-8601 timestamp")
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
        raise where.error(line, col, f"{vital} {cell} is outside its physical range {spec.low:g}..{spec.high:g} {spec.unit}")
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
            raise where.error(line, cv, f"unknown vital {vital!r} (known: {', '.join(VITALS)}, or condition:NAME)")
        for extra in (cvs, cd):
            if extra is not None and cells[extra]:
                raise where.error(line, extra, "only condition rows have this column")
        unit = _unit(where, line, cu, vital, cells[cu]) if cu is not None else VITALS[vital].unit
        if status and cst is not None and status not in STATUSES:
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
    name = vital[len(CONDITION_PREFIX) :].strip().lower()
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
                where.header_line,
                i,
                f"unknown column {name!r} in wide form (known: t and vitals {', '.join(VITALS)}; "
                "long form needs a 'vital' column)",
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


def sidecar_path(csv_path: str | Path) -> Path:
    """``x.csv`` -> ``x.json``."""
    return Path(csv_path).with_suffix(".json")


def _seconds_problem(value: object) -> str | None:
    """Seconds from session start within the longest recording (an int stays an int)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_SPAN_S
    return None if ok else f"must be seconds from 0 to {span_text()}"


def _age_problem(age: object) -> str | None:
    ok = isinstance(age, int) and not isinstance(age, bool) and AGE_YEARS[0] <= age <= AGE_YEARS[1]
    return None if ok else f"must be an integer {AGE_YEARS[0]}..{AGE_YEARS[1]}"


def _route_problem(route: object) -> str | None:
    return None if route in ROUTES else f"{route!r} is not one of {', '.join(ROUTES)}"


def _iso_problem(started: object) -> str | None:
    return None if isinstance(started, str) and _parse_iso(started) is not None else f"{started!r} is not an ISO-8601 timestamp"


def _format_problem(value: object) -> str | None:
    return None if value == FORMAT else f"must be {FORMAT!r}, got {value!r}"


Seconds = Annotated[object, rule(_seconds_problem, nullable=False)]
SecondsOrNull = Annotated[object, rule(_seconds_problem)]
Route = Annotated[str, rule(_route_problem)]


class PatientSchema(FileModel):
    """``patient``: who, pseudonymously (every field may be null)."""

    pseudonym: str | None = None
    age: Annotated[object, rule(_age_problem)] = None
    weight_kg: Annotated[object, rule(weight_problem)] = None
    sex: str | None = None


class DoseSchema(FileModel):
    """One dose: at ``t`` (an infusion until ``end``), ``route`` and ``drug`` defaulting to the sidecar's."""

    t: Seconds
    mg: Annotated[object, rule(dose_problem, nullable=False)]
    route: Route | None = None
    drug: str | None = None
    end: SecondsOrNull = None
    lot: Annotated[object, rule(lot_problem)] = None

    @model_validator(mode="after")
    def _dose(self) -> DoseSchema:
        if isinstance(self.end, int | float) and isinstance(self.t, int | float) and self.end < self.t:
            raise FieldProblem("end", f"must be null or seconds >= t (at most {span_text()})")
        return self


class EventSchema(FileModel):
    """One timeline event (``note``, ``phase``, ...); other fields it carries are kept."""

    model_config = ConfigDict(extra="allow")
    t: Seconds
    kind: Annotated[str, rule(lambda kind: None if kind else "must be a non-empty string (note, phase, ...)")]
    text: str = ""


class ObservationSchema(FileModel):
    """One charted observation: a level of a scale at ``t``, and who charted it."""

    t: Seconds
    scale: str
    level: object
    who: Annotated[object, rule(who_problem)] = None

    @model_validator(mode="after")
    def _level(self) -> ObservationSchema:
        if problem := observation_problem(self.scale, self.level):
            raise FieldProblem("scale" if self.scale not in SCALES else "level", problem)
        return self


class SidecarSchema(FileModel):
    """A recording's JSON sidecar."""

    format: Annotated[object, rule(_format_problem, nullable=False)]
    scenario: str | None = None
    seed: int | None = None
    description: str | None = None
    started: Annotated[object, rule(_iso_problem)] = None
    duration_s: SecondsOrNull = None
    patient: PatientSchema | None = None
    route: Route | None = None
    drug: str | None = None
    screening: ScreeningAnswers | None = None
    doses: list[DoseSchema] | None = None
    events: list[EventSchema] | None = None
    observations: list[ObservationSchema] | None = None
    sources: dict[str, str] | None = None
    teaching: str | None = None
    sampling_s: dict[str, float] | None = None

    @model_validator(mode="after")
    def _across(self) -> SidecarSchema:
        if self.sampling_s is not None and not all(k in VITALS and v > 0 for k, v in self.sampling_s.items()):
            raise FieldProblem("sampling_s", "must map vital names to seconds between readings (> 0)")
        if self.sources is not None and not all(k in VITALS for k in self.sources):
            raise FieldProblem("sources", "must map vital names to source names")
        for i, dose in enumerate(self.doses or ()):
            if dose.route is None and self.route is None:
                raise FieldProblem(f"doses[{i}].route", "missing (give the dose's route, or the sidecar's route)")
            drug = dose.drug if dose.drug is not None else self.drug
            if drug is None or not drug.strip():
                raise FieldProblem(f"doses[{i}].drug", "must be a drug name (give the dose's drug, or the sidecar's drug)")
        return self

    def dose_rows(self) -> list[dict]:
        """Each dose as kapmon stores it, route and drug filled in from the sidecar's own."""
        return [
            {
                "t": d.t,
                "route": d.route or self.route,
                "drug": d.drug if d.drug is not None else self.drug,
                "mg": d.mg,
                "end": d.end,
            }
            | ({"lot": d.lot} if d.lot else {})
            for d in self.doses or ()
        ]


def validate_metadata(meta: object, name: str = "<sidecar>", lines: Mapping[str, int] | None = None) -> dict:
    """Check a sidecar dict; return a copy with the defaults the rest of kapmon relies on filled in
    (each dose's ``route`` and ``drug`` from the sidecar's, ``end`` and each event's ``text``).
    ``SidecarError`` (a ``RecordingError``) naming the file, the line (from ``lines``, the JSON key
    lines of the file, when given) and the field."""
    if not isinstance(meta, dict):
        raise SidecarError(name, 1 if lines is not None else None, "", "the sidecar must be a JSON object")
    side = check(SidecarSchema, meta, name, lines, SidecarError)
    out = dict(meta)
    if side.screening is not None:
        out["screening"] = {key: getattr(side.screening, key) for key in meta["screening"]}
    if side.doses is not None:
        out["doses"] = side.dose_rows()
    if side.observations is not None:
        out["observations"] = [
            {"t": o.t, "scale": o.scale, "level": observation_level(o.scale, o.level)} | ({"who": o.who} if o.who else {})
            for o in side.observations
        ]
    if side.events is not None:
        out["events"] = [{**event, "text": event.get("text", "")} for event in meta["events"]]
    return out


def read_metadata(path: str | Path) -> dict:
    """Read and check a sidecar JSON file."""
    path = Path(path)
    text, meta = read_json(path, SidecarError)
    return validate_metadata(meta, str(path), json_lines(text))


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


def number_text(x: float) -> str:
    """Shortest text that reads back as the same float; integers without a decimal point."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def format_rows(items: Iterable[Item], form: str = LONG, start: float = 0.0) -> Iterator[list[str]]:
    """The CSV rows (header first) for ``items`` (a chunk of samples as one row per sample); t is written as
    ``item.t - start`` seconds."""
    flat = list(expand(items))
    if form == LONG:
        has_cond_extras = any(isinstance(i, Condition) and (i.vitals or i.detail) for i in flat)
        header = ["t", "vital", "value", "unit", "source", "status"]
        if has_cond_extras:
            header += ["vitals", "detail"]
        yield header
        for item in flat:
            t = number_text(item.t - start)
            if isinstance(item, Reading):
                value = "" if item.value is None else number_text(item.value)
                row = [t, item.vital, value, item.unit, item.source, item.status]
                if has_cond_extras:
                    row += ["", ""]
            else:
                row = [t, CONDITION_PREFIX + item.condition, "1" if item.active else "0", "", item.source, ""]
                if has_cond_extras:
                    row += [" ".join(item.vitals), item.detail]
            yield row
    elif form == WIDE:
        readings = [i for i in flat if isinstance(i, Reading)]
        present = {r.vital for r in readings}
        vitals = [v for v in VITALS if v in present]
        yield ["t", *vitals]
        col = {v: k for k, v in enumerate(vitals)}
        row_t: float | None = None
        cells: list[str] = []
        for r in readings:
            if r.t != row_t:
                if row_t is not None:
                    yield [number_text(row_t - start), *cells]
                row_t = r.t
                cells = [""] * len(vitals)
            k = col[r.vital]
            if cells[k]:
                raise RecordingError(f"wide form cannot hold two {r.vital} readings at t={r.t - start:g}")
            cells[k] = NO_VALUE_CELL if r.value is None else number_text(r.value)
        if row_t is not None:
            yield [number_text(row_t - start), *cells]
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
        write_sidecar(path, metadata)
    return path


def write_sidecar(csv_path: str | Path, metadata: dict) -> Path:
    """Write ``metadata`` as the JSON sidecar of the recording at ``csv_path``."""
    path = sidecar_path(csv_path)
    path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
