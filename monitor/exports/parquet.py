"""Parquet export: the same rows as the long CSV (``t`` in seconds from session start) and the sidecar as
JSON in the file's key-value metadata under ``kapmon``. Written batch by batch from the store
(``monitor.exports.long_form``)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from devices.reading import Condition, Item, Reading
from monitor.exports.long_form import LONG_SCHEMA, long_form
from monitor.session.store import Store


def write_parquet(store: Store, session_id: str, path: Path) -> Path:
    """The session's long-form rows as a Parquet file, its sidecar in the metadata."""
    with store.snapshot():
        rows = long_form(store, session_id)
        with pq.ParquetWriter(path, LONG_SCHEMA.with_metadata({"kapmon": json.dumps(rows.meta)}), compression="zstd") as out:
            for batch in rows.batches():
                out.write_batch(batch)
    return path


def read_parquet(path: str | Path) -> tuple[list[Item], dict]:
    """Items (t from session start) and sidecar of a Parquet export."""
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(b"kapmon", b"{}"))
    items: list[Item] = []
    for t, vital, value, unit, source, status, vitals, detail in zip(*(table.column(n).to_pylist() for n in LONG_SCHEMA.names)):
        if vital.startswith("condition:"):
            items.append(Condition(t, vital.removeprefix("condition:"), source, value == 1.0, tuple(vitals.split()), detail))
        else:
            items.append(Reading(t, vital, value, unit, source, status))
    return items, meta
