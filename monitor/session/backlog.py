"""What the recorder could not store yet: held in memory and written, oldest first, as soon as the store
accepts writes again (a full disk, a write lock held by another process, a read-only remount).

Bounded: waveform samples go first. When more than ``max_waveform`` samples wait, the oldest are
dropped (a chunk of samples whole) and the gap is recorded (a ``gap`` event saying which vital, from when to when and how many
samples); numerics are dropped only beyond ``max_numerics``, and their gap is recorded the same way.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devices.reading import Reading, Samples, size
from devices.vocabulary import WAVEFORMS
from monitor.rules.alarm_events import AlarmEvent
from monitor.session.store import Store, Written

Event = tuple[float, str, dict, "str | None"]
Held = Reading | Samples
Saved = Callable[[Sequence[Held], Sequence[Event], Written], None]  # told what one write stored


@dataclass
class Gap:
    """Readings of one kind dropped while the store could not be written."""

    vital: str
    start: float
    end: float
    count: int = 0

    def as_event(self) -> Event:
        data = {
            "vital": self.vital,
            "from": self.start,
            "to": self.end,
            "samples": self.count,
            "reason": "not saved: the store could not be written and too much was waiting",
        }
        return (self.start, "gap", data, None)


@dataclass
class Backlog:
    """Readings, session events and alarm transitions waiting to be stored, in the order they came."""

    max_waveform: int = 45_000  # design proposal: 10 min of a 75 Hz plethysmogram
    max_numerics: int = 200_000  # design proposal: about 10 h of five numerics a second
    waveform: deque[Held] = field(default_factory=deque)
    numerics: deque[Reading] = field(default_factory=deque)
    events: list[Event] = field(default_factory=list)
    alarms: list[AlarmEvent] = field(default_factory=list)
    gaps: dict[str, Gap] = field(default_factory=dict)
    failure: str | None = None  # why the last write failed (None: the store is accepting writes)
    failing_since: float | None = None  # when (time.monotonic) the writes began to fail
    busy: bool = False  # every write since then failed only on another writer's lock
    waveform_samples: int = 0  # how many samples ``waveform`` holds (a chunk holds many)

    def __len__(self) -> int:
        return len(self.waveform) + len(self.numerics) + len(self.events) + len(self.alarms)

    def hold(self, readings: Sequence[Held] = (), events: Sequence[Event] = (), alarms: Sequence[AlarmEvent] = ()) -> None:
        """Add what is to be stored (the bounds apply once a write has failed: see :meth:`write`)."""
        for r in readings:
            if r.vital in WAVEFORMS:
                self.waveform.append(r)
                self.waveform_samples += size(r)
            else:
                self.numerics.append(r)  # type: ignore[arg-type]  # only waveforms come as chunks
        self.events += events
        self.alarms += alarms

    def _trim(self, held: deque, bound: int, count: int) -> int:
        """Drop the oldest of ``held`` (``count`` samples) until at most ``bound`` samples are left, noting the
        gaps; returns how many are left."""
        while count > bound:
            r = held.popleft()
            n, end = (len(r), r.end) if isinstance(r, Samples) else (1, r.t)
            gap = self.gaps.setdefault(r.vital, Gap(r.vital, r.t, end))
            gap.start, gap.end, gap.count = min(gap.start, r.t), max(gap.end, end), gap.count + n
            count -= n
        return count

    def write(self, store: Store, session_id: str, saved: Saved | None = None) -> bool:
        """Try to store everything held in one transaction; True when the store took it (and it is gone).
        ``saved`` is told which readings and events were stored, and their last row ids."""
        if not len(self) and not self.gaps:
            return True
        events = self.events + [g.as_event() for g in self.gaps.values()]
        readings = [*self.numerics, *self.waveform]
        try:
            written = store.write(session_id, readings, events, self.alarms)
        except (sqlite3.Error, OSError) as exc:
            self.failure = str(exc) or type(exc).__name__
            if self.failing_since is None:
                self.failing_since, self.busy = time.monotonic(), True
            self.busy = self.busy and lock_wait(exc)
            # beyond the bounds: the oldest waveform first, then numerics, each gap noted
            self.waveform_samples = self._trim(self.waveform, self.max_waveform, self.waveform_samples)
            self._trim(self.numerics, self.max_numerics, len(self.numerics))
            return False
        self.waveform.clear()
        self.waveform_samples = 0
        self.numerics.clear()
        self.events.clear()
        self.alarms.clear()
        self.gaps.clear()
        self.failure, self.failing_since, self.busy = None, None, False
        if saved is not None:
            saved(readings, events, written)
        return True

    def alarming(self, grace_s: float) -> bool:
        """Whether the store's refusal is to be told now: at once for a full disk or any other error, and after
        ``grace_s`` when every write has failed only on another writer's lock (contention that may well pass)."""
        if self.failing_since is None:
            return False
        return not self.busy or time.monotonic() - self.failing_since >= grace_s


def lock_wait(exc: BaseException) -> bool:
    """Whether a write failed because another connection held the store's lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
