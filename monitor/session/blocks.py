"""Waveform blocks: how the store keeps a waveform's samples (``devices.vocabulary.WAVEFORMS``).

One row holds a run of samples of one session, vital, unit and source, spanning less than about a second
(``MAX_BLOCK_S``): their values as a typed array and their times as a start ``t0`` and a rate (sample ``i``
at ``t0 + i / rate_hz``) or, when the samples are not exactly on such a grid, as an array of times. Sample
``i`` of a block is the reading whose id is the block's ``id + i``: readings and waveform samples share one
sequence of ids, so a cursor over the session's readings reads both. Nothing is rounded: values are kept
as small integers with a count of decimals when every value is one exactly (a device's 7- or 16-bit samples,
a value given to 0.1), else as float32 when float32 holds every one exactly, else as float64; times likewise
(on the grid; or off it by at most 127 steps of the float64 resolution at ``t0``, one byte a sample; or
float32 offsets from ``t0`` when exact; else float64). A sample without a value is NaN in a float array and read
back as a no-value reading, never as a number.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any

import numpy as np

from devices.reading import Samples
from devices.vocabulary import NO_VALUE

MAX_BLOCK_S = 1.0  # design proposal: a block spans less than a second (75 samples of a 75 Hz pleth)
MAX_BLOCK_N = 1024  # design proposal: and holds at most this many samples (a second of a 1 kHz ECG), so the
# block holding a given id starts at most this many ids before it: a read after a cursor stays an index range
MAX_DECIMALS = 3  # values with more decimals than this are kept as floats
F4, F8 = np.dtype("<f4"), np.dtype("<f8")
I1 = np.dtype("i1")
INTS: dict[int, np.dtype] = {2: np.dtype("<i2"), 4: np.dtype("<i4")}  # bytes a sample -> integers (with decimals)
FLOATS: dict[int, np.dtype] = {4: F4, 8: F8}

BLOCKS_TABLE = f"""CREATE TABLE IF NOT EXISTS waveform_blocks (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    vital TEXT NOT NULL,
    unit TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    t0 REAL NOT NULL,
    rate_hz REAL NOT NULL,
    n INTEGER NOT NULL CHECK (n BETWEEN 1 AND {MAX_BLOCK_N}),
    no_value INTEGER NOT NULL CHECK (no_value BETWEEN 0 AND n),
    decimals INTEGER CHECK (decimals IS NULL OR (no_value = 0 AND length(samples) IN (2 * n, 4 * n))),
    samples BLOB NOT NULL CHECK (length(samples) IN (2 * n, 4 * n, 8 * n)),
    times BLOB CHECK (times IS NULL OR length(times) IN (n, 4 * n, 8 * n)),
    lo REAL,
    hi REAL,
    CHECK ((lo IS NULL) = (no_value = n) AND (hi IS NULL) = (lo IS NULL) AND (lo IS NULL OR lo <= hi))
)"""
BLOCKS_INDEX = "CREATE INDEX IF NOT EXISTS waveform_blocks_by_vital ON waveform_blocks(session_id, vital, id)"
BLOCKS_BY_TIME = "CREATE INDEX IF NOT EXISTS waveform_blocks_by_time ON waveform_blocks(session_id, vital, t0)"
COLUMNS_V2 = "id, session_id, vital, unit, source, status, t0, rate_hz, n, no_value, decimals, samples, times"
COLUMNS = f"{COLUMNS_V2}, lo, hi"
INSERT = f"INSERT INTO waveform_blocks ({COLUMNS}) VALUES ({','.join('?' * 15)})"
OUTLINE = "t0, rate_hz, n, lo, hi, no_value"  # what a block's outline needs: no samples

Row = tuple[int, str, float, str, "float | None", str, str, str]  # (id, session_id, t, vital, value, unit, source, status)
Encoded = tuple[int, "int | None", bytes, "float | None", "float | None"]  # (no_value, decimals, samples, lo, hi)


@dataclass(frozen=True, slots=True)
class Block:
    """One stored block (the columns of ``waveform_blocks``, in order)."""

    id: int  # the reading id of sample 0; sample i is reading id + i
    session_id: str
    vital: str
    unit: str
    source: str
    status: str  # the status of its samples that have a value (ok or questionable)
    t0: float
    rate_hz: float  # samples a second (0 for a single sample)
    n: int
    no_value: int  # how many of its samples have no value (NaN in ``samples``)
    decimals: int | None  # None: ``samples`` are floats; else integers, each the value times 10**decimals
    samples: bytes  # little-endian int16 or int32 with decimals, else float32 or float64 (the length tells which)
    times: bytes | None  # None: on the grid t0 + i / rate_hz; int8: steps of spacing(t0) off it; float32: t - t0; float64: t
    lo: float | None  # the lowest and highest of its values (None when no sample has one): a window too wide
    hi: float | None  # to draw every sample is drawn from these, without reading the samples

    def row(self) -> tuple:
        """The block's columns, in ``COLUMNS`` order."""
        return _COLUMNS_OF(self)

    def last_id(self) -> int:
        return self.id + self.n - 1

    def t(self) -> np.ndarray:
        """The time of every sample (float64)."""
        if self.times is None or len(self.times) == self.n:
            grid = _grid(self.t0, self.n, self.rate_hz)
            return grid if self.times is None else grid + np.frombuffer(self.times, I1) * np.spacing(self.t0)
        if len(self.times) == 4 * self.n:
            return self.t0 + np.frombuffer(self.times, F4).astype(F8)
        return np.frombuffer(self.times, F8)

    def values(self) -> list[float | None]:
        """The value of every sample, ``None`` for a sample without one."""
        width = len(self.samples) // self.n
        if self.decimals is not None:
            ints = np.frombuffer(self.samples, INTS[width]).astype(F8)
            return (ints / 10**self.decimals if self.decimals else ints).tolist()
        return [None if math.isnan(v) else v for v in np.frombuffer(self.samples, FLOATS[width]).astype(F8).tolist()]

    def rows(self) -> Iterator[tuple[int, float, float | None, str]]:
        """``(id, t, value, status)`` of every sample."""
        for i, (t, v) in enumerate(zip(self.t().tolist(), self.values(), strict=True)):
            yield self.id + i, t, v, NO_VALUE if v is None else self.status


