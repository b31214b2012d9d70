"""The long-form CSV and Parquet exports as they were built before they read the store's tables directly: one
Python object per reading, formatted row by row. Kept here only as the reference the streamed exports must
equal byte for byte (``test_export_streamed.py``) and as the former path in ``benchmarks/bench_export.py``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from devices.io.recording import LONG, write_recording
from devices.reading import Item, Reading
from monitor.analysis.summary import load_record
from monitor.exports.contents import session_items, sidecar
from monitor.exports.long_form import LONG_SCHEMA
from monitor.session.store import Store


def parquet_table(items: Iterable[Item], start: float, meta: dict) -> pa.Table:
    cols: dict[str, list] = {name: [] for name in LONG_SCHEMA.names}
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
        for name, cell in zip(LONG_SCHEMA.names, row):
            cols[name].append(cell)
    return pa.table(cols, schema=LONG_SCHEMA.with_metadata({"kapmon": json.dumps(meta)}))


def write_parquet(store: Store, session_id: str, path: Path) -> Path:
    record = load_record(store, session_id, vitals=())
    items = session_items(store, session_id)
    table = parquet_table(items, record.session.started, sidecar(record, items[-1].t if items else None))
    pq.write_table(table, path, compression="zstd")
    return path


def write_csv(store: Store, session_id: str, path: Path) -> Path:
    record = load_record(store, session_id, vitals=())
    items = session_items(store, session_id)
    meta = sidecar(record, items[-1].t if items else None)
    return write_recording(path, items, meta, LONG, start=record.session.started)
