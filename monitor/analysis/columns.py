"""A record's numeric readings as columns: what the summary computes from and the review draws.

A 4-hour session holds tens of thousands of numeric readings; building an object for each costs more than
everything the summary then does with them. The store hands each vital over as arrays (time, value, status
ok, source, row id) and the record builds its reading objects only when something asks for them (a report, an
export). Columns made from reading objects (:func:`table_of`) and columns read from the store
(``Store.numeric_columns``) hold the same readings in the same order, so the summary has one way of computing.
"""

from __future__ import annotations

from collections import UserList
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from devices.vocabulary import OK
from monitor.session.store import StoredReading


@dataclass(frozen=True, slots=True)
class Columns:
    """The readings of one vital in record order: row id, time, value (NaN: no value), status ok, source, and
    ``pos``, each reading's place in the whole record (all vitals) in record order."""

    id: np.ndarray
    t: np.ndarray
    value: np.ndarray
    ok: np.ndarray
    source: np.ndarray
    pos: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def trusted(self) -> np.ndarray:
        """Which readings count: status ok with a value."""
        return self.ok & ~np.isnan(self.value)


EMPTY = Columns(*(np.zeros(0, dtype=d) for d in (np.int64, float, float, bool, object, np.int64)))


@dataclass(frozen=True, slots=True)
class Table:
    """Every numeric reading of a record by vital; ``n`` readings in all."""

    vitals: dict[str, Columns]
    n: int

    def of(self, vital: str) -> Columns:
        return self.vitals.get(vital, EMPTY)

    def times(self) -> np.ndarray:
        """Every reading's time, in record order."""
        t = np.zeros(self.n)
        for c in self.vitals.values():
            t[c.pos] = c.t
        return t


def table_of(readings: Sequence[StoredReading]) -> Table:
    """Reading objects as columns, in the order given."""
    if isinstance(readings, LazyReadings) and readings.table is not None:
        return readings.table
    rows: dict[str, list[tuple]] = {}
    for i, r in enumerate(readings):
        rows.setdefault(r.vital, []).append((r.id, r.t, r.value, r.status == OK, r.source, i))
    return Table({vital: _columns(found) for vital, found in rows.items()}, len(readings))


def _columns(rows: list[tuple]) -> Columns:
    ids, t, value, ok, source, pos = zip(*rows)
    return Columns(
        np.array(ids, dtype=np.int64),
        np.array(t, dtype=float),
        np.array(value, dtype=float),  # None -> NaN
        np.array(ok, dtype=bool),
        np.array(source, dtype=object),
        np.array(pos, dtype=np.int64),
    )


def in_record_order(by_vital: dict[str, Columns]) -> Table:
    """Columns read a vital at a time (each in time order, id order at one time), placed in the record's time
    order across vitals: by time, then by row id."""
    found = {v: c for v, c in by_vital.items() if len(c)}
    if not found:
        return Table({}, 0)
    t = np.concatenate([c.t for c in found.values()])
    ids = np.concatenate([c.id for c in found.values()])
    place = np.empty(len(t), dtype=np.int64)
    place[np.lexsort((ids, t))] = np.arange(len(t))
    out, start = {}, 0
    for vital, c in found.items():
        out[vital] = Columns(c.id, c.t, c.value, c.ok, c.source, place[start : start + len(c)])
        start += len(c)
    return Table(out, len(t))


def without(c: Columns, drop: np.ndarray) -> Columns:
    """The columns without the readings ``drop`` marks (their ``pos`` is set again by :func:`in_record_order`)."""
    keep = ~drop
    return Columns(c.id[keep], c.t[keep], c.value[keep], c.ok[keep], c.source[keep], c.pos[keep])


class LazyReadings(UserList):
    """A record's reading objects, read from the store only when first asked for, beside the columns they were
    read as (``table``). Behaves as the list it stands for."""

    def __init__(
        self, initlist: Iterable[StoredReading] | None = None, load: Callable[[], list] | None = None, table: Table | None = None
    ) -> None:
        self._items: list[StoredReading] | None = None if load is not None else list(initlist or ())
        self._load = load
        self.table = table

    @property
    def data(self) -> list[StoredReading]:
        if self._items is None:
            assert self._load is not None
            self._items = self._load()
        return self._items

    @data.setter
    def data(self, items: list[StoredReading]) -> None:
        self._items = items