_COLUMNS_OF = attrgetter(*COLUMNS.split(", "))


def _exact(values: np.ndarray) -> tuple[int | None, bytes]:
    """``(decimals, samples)`` keeping ``values`` exactly in the fewest bytes (see the module's docstring)."""
    if not np.isnan(values).any():
        for decimals in range(MAX_DECIMALS + 1):
            ints = np.round(values * 10**decimals)
            largest = np.abs(ints).max()
            if largest < 2**31 and ((ints / 10**decimals if decimals else ints) == values).all():
                return decimals, ints.astype(INTS[2] if largest < 2**15 else INTS[4]).tobytes()
    small = values.astype(F4)
    return None, small.tobytes() if np.array_equal(small.astype(F8), values, equal_nan=True) else values.tobytes()


def _grid(t0: float, n: int, rate_hz: float) -> np.ndarray:
    return t0 + np.arange(n) / rate_hz if n > 1 else np.array([t0])


def _times(t: np.ndarray, rate_hz: float | None = None) -> tuple[float, bytes | None]:
    """``(rate_hz, times)`` for samples at times ``t`` (at ``rate_hz`` when known, else at the rate their span
    gives), in the fewest bytes that give every time exactly."""
    n = len(t)
    if n == 1:
        return 0.0, None
    span = float(t[-1] - t[0])
    rate = rate_hz if rate_hz is not None else round((n - 1) / span, 3) if span > 0 else 0.0
    if rate > 0:
        grid, step = _grid(t[0], n, rate), np.spacing(t[0])
        steps = np.round((t - grid) / step)
        if np.abs(steps).max() <= 127 and np.array_equal(grid + steps * step, t):
            return rate, steps.astype(I1).tobytes() if steps.any() else None
    offsets = (t - t[0]).astype(F4)
    exact = np.array_equal(t[0] + offsets.astype(F8), t)
    return rate, offsets.tobytes() if exact else t.astype(F8).tobytes()


