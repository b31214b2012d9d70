"""Exports of one recorded session by format name: CSV (long or wide), Parquet, a FHIR R4 Bundle, the
HTML report, a VitalDB ``.vital`` file and the Spravato REMS Patient Monitoring Form (one module each in this
package)."""

from __future__ import annotations

from pathlib import Path

from devices.io.recording import LONG
from monitor.analysis.summary import events_left_out, load_record
from monitor.exports.contents import ExportError, record_problems
from monitor.exports.csv import write_csv
from monitor.exports.fhir import write_fhir
from monitor.exports.parquet import write_parquet
from monitor.exports.rems import write_rems_form
from monitor.exports.report import write_report
from monitor.exports.vital import write_vital_file
from monitor.session.store import Store

FORMATS = ("csv", "parquet", "fhir", "report", "vital", "rems")
SUFFIX = {"csv": ".csv", "parquet": ".parquet", "fhir": ".json", "report": ".html", "vital": ".vital", "rems": ".md"}


def export_problems(store: Store, session_id: str) -> list[str]:
    """What every export of this session shows as invalid or leaves out, one line each (say it once)."""
    return record_problems(load_record(store, session_id, vitals=())) + events_left_out(store, session_id)


def export(store: Store, session_id: str, fmt: str, out: str | Path, *, form: str = LONG, interval_s: float = 0.0) -> Path:
    """Write one export of a session to ``out``; ``ExportError`` or ``SessionNotFound`` on bad input."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    path = Path(out)
    if path.is_dir():
        raise ExportError(f"{path} is a directory; give a file name such as {path / ('session' + SUFFIX[fmt])}")
    if not path.parent.is_dir():
        raise ExportError(f"{path.parent}: no such directory")
    load_record(store, session_id, vitals=())  # SessionNotFound before any file is touched
    try:
        if fmt == "csv":
            return write_csv(store, session_id, path, form)
        if fmt == "parquet":
            return write_parquet(store, session_id, path)
        if fmt == "fhir":
            return write_fhir(store, session_id, path, interval_s)
        if fmt == "vital":
            return write_vital_file(store, session_id, path)
        if fmt == "rems":
            return write_rems_form(store, session_id, path)
        return write_report(store, session_id, path)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
