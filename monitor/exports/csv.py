"""CSV export: the recording format (``devices.io.recording``) with its JSON sidecar, so an export reads
back with ``read_recording`` (and replays with ``replay://``). Long form keeps everything (sources,
no-value statuses, device conditions); wide form keeps values and no-value cells only."""

from __future__ import annotations

from pathlib import Path

from devices.io.recording import LONG, WIDE, write_recording
from devices.reading import Reading
from monitor.analysis.summary import load_record
from monitor.exports.contents import ExportError, session_items, sidecar
from monitor.session.store import Store


def write_csv(store: Store, session_id: str, path: Path, form: str = LONG) -> Path:
    """The session as a recording (CSV + ``.json`` sidecar) in long or wide form."""
    if form not in (LONG, WIDE):
        raise ExportError(f"CSV form must be {LONG} or {WIDE}, not {form!r}")
    record = load_record(store, session_id, vitals=())
    items = session_items(store, session_id)
    meta = sidecar(record, items)
    if form == WIDE:
        items = [i for i in items if isinstance(i, Reading)]
    return write_recording(path, items, meta, form, start=record.session.started)