def _block(first: Row, status: str, t0: float, rate: float, times: bytes | None, values: np.ndarray) -> Block:
    """The block of ``values`` (NaN: no value) whose first sample is ``first``, the others at ``rate`` or ``times``."""
    no_value = int(np.isnan(values).sum())
    return Block(*_block_row(first, status, t0, rate, times, len(values), (no_value, *_exact(values), *extremes(values))))


def _block_row(first: Row, status: str, t0: float, rate: float, times: bytes | None, n: int, encoded: Encoded) -> tuple:
    """The columns (``COLUMNS`` order) of the block of ``n`` samples ``encoded`` (see ``_encoded_rows``) whose first
    sample is ``first``."""
    no_value, decimals, samples, lo, hi = encoded
    ident, session_id, _, vital, _, unit, source, _ = first
    valued = status if no_value < n else NO_VALUE
    return ident, session_id, vital, unit, source, valued, t0, rate, n, no_value, decimals, samples, times, lo, hi


def arrays(found: Sequence[Block]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, v, starts)``: the time and value (NaN: no value) of every sample of ``found``, block after block,
    and where each block's samples start; the same numbers ``Block.t`` and ``Block.values`` give, decoded a
    kind of encoding at a time rather than a block at a time (a 4-hour pleth is some 14,000 blocks)."""
    n = np.fromiter((b.n for b in found), np.int64, len(found))
    starts = np.concatenate(([0], np.cumsum(n)[:-1])).astype(np.int64) if len(found) else n
    t, v = np.empty(int(n.sum())), np.empty(int(n.sum()))
    encodings: dict[tuple, list[int]] = {}
    for k, b in enumerate(found):
        encodings.setdefault((b.decimals, len(b.samples) // b.n), []).append(k)
    for (decimals, width), ks in encodings.items():
        raw = np.frombuffer(b"".join(found[k].samples for k in ks), FLOATS[width] if decimals is None else INTS[width])
        values = raw.astype(F8)
        v[_positions(starts, n, ks)] = values / 10**decimals if decimals else values
    on_grid = [k for k, b in enumerate(found) if b.n > 1 and (b.times is None or len(b.times) == b.n)]
    if on_grid:
        where, counts = _positions(starts, n, on_grid), n[on_grid]
        t0s = np.repeat(np.fromiter((found[k].t0 for k in on_grid), F8, len(on_grid)), counts)
        rates = np.repeat(np.fromiter((found[k].rate_hz for k in on_grid), F8, len(on_grid)), counts)
        t[where] = t0s + (where - np.repeat(starts[on_grid], counts)) / rates
        stepped = [k for k in on_grid if found[k].times is not None]  # int8 steps of spacing(t0) off the grid
        if stepped:
            steps = np.frombuffer(b"".join(found[k].times for k in stepped), I1)  # type: ignore[misc]
            spacing = np.repeat(np.spacing(np.fromiter((found[k].t0 for k in stepped), F8, len(stepped))), n[stepped])
            t[_positions(starts, n, stepped)] += steps * spacing
    for k, b in enumerate(found):
        if b.n == 1 or (b.times is not None and len(b.times) != b.n):
            t[starts[k] : starts[k] + b.n] = b.t()
    return t, v, starts


def between(found: Sequence[Block], t_from: float | None, t_to: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``(t, v)`` of the samples of ``found`` (blocks by id) with ``t_from <= t <= t_to`` (None: no bound), in
    time order, id order at one time; ``v`` NaN for a sample without a value."""
    t, v, _ = arrays(found)
    keep = np.ones(len(t), bool)
    if t_from is not None:
        keep &= t >= t_from
    if t_to is not None:
        keep &= t <= t_to
    t, v = t[keep], v[keep]
    if len(t) > 1 and (np.diff(t) < 0).any():  # two sources interleaved, a clock stepping back
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    return t, v


