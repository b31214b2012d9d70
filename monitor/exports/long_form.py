"""The long-form rows of one session straight from the store as Arrow record batches: every reading (pleth
included) and device condition in time order (at one time readings first, each kind in row order), ``t`` in
seconds from session start. What the long CSV and the Parquet export write; a bounded number of rows at a
time, so the memory an export needs does not grow with the session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from devices.io.recording import CONDITION_PREFIX
from monitor.analysis.record_view import is_ended
from monitor.analysis.summary import load_record
from monitor.exports.contents import sidecar
from monitor.session.store import Store

ROWS_PER_BATCH = 100_000  # about 8 MB of Arrow columns per batch for the pleth rows
# Up to this many distinct (vital, unit, source, status) a session's readings are read as an index into them (no
# text made per row); a store with more (not written by a recorder) is read text and all.
MAX_KINDS = 100
LONG_SCHEMA = pa.schema(
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


@dataclass(frozen=True)
class LongForm:
    """What a long-form export of one session writes: its sidecar, whether any condition carries the ``vitals``
    and ``detail`` columns, and its rows (``batches()``, read from the store as they are asked for)."""

    store: Store
    session_id: str
    start: float
    meta: dict
    conditions: pa.Table
    has_condition_extras: bool
    kinds: list[tuple[str, str, str, str]] | None

    def batches(self, size: int = ROWS_PER_BATCH) -> Iterator[pa.RecordBatch]:
        """The rows in time order, ``size`` readings (and the conditions among them) per batch. Read inside
        ``Store.snapshot`` with the ``long_form`` call, so that rows and sidecar describe the same moment."""
        pending = self.conditions
        kinds = (
            None
            if self.kinds is None
            else pa.RecordBatch.from_arrays(
                [pa.array(column, pa.string()) for column in zip(*self.kinds)],
                names=["vital", "unit", "source", "status"],
            )
        )
        for rows in self.store.readings_by_time(self.session_id, size, self.kinds):
            batch = reading_batch(rows, self.start, kinds)
            last = batch.column(0)[-1].as_py()
            due = int(np.searchsorted(pending.column("t").to_numpy(), last, side="left"))  # at ``last`` itself: after
            yield merge(batch, pending.slice(0, due))  # the readings at ``last`` that may follow in the next batch
            pending = pending.slice(due)
        if pending.num_rows:
            yield from pending.to_batches()


def long_form(store: Store, session_id: str) -> LongForm:
    """The long form of a stored session (``SessionNotFound`` when there is none)."""
    record = load_record(store, session_id, vitals=())
    start = record.session.started
    events = sorted(store.events(session_id, kind="condition"), key=lambda e: e.t)
    rows = [
        (
            e.t - start,
            f"{CONDITION_PREFIX}{e.data['condition']}",
            1.0 if bool(e.data.get("active", True)) else 0.0,
            "",
            e.data.get("source", ""),
            "",
            " ".join(tuple(e.data.get("vitals", ()))),
            e.data.get("detail", ""),
        )
        for e in events
    ]
    conditions = pa.Table.from_pylist([dict(zip(LONG_SCHEMA.names, row)) for row in rows], schema=LONG_SCHEMA)
    kinds = store.reading_kinds(session_id)
    times = (
        [] if is_ended(record) else [t for t in [store.last_reading_time(session_id)] + [e.t for e in events] if t is not None]
    )
    meta = sidecar(record, max(times) if times else None)
    has_extras = any(row[6] or row[7] for row in rows)
    return LongForm(store, session_id, start, meta, conditions, has_extras, kinds if 0 < len(kinds) <= MAX_KINDS else None)


def reading_batch(rows: list[tuple], start: float, kinds: pa.RecordBatch | None) -> pa.RecordBatch:
    """Stored reading rows as a long-form batch, ``t`` from ``start``: ``(t, value, k)`` with the text columns
    the ``k``-th row of ``kinds``, or without ``kinds`` ``(t, value, vital, unit, source, status)``."""
    if kinds is not None:
        numbers = np.array(rows, dtype=np.float64)  # a null value is NaN here (SQLite stores no NaN)
        text = kinds.take(numbers[:, 2].astype(np.int32)).columns
    else:
        numbers = np.array([row[:2] for row in rows], dtype=np.float64)
        text = [pa.array(column, pa.string()) for column in list(zip(*rows))[2:]]
    value = np.ascontiguousarray(numbers[:, 1])
    blank = pa.nulls(len(rows), pa.string()).fill_null("")
    columns = [pa.array(numbers[:, 0] - start), text[0], pa.array(value, mask=np.isnan(value)), *text[1:], blank, blank]
    return pa.RecordBatch.from_arrays(columns, schema=LONG_SCHEMA)


def merge(readings: pa.RecordBatch, conditions: pa.Table) -> pa.RecordBatch:
    """Time-ordered ``readings`` with time-ordered ``conditions`` put among them, after the readings of their time."""
    if not conditions.num_rows:
        return readings
    both = pa.Table.from_batches([readings]).select(LONG_SCHEMA.names)
    both = pa.concat_tables([both, conditions.cast(LONG_SCHEMA)])
    order = np.argsort(both.column("t").to_numpy(), kind="stable")
    return both.take(pa.array(order)).combine_chunks().to_batches()[0]
