"""Parquet export: the same rows as the long CSV (``t`` in seconds from session start) and the sidecar as
JSON in the file's key-value metadata under ``kapmon``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from devices.reading import Condition, Item, Reading
from monitor.analysis.summary import load_record
from monitor.exports.contents import session_items, sidecar
from monitor.session.store import Store

PARQUET_SCHEMA = pa.schema(
    [
        ("t", pa.float64()),
        ("vital", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("source", pa.string()),
        ("status", pa.string()),
        ("vitals", pa.string()),
        ("detail", pa.string()),
    ]
)


def parquet_table(items: Iterable[Item], start: float, meta: dict) -> pa.Table:
    """The long-form rows as an Arrow table (``t`` in seconds from ``start``), sidecar in the metadata."""
    cols: dict[str, list] = {name: [] for name in PARQUET_SCHEMA.names}
    for i in items:
        if isinstance(i, Reading):
            row = (i.t - start, i.vital, i.value, i.unit, i.source, i.status, "", "")
        else:
            row = (
                i.t - start,
                f"condition:{i.condition}",
                1.0 if i.active else 0.0,
                "",
                i.source,
                "",
                " ".join(i.vitals),
                i.detail,
            )
        for name, cell in zip(PARQUET_SCHEMA.names, row):
            cols[name].append(cell)
    schema = PARQUET_SCHEMA.with_metadata({"kapmon": json.dumps(meta)})
    return pa.table(cols, schema=schema)


def write_parquet(store: Store, session_id: str, path: Path) -> Path:
    record = load_record(store, session_id, vitals=())
    items = session_items(store, session_id)
    table = parquet_table(items, record.session.started, sidecar(record, items))
    pq.write_table(table, path, compression="zstd")
    return path


def read_parquet(path: str | Path) -> tuple[list[Item], dict]:
    """Items (t from session start) and sidecar of a Parquet export."""
    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(b"kapmon", b"{}"))
    items: list[Item] = []
    for t, vital, value, unit, source, status, vitals, detail in zip(
        *(table.column(n).to_pylist() for n in PARQUET_SCHEMA.names)
    ):
        if vital.startswith("condition:"):
            items.append(Condition(t, vital.removeprefix("condition:"), source, value == 1.0, tuple(vitals.split()), detail))
        else:
            items.append(Reading(t, vital, value, unit, source, status))
    return items, meta