def _positions(starts: np.ndarray, n: np.ndarray, ks: list[int]) -> np.ndarray:
    """The sample positions, in ``arrays``' output, of the blocks numbered ``ks``."""
    counts = n[ks]
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts[ks], counts) + offsets


def block(run: list[Row]) -> Block:
    """The block holding ``run`` (rows of consecutive ids, one session, vital, unit and source)."""
    first = run[0]
    valued = next((r[7] for r in run if r[7] != NO_VALUE), NO_VALUE)
    values = np.array([math.nan if r[4] is None else r[4] for r in run], F8)
    if np.isnan(values).sum() != sum(r[4] is None for r in run):
        raise sqlite3.IntegrityError(f"a {first[3]} sample of {first[6]} is NaN: a missing value is a no-value reading")
    t = np.array([r[2] for r in run], F8)
    rate, times = _times(t)
    return _block(first, valued, float(t[0]), rate, times, values)


def chunk_blocks(first_id: int, session_id: str, chunk: Samples) -> Iterator[Block]:
    """The blocks holding ``chunk``, its first sample reading id ``first_id`` and the others the ids after it: one
    block when it spans less than ``MAX_BLOCK_S`` and holds at most ``MAX_BLOCK_N`` samples, else as many as it
    takes (the first on the chunk's own grid, the others with their times kept exactly as the chunk gives them)."""
    per = _per_block(chunk.rate_hz)
    n = len(chunk)
    t = chunk.times() if n > per else None
    for j in range(0, n, per):
        k = min(per, n - j)
        first: Row = (first_id + j, session_id, 0.0, chunk.vital, None, chunk.unit, chunk.source, chunk.status)
        if t is None or j == 0:
            rate, times, t0 = (chunk.rate_hz if k > 1 else 0.0), None, chunk.t0
        else:
            (rate, times), t0 = _times(t[j : j + k], chunk.rate_hz), float(t[j])
        yield _block(first, chunk.status, t0, rate, times, chunk.values[j : j + k])


def _per_block(rate_hz: float) -> int:
    """How many samples at ``rate_hz`` one block holds at most."""
    return min(MAX_BLOCK_N, math.ceil(MAX_BLOCK_S * rate_hz))


def chunks_rows(session_id: str, placed: Sequence[tuple[int, Samples]]) -> list[tuple]:
    """The rows (``COLUMNS`` order) of the blocks holding every chunk of ``placed`` (``(first reading id, chunk)``),
    in the order given: what ``chunk_blocks`` gives for each, with the chunks that fit one block each encoded
    together, a row of a NumPy array per chunk, rather than one NumPy call after another per chunk (a second of
    75 Hz pleth is one)."""
    found: list[tuple | None] = [None] * len(placed)
    alike: dict[int, list[int]] = {}  # the chunks that fit one block each, by their number of samples
    for k, (_, chunk) in enumerate(placed):
        if len(chunk) <= _per_block(chunk.rate_hz):
            alike.setdefault(len(chunk), []).append(k)
    for n, ks in alike.items():
        values = np.stack([placed[k][1].values for k in ks])
        for k, encoded in zip(ks, _encoded_rows(values), strict=True):
            ident, chunk = placed[k]
            first: Row = (ident, session_id, chunk.t0, chunk.vital, None, chunk.unit, chunk.source, chunk.status)
            found[k] = _block_row(first, chunk.status, chunk.t0, chunk.rate_hz if n > 1 else 0.0, None, n, encoded)
    out: list[tuple] = []
    for k, row in enumerate(found):
        if row is None:
            out += (b.row() for b in chunk_blocks(placed[k][0], session_id, placed[k][1]))
        else:
            out.append(row)
    return out


