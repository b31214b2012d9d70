"""VitalDB ``.vital`` files (Vital Recorder, the VitalDB open dataset), read and written through the
``vitaldb`` package, an optional extra (``pip install 'kapmon[vital]'``).

**Reading** (:func:`read_vital`) gives the same :class:`~devices.io.recording.Recording` a CSV import gives,
so ``kapmon import`` judges it through the same rules. A track is matched by its name after the device
(``Solar8000/NIBP_SBP``, ``Intellivue/NIBP_SYS`` and a device-less ``NIBP_SBP`` all give systolic BP:
:data:`NUMERIC_TRACKS`, :data:`WAVE_TRACKS`); every other track is listed and skipped, and so is a
second track of one device for a vital it already gives (``Solar8000/RR_CO2`` beside ``Solar8000/RR``).
A numeric record that is NaN, infinite or outside the vital's physical range becomes a no-value reading,
never a number; a NaN waveform sample is a gap (Vital Recorder fills gaps so). Float32 values are read
as the shortest decimal that is the same float32 (97.3, not 97.30000305). Times are seconds from the
file's start (its header's, else its earliest record), at most ``MAX_SPAN_S`` later. The device name is
the readings' source. Before the package parses a file, its framing is walked (the gzip stream complete
with its checksum, every packet whole, at most ``MAX_UNPACKED`` bytes): the package itself stops quietly
at a truncated packet, which would import a shorter session without a word.

**Writing** (:func:`write_vital`): one track per source and vital under VitalDB's Solar8000 track names
(:data:`EXPORT_NAMES`; the device is the kapmon source): numerics as doubles, so the same numbers read
back (a no-value reading is NaN), the pleth as float32 samples at its own rate (``vitaldb`` packs a
waveform's records on one sample grid: times read back within half a sample). kapmon's own string
tracks keep what VitalDB has no place for: ``KAPMON/SIDECAR`` (the recording sidecar as JSON: patient
pseudonym, route, doses, screening, charted observations, notes), ``<source>/CONDITION`` (device conditions as
JSON) and ``<source>/QUESTIONABLE`` (the vital of each reading kapmon did not trust); ``EVENT`` has the doses,
charted observations ("MOAA/S 2 (responds only to mild prodding or shaking) by RN Lee") and notes in words, where
Vital Recorder keeps events. These are read back only from a file that has the
sidecar track.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import statistics
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np
import numpy.typing as npt

from devices.errors import RecordingError
from devices.io.recording import FORMAT, MAX_SPAN_S, UNIT_ALIASES, Recording, span_text, validate_metadata
from devices.reading import Condition, Item, Reading, expand, in_physical_range, no_value, questionable
from devices.vocabulary import SCALES, VITALS

INSTALL = "pip install 'kapmon[vital]'"
MISSING = f".vital files need the vitaldb package, which is not installed: {INSTALL}"

# Track name after the device -> kapmon vital, in order of preference when one device has two for a vital.
# Names from the VitalDB track list (Solar8000 numerics, SNUADC and IntelliVue waves, IntelliVue numerics).
NUMERIC_TRACKS: dict[str, str] = {
    "NIBP_SBP": "sbp",
    "NIBP_SYS": "sbp",
    "NIBP_DBP": "dbp",
    "NIBP_DIA": "dbp",
    "NIBP_MBP": "map",
    "NIBP_MEAN": "map",
    "HR": "hr",
    "ECG_HR": "hr",
    "PLETH_HR": "pr",
    "PLETH_SPO2": "spo2",
    "PLETH_SAT_O2": "spo2",
    "SPO2": "spo2",
    "PI": "pi",
    "RR": "rr",
    "RR_CO2": "rr",
    "ETCO2": "etco2",
    "CUFF": "cuff",
}
WAVE_TRACKS: dict[str, str] = {"PLETH": "pleth"}
# kapmon vital -> the track name written (Solar8000's where it has one).
EXPORT_NAMES: dict[str, str] = {
    "sbp": "NIBP_SBP",
    "dbp": "NIBP_DBP",
    "map": "NIBP_MBP",
    "hr": "HR",
    "pr": "PLETH_HR",
    "spo2": "PLETH_SPO2",
    "pi": "PI",
    "rr": "RR",
    "etco2": "ETCO2",
    "cuff": "CUFF",
    "pleth": "PLETH",
}
EVENT_TRACK = "EVENT"
KAPMON_DEVICE, SIDECAR_TRACK = "KAPMON", "SIDECAR"
CONDITION_TRACK, QUESTIONABLE_TRACK = "CONDITION", "QUESTIONABLE"
DEFAULT_SOURCE = "vital"
TYPE_WAV, TYPE_NUM, TYPE_STR = 1, 2, 5  # the .vital track types
FLOAT32 = 1  # the .vital sample format of 32-bit floats; 2 is doubles

# Design proposals. The most bytes a file may unpack to: a day of a 500 Hz waveform and its numerics
# is ~200 MB, so a bigger file is a different kind of recording or a compressed bomb.
MAX_UNPACKED = 1 << 30
# The most readings one import holds: an import peaks near 500 bytes a reading (measured: 0.9 million readings,
# a 30-min 500 Hz pleth with its numerics, 460 MB, 15 s), so ~1 GB; ~1 h of a 500 Hz waveform.
MAX_READINGS = 2_000_000
# The fastest waveform taken: VitalDB's fastest tracks are 500 Hz; no oximeter samples faster.
MAX_WAVE_HZ = 1000.0


def vitaldb_module() -> ModuleType:
    """The ``vitaldb`` package, or ``RecordingError`` saying how to install it."""
    try:
        import vitaldb
    except ImportError:
        raise RecordingError(MISSING) from None
    return vitaldb


@dataclass
class VitalImport:
    """A read ``.vital`` file: the recording, and one line for each track left out and why."""

    recording: Recording
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- framing


def check_framing(path: Path) -> tuple[float, float]:
    """Walk the whole gzip stream and every packet of a ``.vital`` file; return the header's (start, end)
    times. ``RecordingError`` naming the byte where it is truncated, corrupt or too big."""
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(10)
            if len(head) < 10 or head[:4] != b"VITA":
                raise RecordingError(f"{path}: not a .vital file (it does not start with the VITA signature)")
            size = struct.unpack_from("<H", head, 8)[0]
            header = f.read(size)
            if len(header) < size:
                raise RecordingError(f"{path}: truncated in its header")
            times = struct.unpack_from("<dd", header, 10) if size >= 26 else (math.nan, math.nan)
            at = 10 + size
            while packet := f.read(5):
                if len(packet) < 5:
                    raise RecordingError(f"{path}: truncated: the file ends inside the packet at byte {at:,}")
                length = struct.unpack_from("<L", packet, 1)[0]
                if at + 5 + length > MAX_UNPACKED:
                    raise RecordingError(
                        f"{path}: unpacks to more than {MAX_UNPACKED >> 20:,} MiB: not a session "
                        "kapmon imports (a .vital file of hours is tens of MiB)"
                    )
                left = length
                while left and (got := len(f.read(min(left, 1 << 20)))):
                    left -= got
                if left:
                    raise RecordingError(
                        f"{path}: truncated: the packet at byte {at:,} holds {length:,} bytes, "
                        f"the file ends after {length - left:,}"
                    )
                at += 5 + length
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        reason = "truncated (the compressed stream ends early)" if isinstance(exc, EOFError) else str(exc)
        raise RecordingError(f"{path}: not a readable .vital file: {reason}") from None
    return times


class LoadedVital(Protocol):
    """What kapmon reads of a loaded ``vitaldb.VitalFile``: its tracks by ``device/name``."""

    trks: dict


def _load(vitaldb: ModuleType, path: Path, **options: object) -> LoadedVital:
    """``vitaldb.VitalFile`` of a local file (never a URL), its complaints turned into ``RecordingError``."""
    vf = vitaldb.VitalFile()
    vf.devs, vf.trks, vf.dtstart, vf.dtend = {}, {}, 0, 0
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            ok = vf.load_vital(str(path.resolve()), **options)
    except Exception as exc:  # the package raises whatever its parsing meets
        raise RecordingError(f"{path}: vitaldb cannot read it: {exc}") from None
    if ok is False:
        raise RecordingError(f"{path}: vitaldb cannot read it: {said.getvalue().strip() or 'not a .vital file'}")
    return vf


# --------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Chosen:
    """A track taken: its full name, the source its readings get and the vital (or kapmon string track)."""

    name: str
    source: str
    vital: str


def unit_fits(vital: str, unit: str) -> bool:
    """Whether a track's unit is the vital's (empty: unstated, taken as the vital's)."""
    given = unit.strip()
    return vital == "pleth" or not given or UNIT_ALIASES.get(given.lower(), given) == VITALS[vital].unit


def choose_tracks(trks: dict, waveforms: bool) -> tuple[list[Chosen], list[str]]:
    """Which tracks become which vitals (or kapmon's own tracks), and one line for each left out."""
    kapmon = f"{KAPMON_DEVICE}/{SIDECAR_TRACK}" in trks
    chosen: list[Chosen] = []
    skipped: list[str] = []
    taken: dict[tuple[str, str], str] = {}
    order = list(NUMERIC_TRACKS) + list(WAVE_TRACKS)

    def rank(item: tuple[str, object]) -> int:
        name = str(getattr(item[1], "name", "")).upper()
        return order.index(name) if name in order else len(order)

    for full, trk in sorted(trks.items(), key=rank):
        name, device, kind = str(trk.name).upper(), str(trk.dname), trk.type
        source = device or DEFAULT_SOURCE
        vital = NUMERIC_TRACKS.get(name) or WAVE_TRACKS.get(name)
        if kind == TYPE_STR and (
            full == EVENT_TRACK
            or (kapmon and (full == f"{KAPMON_DEVICE}/{SIDECAR_TRACK}" or name in (CONDITION_TRACK, QUESTIONABLE_TRACK)))
        ):
            chosen.append(Chosen(full, source, name))
            continue
        why = None
        if vital is None:
            why = "not a track kapmon knows"
        elif (name in NUMERIC_TRACKS) != (kind == TYPE_NUM) or (name in WAVE_TRACKS and kind != TYPE_WAV):
            why = (
                f"a {'waveform' if kind == TYPE_WAV else 'text' if kind == TYPE_STR else 'numeric'} track where "
                f"kapmon expects {'numbers' if name in NUMERIC_TRACKS else 'a waveform'}"
            )
        elif not unit_fits(vital, str(trk.unit)):
            why = f"unit {trk.unit!r}, kapmon records {vital} in {VITALS[vital].unit}"
        elif kind == TYPE_WAV and not 0 < trk.srate <= MAX_WAVE_HZ:
            why = f"sample rate {trk.srate:g} Hz (kapmon takes 0-{MAX_WAVE_HZ:g} Hz)"
        elif kind == TYPE_WAV and not waveforms:
            why = "waveform left out as asked"
        elif (source, vital) in taken:
            why = f"{taken[(source, vital)]} already gives {vital}"
        if why or vital is None:
            skipped.append(f"{full}: {why}")
            continue
        taken[(source, vital)] = full
        chosen.append(Chosen(full, source, vital))
    return chosen, skipped


def shortest(values: npt.ArrayLike, fmt: int) -> np.ndarray:
    """Float32 samples as the shortest decimals that are the same float32; other formats as doubles."""
    if fmt == FLOAT32:
        return np.asarray(values, dtype=np.float32).astype(str).astype(np.float64)
    return np.asarray(values, dtype=np.float64)


def _when(path: Path, trk_name: str, t: float, start: float) -> float:
    """A record's time from the file's start, checked to be a time within the longest recording."""
    if not math.isfinite(t):
        raise RecordingError(f"{path}: track {trk_name}: a record's time is {t}, not a time")
    if not 0 <= t - start <= MAX_SPAN_S:
        raise RecordingError(
            f"{path}: track {trk_name}: a record at {iso(t)} is {(t - start) / 86400:,.1f} days "
            f"from the file's start {iso(start)}: a recording spans at most {span_text()}"
        )
    return t - start


def iso(t: float) -> str:
    """Epoch seconds as ISO-8601 UTC (``?`` when not a representable time)."""
    try:
        return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{t:g} s"


def numeric_readings(path: Path, c: Chosen, trk: object, start: float, notes: list[str]) -> list[Reading]:
    """One numeric track as readings: NaN, infinite or impossible values as no-value readings."""
    recs = trk.recs  # type: ignore[attr-defined]
    values = shortest([r["val"] for r in recs], trk.fmt) if recs else np.empty(0)  # type: ignore[attr-defined]
    unit, out, impossible = VITALS[c.vital].unit, [], 0
    for rec, value in zip(recs, values.tolist()):
        t = _when(path, c.name, rec["dt"], start)
        if math.isfinite(value) and in_physical_range(c.vital, value):
            out.append(Reading(t, c.vital, value, unit, c.source))
        else:
            impossible += math.isfinite(value)
            out.append(no_value(t, c.vital, c.source))
    if impossible:
        spec = VITALS[c.vital]
        notes.append(f"{c.name}: {impossible} value(s) outside {spec.low:g}-{spec.high:g} {spec.unit} kept as no value")
    return out


def wave_readings(path: Path, c: Chosen, trk: object, start: float) -> list[Reading]:
    """One waveform track as pleth readings at its sample times; NaN samples are gaps."""
    out: list[Reading] = []
    gain, offset, fmt, rate = trk.gain, trk.offset, trk.fmt, trk.srate  # type: ignore[attr-defined]
    for rec in trk.recs:  # type: ignore[attr-defined]
        values = shortest(rec["val"], fmt)
        if fmt > 2:  # integer samples: scaled as vitaldb scales them
            values = np.round(values * gain + offset, 9)
        if not len(values):
            continue
        first = _when(path, c.name, rec["dt"], start)
        _when(path, c.name, rec["dt"] + (len(values) - 1) / rate, start)
        times = first + np.arange(len(values)) / rate
        keep = np.isfinite(values) & (np.abs(values) <= VITALS["pleth"].high)
        out += [
            Reading(t, "pleth", v, VITALS["pleth"].unit, c.source) for t, v in zip(times[keep].tolist(), values[keep].tolist())
        ]
    return out


def string_records(c: Chosen, trk: object, start: float, path: Path) -> list[tuple[float, str]]:
    return [(_when(path, c.name, r["dt"], start), str(r["val"])) for r in trk.recs]  # type: ignore[attr-defined]


def condition_item(path: Path, c: Chosen, t: float, text: str) -> Condition:
    """One kapmon condition record (JSON) as a Condition; ``RecordingError`` naming track and time."""
    try:
        d = json.loads(text)
        return Condition(
            t, str(d["condition"]), c.source, bool(d["active"]), tuple(map(str, d.get("vitals", ()))), str(d.get("detail", ""))
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordingError(f"{path}: track {c.name} at {t:g} s: not a device condition ({exc})") from None


def start_time(header_start: float, earliest: float) -> float:
    """The file's time 0: its header's start when that is a time at or before the earliest record (and
    within the longest recording of it), else the earliest record."""
    ok = math.isfinite(header_start) and 0 < header_start <= earliest and earliest - header_start <= MAX_SPAN_S
    return header_start if ok else earliest


def earliest_time(path: Path, trks: dict, chosen: Sequence[Chosen]) -> float:
    times = [r["dt"] for c in chosen for r in trks[c.name].recs]
    bad = next((t for t in times if not math.isfinite(t)), None)
    if bad is not None:
        raise RecordingError(f"{path}: a record's time is {bad}, not a time")
    if not times:
        raise RecordingError(f"{path}: the tracks kapmon knows hold no records")
    return min(times)


def count_readings(trks: dict, chosen: Sequence[Chosen]) -> int:
    return sum(len(r["val"]) if trks[c.name].type == TYPE_WAV else 1 for c in chosen for r in trks[c.name].recs)


def read_vital(path: str | Path, waveforms: bool = True) -> VitalImport:
    """Read a ``.vital`` file as a recording (module docstring); ``waveforms=False`` leaves waveform tracks
    out. ``RecordingError`` with one line saying what is wrong: not installed, not a .vital file, truncated,
    no track kapmon knows, no values, times beyond the longest recording, too big."""
    path = Path(path)
    vitaldb = vitaldb_module()
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    header_start, header_end = check_framing(path)
    every = _load(vitaldb, path, header_only=True).trks
    chosen, skipped = choose_tracks(every, waveforms)
    vitals = [c for c in chosen if c.vital in VITALS]
    if not vitals:
        raise RecordingError(
            f"{path}: no track kapmon knows (it has {', '.join(sorted(every)) or 'none'}; "
            f"kapmon reads {', '.join(NUMERIC_TRACKS)} and the {', '.join(WAVE_TRACKS)} waveform)"
        )
    trks = _load(vitaldb, path, track_names=[c.name for c in chosen]).trks
    chosen = [c for c in chosen if c.name in trks]
    if (n := count_readings(trks, chosen)) > MAX_READINGS:
        raise RecordingError(
            f"{path}: {n:,} readings (waveform samples included), more than kapmon imports at once "
            f"({MAX_READINGS:,}): leave the waveform out (kapmon import --no-waveform)"
        )
    start = start_time(header_start, earliest_time(path, trks, chosen))
    items: list[Item] = []
    notes: list[str] = []
    texts: dict[str, list[tuple[float, str]]] = {}
    doubted: set[tuple[str, float, str]] = set()
    for c in chosen:
        trk = trks[c.name]
        if c.vital in WAVE_TRACKS.values():
            items += wave_readings(path, c, trk, start)
        elif c.vital in VITALS:
            items += numeric_readings(path, c, trk, start, notes)
        elif c.vital == CONDITION_TRACK:
            items += [condition_item(path, c, t, s) for t, s in string_records(c, trk, start, path)]
        elif c.vital == QUESTIONABLE_TRACK:
            doubted |= {(c.source, t, s) for t, s in string_records(c, trk, start, path)}
        else:
            texts.setdefault(c.vital, []).extend(string_records(c, trk, start, path))
    items = [questionable(i) if isinstance(i, Reading) and (i.source, i.t, i.vital) in doubted else i for i in items]
    if not any(isinstance(i, Reading) and i.value is not None for i in items):
        raise RecordingError(
            f"{path}: no values: every record of {', '.join(c.name for c in vitals)} is NaN, infinite or impossible"
        )
    items.sort(key=lambda i: i.t)
    meta = metadata(path, texts, start, header_end)
    return VitalImport(Recording(path, meta, items), skipped, notes)


def metadata(path: Path, texts: dict[str, list[tuple[float, str]]], start: float, header_end: float) -> dict:
    """The recording's sidecar: kapmon's own (from its SIDECAR track) or one made for the file, with its
    EVENT texts as notes; either way started and duration are the file's."""
    sidecar = texts.get(SIDECAR_TRACK)
    if sidecar:
        try:
            meta = json.loads(sidecar[0][1])
        except ValueError as exc:
            raise RecordingError(f"{path}: track {KAPMON_DEVICE}/{SIDECAR_TRACK}: not JSON ({exc})") from None
        meta = validate_metadata(meta, f"{path} ({KAPMON_DEVICE}/{SIDECAR_TRACK})")
    else:
        meta = {
            "format": FORMAT,
            "description": f"VitalDB file {path.name}",
            "events": [{"t": t, "kind": "note", "text": s} for t, s in texts.get(EVENT_TRACK, []) if s.strip()],
        }
    meta["started"] = iso(start)
    end = header_end - start if math.isfinite(header_end) else math.nan
    if 0 <= end <= MAX_SPAN_S:
        meta["duration_s"] = end
    else:
        meta.pop("duration_s", None)
    return validate_metadata(meta, f"{path} (sidecar)")


# --------------------------------------------------------------------------------------------- writing


def device_name(source: str) -> str:
    """A source as a .vital device name (no slash: the package splits names at it)."""
    return source.replace("/", "_").strip() or "kapmon"


def wave_records(readings: Sequence[Reading]) -> tuple[float, list[dict]]:
    """Pleth readings as .vital records at one rate (from the median step): a new record starts at a
    no-value sample or where a sample is more than half a sample off its record's grid."""
    times = [r.t for r in readings if r.value is not None]
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    rate = float(np.float32(round(1.0 / statistics.median(steps), 3))) if steps else 1.0
    recs: list[dict] = []
    first = 0.0
    values: list[float] = []
    for r in readings:
        if r.value is not None and values and abs(r.t - (first + len(values) / rate)) <= 0.5 / rate:
            values.append(r.value)
            continue
        if values:
            recs.append({"dt": first, "val": np.asarray(values, dtype=np.float32)})
        first, values = r.t, ([] if r.value is None else [r.value])
    if values:
        recs.append({"dt": first, "val": np.asarray(values, dtype=np.float32)})
    return rate, recs


def event_words(metadata: dict, start: float) -> list[dict]:
    """Doses, charted observations and notes in words, for the EVENT track."""
    out = [
        {"dt": start + d["t"], "val": f"{d['drug']} {d['mg']:g} mg {d['route']}" + (f" lot {d['lot']}" if d.get("lot") else "")}
        for d in metadata.get("doses") or ()
    ]
    out += [
        {"dt": start + o["t"], "val": SCALES[o["scale"]].level_text(o["level"]) + (f" by {o['who']}" if o.get("who") else "")}
        for o in metadata.get("observations") or ()
    ]
    out += [{"dt": start + e["t"], "val": f"{e['kind']}: {e['text']}"} for e in metadata.get("events") or ()]
    return sorted(out, key=lambda r: r["dt"])


def write_vital(path: str | Path, items: Iterable[Item], metadata: dict, start: float, end: float) -> Path:
    """Write ``items`` (epoch times) as a ``.vital`` file with session start ``start`` and end ``end`` and
    the recording sidecar ``metadata`` (module docstring). ``RecordingError`` if it cannot."""
    vitaldb = vitaldb_module()
    path = Path(path)
    numeric: dict[tuple[str, str], list[dict]] = {}
    waves: dict[str, list[Reading]] = {}
    strings: dict[str, list[dict]] = {}
    for i in expand(items):
        src = device_name(i.source)
        if isinstance(i, Condition):
            strings.setdefault(f"{src}/{CONDITION_TRACK}", []).append(
                {
                    "dt": i.t,
                    "val": json.dumps(
                        {"condition": i.condition, "active": i.active, "vitals": list(i.vitals), "detail": i.detail}
                    ),
                }
            )
        elif i.vital == "pleth":
            waves.setdefault(src, []).append(i)
        else:
            numeric.setdefault((src, i.vital), []).append({"dt": i.t, "val": math.nan if i.value is None else i.value})
            if not i.has_value and i.value is not None:
                strings.setdefault(f"{src}/{QUESTIONABLE_TRACK}", []).append({"dt": i.t, "val": i.vital})
    vf = vitaldb.VitalFile()
    vf.dtstart, vf.dtend = start, max(start, end)
    for (src, vital), recs in numeric.items():
        vf.add_track(f"{src}/{EXPORT_NAMES[vital]}", recs, unit=VITALS[vital].unit).fmt = 2  # doubles: same numbers back
    for src, readings in waves.items():
        rate, recs = wave_records(readings)
        if recs:
            vf.add_track(f"{src}/{EXPORT_NAMES['pleth']}", recs, srate=rate, unit=VITALS["pleth"].unit)
    for name, recs in strings.items():
        vf.add_track(name, recs)
    vf.add_track(EVENT_TRACK, event_words(metadata, start))
    vf.add_track(f"{KAPMON_DEVICE}/{SIDECAR_TRACK}", [{"dt": start, "val": json.dumps(metadata, allow_nan=False)}])
    try:
        written = vf.to_vital(str(path))
    except OSError as exc:
        raise RecordingError(f"{path}: cannot write: {exc.strerror or exc}") from None
    if written is False:
        raise RecordingError(f"{path}: vitaldb could not write it")
    return path
