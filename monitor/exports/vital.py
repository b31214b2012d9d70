"""VitalDB ``.vital`` export: the session's tracks under names VitalDB users know (``devices.io.vital_file``),
its sidecar inside."""

from __future__ import annotations

from pathlib import Path

from devices.io.vital_file import write_vital
from monitor.analysis.summary import load_record
from monitor.exports.contents import session_items, sidecar
from monitor.session.store import Store


def write_vital_file(store: Store, session_id: str, path: Path) -> Path:
    """The session as a VitalDB ``.vital`` file, its sidecar inside."""
    record = load_record(store, session_id, vitals=())
    items = session_items(store, session_id)
    meta = sidecar(record, items[-1].t if items else None)
    return write_vital(path, items, meta, record.session.started, record.session.started + meta["duration_s"])
