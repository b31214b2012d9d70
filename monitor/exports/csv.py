"""CSV export: the recording format (``devices.io.recording``) with its JSON sidecar, so an export reads
back with ``read_recording`` (and replays with ``replay://``). Long form keeps everything (sources,
no-value statuses, device conditions) and is written batch by batch from the store's rows
(``monitor.exports.long_form``), formatted by Arrow as ``write_recording`` formats them; wide form keeps
values and no-value cells only."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from devices.io.recording import LONG, WIDE, number_text, write_recording, write_sidecar
from devices.reading import Reading
from monitor.analysis.summary import load_record
from monitor.exports.contents import ExportError, session_items, sidecar
from monitor.exports.long_form import LONG_SCHEMA, long_form
from monitor.session.store import Store

LINE_END = "\n"
# Arrow writes the shortest text that reads back as the same float, as ``repr`` does, but switches to an exponent
# at other magnitudes: numbers outside these bounds (and any it writes with an exponent) are formatted one by one.
PLAIN_LOW, PLAIN_HIGH = 1e-4, 1e13


def write_csv(store: Store, session_id: str, path: Path, form: str = LONG) -> Path:
    """The session as a recording (CSV + ``.json`` sidecar) in long or wide form."""
    if form not in (LONG, WIDE):
        raise ExportError(f"CSV form must be {LONG} or {WIDE}, not {form!r}")
    if form == LONG:
        return write_long_csv(store, session_id, path)
    record = load_record(store, session_id, vitals=())
    items = session_items(store, session_id)
    meta = sidecar(record, items[-1].t if items else None)
    readings = [i for i in items if isinstance(i, Reading)]
    return write_recording(path, readings, meta, form, start=record.session.started)


def write_long_csv(store: Store, session_id: str, path: Path) -> Path:
    """The long-form recording, byte for byte what ``write_recording`` writes for the same rows."""
    with store.snapshot(), path.open("wb") as out:
        rows = long_form(store, session_id)
        names = LONG_SCHEMA.names if rows.has_condition_extras else LONG_SCHEMA.names[:6]
        out.write(csv_text([names]).encode())
        for batch in rows.batches():
            out.write(csv_lines(batch, len(names)))
    write_sidecar(path, rows.meta)
    return path


def csv_text(rows: list[list[str]]) -> str:
    """Rows as the csv module writes them (the header; the rule for which fields are quoted)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator=LINE_END).writerows(rows)
    return buf.getvalue()


def csv_lines(batch: pa.RecordBatch, width: int) -> memoryview:
    """The first ``width`` long-form columns of ``batch`` as UTF-8 CSV lines."""
    cells = [
        number_cells(batch.column(0)),
        quoted(batch.column(1)),
        number_cells(batch.column(2)).fill_null(""),
        *(quoted(batch.column(k)) for k in range(3, width)),
    ]
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*cells, ","), LINE_END, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def number_cells(values: pa.Array) -> pa.Array:
    """Each number as ``number_text`` writes it (whole numbers without a decimal point); nulls stay null."""
    x = values.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(x) & (x == np.trunc(x)) & (np.abs(x) < 1e15)
        plain = np.isfinite(x) & (np.abs(x) >= PLAIN_LOW) & (np.abs(x) < PLAIN_HIGH)
    text = pc.if_else(whole, pc.cast(pa.array(np.where(whole, x, 0).astype(np.int64)), pa.string()), pc.cast(values, pa.string()))
    exponent = np.asarray(pc.fill_null(pc.match_substring(text, "e"), False))
    odd = ~whole & ~np.isnan(x) & (~plain | exponent)  # a null is NaN here and stays null
    if not odd.any():
        return text
    cells = text.to_pylist()
    for k in np.flatnonzero(odd):
        cells[k] = number_text(float(x[k]))
    return pa.array(cells, pa.string())


def quoted(cells: pa.Array) -> pa.Array:
    """Text cells, those the csv module would quote in quotes (inner quotes doubled)."""
    needs = pc.match_substring_regex(cells, QUOTED_CHARS)
    if not pc.any(needs).as_py():
        return cells
    return pc.if_else(needs, pc.binary_join_element_wise('"', pc.replace_substring(cells, '"', '""'), '"', ""), cells)


def quoted_chars() -> str:
    """A regex class of the characters that make the csv module quote a field (its rule differs between
    Python versions, e.g. for a carriage return)."""
    chars = [c for c in ',"\n\r' if csv_text([["a" + c]]) != "a" + c + LINE_END]
    return "[" + "".join({"\n": "\\n", "\r": "\\r"}.get(c, c) for c in chars) + "]"


QUOTED_CHARS = quoted_chars()