def _encoded_rows(values: np.ndarray) -> list[Encoded]:
    """``(no_value, decimals, samples, lo, hi)`` of every row of ``values`` (NaN: no value): how many samples have
    no value, the values kept exactly in the fewest bytes (see the module's docstring) and the lowest and highest
    value (None when no sample has one): for each row exactly what ``_exact`` and ``extremes`` give for it alone,
    all rows in one pass (for a flush's many chunks; one block's values go through ``_exact``, cheaper alone)."""
    counts = np.isnan(values).sum(axis=1)
    decimals: list[int | None] = [None] * len(values)
    samples: list[bytes] = [b""] * len(values)
    todo = counts == 0  # rows that may be integers with decimals (a sample without a value needs floats)
    for d in range(MAX_DECIMALS + 1):
        if not todo.any():
            break
        ints = np.round(values * 10**d)
        largest = np.abs(ints).max(axis=1)
        exact = todo & (largest < 2**31) & ((ints / 10**d if d else ints) == values).all(axis=1)
        for width, rows in ((INTS[2], exact & (largest < 2**15)), (INTS[4], exact & (largest >= 2**15))):
            for k, row in zip(np.flatnonzero(rows).tolist(), ints[rows].astype(width), strict=True):
                decimals[k], samples[k] = d, row.tobytes()
        todo &= ~exact
    floats = [k for k, d in enumerate(decimals) if d is None]
    if floats:
        small = values[floats].astype(F4)
        fits = (np.isnan(small) | (small.astype(F8) == values[floats])).all(axis=1).tolist()
        for j, k in enumerate(floats):
            samples[k] = small[j].tobytes() if fits[j] else values[k].tobytes()
    lows, highs = np.fmin.reduce(values, axis=1).tolist(), np.fmax.reduce(values, axis=1).tolist()  # NaN only if all are
    return [
        (n, d, raw, None if lo != lo else lo, None if hi != hi else hi)
        for n, d, raw, lo, hi in zip(counts.tolist(), decimals, samples, lows, highs, strict=True)
    ]


def extremes(values: np.ndarray) -> tuple[float | None, float | None]:
    """The lowest and highest of ``values`` (NaN: no value), ``(None, None)`` when none has one."""
    if np.isnan(values).all():
        return None, None
    return float(np.nanmin(values)), float(np.nanmax(values))


def with_extremes(v2: Sequence[Any]) -> Block:
    """A block of a version 2 store (its ``COLUMNS_V2``) with its lowest and highest value."""
    b = Block(*tuple(v2) + (None, None))
    lo, hi = extremes(arrays([b])[1])
    return replace(b, lo=lo, hi=hi)


def _joins(run: list[Row], row: Row, status: str | None) -> bool:
    """Whether ``row`` continues ``run`` (whose samples with a value have ``status``) in one block."""
    last, first = run[-1], run[0]
    return (
        row[0] == last[0] + 1
        and row[1] == first[1]
        and row[3] == first[3]
        and row[5:7] == first[5:7]
        and (row[7] == NO_VALUE or status is None or row[7] == status)
        and last[2] <= row[2] < first[2] + MAX_BLOCK_S
        and len(run) < MAX_BLOCK_N
    )


def pack(rows: Iterable[Row]) -> Iterator[Block]:
    """The blocks holding ``rows`` (waveform readings in id order), each as long as it can be."""
    run: list[Row] = []
    status: str | None = None
    for row in rows:
        if run and not _joins(run, row, status):
            yield block(run)
            run, status = [], None
        run.append(row)
        if row[7] != NO_VALUE:
            status = row[7]
    if run:
        yield block(run)
