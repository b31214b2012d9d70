"""The live read model of one running session: what a live page shows, kept by the hub.

The hub updates a :class:`LiveView` in its own thread, after each flush and after each action: the rows it
stored (latest value per vital, cuff times, doses, entries, discharge, cursors) and the state of its rules
(active alarms grouped as the page shows them, the dosing decision, the plan, audio pause, the repeat NIBP,
what discharge readiness needs) and the latest charted level of each observation scale. Each update is
published as one immutable :class:`LiveSnapshot`, swapped under a lock: a page reads it without waiting on the
hub and never sees half an update. A page reads the snapshot and only the stored rows after its own cursor, up
to the snapshot's.

Pages are also told when a snapshot brings news (:func:`news`: a numeric, an event, an alarm, the dosing
decision, the audio pause, a repeat NIBP, a recording failure): the view counts such snapshots
(:attr:`LiveView.news_count`) and sets the event of each caller :meth:`LiveView.watching` it. Nothing queues:
a caller that reads late just sees the latest count, and the hub never waits for a caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType

from devices.reading import Reading, Samples, size
from devices.vocabulary import WAVEFORMS
from monitor.rules.alarm_groups import ActiveAlarm, AlarmGroup, group_alarms
from monitor.rules.alarms import AlarmEngine, RepeatNibp
from monitor.rules.baseline import Baseline
from monitor.rules.discharge import Readiness, readiness
from monitor.rules.dosing import Decision
from monitor.rules.observations import status
from monitor.rules.plan import Plan
from monitor.rules.protocol import ObservationRule
from monitor.session.dose_rows import dose_rows
from monitor.session.model import Observation, Session
from monitor.session.store import (
    CORRECTABLE,
    CORRECTION,
    Store,
    StoredEvent,
    StoredReading,
    Written,
    corrects,
    observations_of,
)

ENTRY_KINDS = tuple(CORRECTABLE)  # entries a nurse can mark entered in error
RECENT_ENTRIES = 8  # entries the page lists (newest first); older ones are in the review
CUFF = "sbp"  # the vital whose stored times are the session's NIBP measurements
DISCHARGE_VITALS = ("sbp", "dbp", "spo2")  # the trusted values discharge readiness compares


def recent_entries(entries: Iterable[StoredEvent], corrected: Iterable[int], limit: int = RECENT_ENTRIES) -> list[StoredEvent]:
    """The newest ``limit`` doses, notes and hand-taken BPs not marked entered in error (or undone), newest first."""
    wrong = set(corrected)
    kept = [e for e in entries if e.kind in ENTRY_KINDS and e.id not in wrong]
    return sorted(kept, key=lambda e: e.id, reverse=True)[:limit]


def first_dose_time(doses: Iterable[StoredEvent], corrected: Iterable[int]) -> float | None:
    """When the first countable dose was given (as ``Store.doses`` counts them), or None."""
    wrong = set(corrected)
    counted = [d for d in (row.dose() for row in dose_rows(e for e in doses if e.id not in wrong)) if d is not None]
    return counted[0].t if counted else None


def latest_observations(events: Iterable[StoredEvent], corrected: Iterable[int]) -> dict[str, Observation]:
    """The latest charted level of each scale, leaving out those marked entered in error (and invalid rows)."""
    wrong = set(corrected)
    return {o.scale: o for o in observations_of(e for e in events if e.id not in wrong)}


@dataclass(frozen=True, slots=True)
class Chart:
    """Where one scale the protocol charts stands: its rule, its latest charting (None: not yet) and whether it
    is not due, due or overdue (``monitor.rules.observations.status``)."""

    rule: ObservationRule
    last: Observation | None
    status: str


def charts(
    rules: Sequence[ObservationRule], latest: Mapping[str, Observation], first_dose: float | None, now: float
) -> tuple[Chart, ...]:
    """Each scale of ``rules`` in the protocol's order, with its state at session time ``now``; overdue only
    once the session has charted any observation, as the alarm engine raises it."""
    charting = bool(latest)
    return tuple(
        Chart(r, last := latest.get(r.scale), status(r, first_dose, last.t if last else None, now, charting)) for r in rules
    )


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """What a live page shows of a running session at one moment; never changed once published."""

    session: Session
    version: int  # counts the updates published
    reading_id: int  # cursor: the last stored reading of the session the rules have judged
    event_id: int  # cursor: the last stored event of the session seen here
    flushed: float  # wall clock of the hub's last flush: its heartbeat
    at: float  # session time of the update
    latest: Mapping[str, StoredReading]  # the newest stored reading of each numeric vital
    alarms: tuple[ActiveAlarm, ...]  # active alarms, highest priority first
    groups: tuple[AlarmGroup, ...]  # the same alarms as the page's cards
    decision: Decision
    plan: Plan
    sound: str | None  # the priority the audio sounds at once any pause is over
    sound_paused: str | None  # the priority it sounds at while paused
    paused_until: float | None  # session time the audio pause ends
    repeat_nibp: RepeatNibp | None
    rules_first_dose: float | None  # the first dose the rules have taken
    last_dose_end: float | None
    baseline: Baseline | None
    trusted: Mapping[str, float | None]  # newest trusted value of each of DISCHARGE_VITALS
    nibp: tuple[float, ...]  # times of the stored cuff measurements with a value
    first_dose: float | None  # the first recorded (countable) dose
    entries: tuple[StoredEvent, ...]  # recent entries that can be marked entered in error, newest first
    discharged: StoredEvent | None
    recording_failed: str | None  # why the store refuses writes (None: it accepts them)
    observations: Mapping[str, Observation] = field(default_factory=lambda: MappingProxyType({}))  # latest of each scale

    def charts(self, now: float) -> tuple[Chart, ...]:
        """Each scale the protocol charts, with its latest level and whether it is due, at session time ``now``."""
        return charts(self.plan.protocol.observations, self.observations, self.rules_first_dose, now)

    def audio_priority(self, now: float) -> str | None:
        """The priority the audio sounds at, at session time ``now``."""
        paused = self.paused_until is not None and now < self.paused_until
        return self.sound_paused if paused else self.sound

    def observation_left(self, now: float) -> float:
        """Seconds of the plan's minimum observation still to go (the whole of it before any dose)."""
        needed = self.plan.observation_s
        return needed if self.last_dose_end is None else max(0.0, needed - (now - self.last_dose_end))

    def readiness(self, now: float) -> Readiness:
        """Discharge readiness at session time ``now``."""
        return readiness(self.plan, self.baseline, self.trusted.get, self.last_dose_end, len(self.alarms), now)


def news(snap: LiveSnapshot) -> tuple:
    """What a page must show as soon as it changes: the newest numeric reading, the last event, the alarms
    (with their values and acknowledgement), the dosing decision, the audio pause, a repeat NIBP asked for and a
    recording failure. Waveform samples and the clock alone are not news: the page's 1-s tick draws them."""
    return (
        max((r.id for r in snap.latest.values()), default=0),
        snap.event_id,
        tuple(map(repr, snap.alarms)),  # ActiveAlarm is mutable: compare what it says now, not the object
        snap.decision.key,
        snap.paused_until,
        snap.repeat_nibp,
        snap.recording_failed,
    )


class LiveView:
    """The read model of one running session. :meth:`saved` and :meth:`publish` are called in the hub's
    thread only; :meth:`snapshot` from any thread."""

    def __init__(self, store: Store, session: Session, engine: AlarmEngine, decision: Decision) -> None:
        """Start from what the store already holds of the session (a resumed session has a past)."""
        sid = session.id
        self.session = session
        self._latest = {r.vital: r for r in store.latest_readings(sid) if r.vital not in WAVEFORMS}
        self._reading_id = max((r.id for r in self._latest.values()), default=0)
        self._nibp = [r.t for r in store.readings(sid, vitals=[CUFF]) if r.value is not None]
        events = store.events(sid)
        self._event_id = max((e.id for e in events), default=0)
        self._doses = [e for e in events if e.kind == "dose"]
        self._entries = [e for e in events if e.kind in ENTRY_KINDS]
        self._observations = [e for e in events if e.kind == "observation"]
        self._corrected = {c for e in events if e.kind == CORRECTION and (c := corrects(e.data)) is not None}
        self._discharged = next((e for e in events if e.kind == "discharge"), None)
        self._lock = threading.Lock()
        self._watchers: set[threading.Event] = set()
        self._version = 0
        self._snapshot = self._build(engine, decision, time.time(), session.started, None)
        self._news = news(self._snapshot)
        self._news_count = 0

    def snapshot(self) -> LiveSnapshot:
        """The latest published snapshot (never blocks on the hub)."""
        with self._lock:
            return self._snapshot

    def saved(self, readings: Sequence[Reading | Samples], events: Sequence[tuple], written: Written) -> None:
        """Take what one write stored: ``readings`` and ``events`` ``(t, kind, data, who)`` in the order they
        were inserted, whose last rows got the ids in ``written``."""
        ident = written.reading_id - sum(size(r) for r in readings)
        newest: dict[str, tuple[int, Reading]] = {}  # per vital, in the order first seen: its last reading and id
        for r in readings:
            ident += size(r)
            if isinstance(r, Reading) and r.vital not in WAVEFORMS:
                newest[r.vital] = (ident, r)
                if r.vital == CUFF and r.value is not None:
                    self._nibp.append(r.t)
        for vital, (ident, r) in newest.items():
            self._latest[vital] = StoredReading(ident, r.t, r.vital, r.value, r.unit, r.source, r.status)
        self._reading_id = max(self._reading_id, written.reading_id)
        first = written.event_id - len(events) + 1
        for i, (t, kind, data, who) in enumerate(events):
            self._take(StoredEvent(first + i, t, kind, data, who))
        self._event_id = max(self._event_id, written.event_id)

    def _take(self, e: StoredEvent) -> None:
        if e.kind == "dose":
            self._doses.append(e)
        if e.kind in ENTRY_KINDS:
            self._entries.append(e)
        if e.kind == "observation":
            self._observations.append(e)
        if e.kind == CORRECTION and (target := corrects(e.data)) is not None:
            self._corrected.add(target)
        if e.kind == "discharge" and self._discharged is None:
            self._discharged = e

    def publish(
        self, engine: AlarmEngine, decision: Decision, flushed: float, at: float, recording_failed: str | None
    ) -> LiveSnapshot:
        """Publish the state after a flush or an action: ``engine`` and ``decision`` are the rules' now,
        ``flushed`` the wall clock of the hub's last flush, ``at`` the session time."""
        built = self._build(engine, decision, flushed, at, recording_failed)
        key = news(built)
        with self._lock:
            self._snapshot = built
            fresh = key != self._news
            if fresh:
                self._news = key
                self._news_count += 1
            watchers = tuple(self._watchers) if fresh else ()
        for wake in watchers:
            wake.set()
        return built

    @property
    def news_count(self) -> int:
        """How many published snapshots brought news (see :func:`news`)."""
        with self._lock:
            return self._news_count

    @contextmanager
    def watching(self, wake: threading.Event) -> Iterator[None]:
        """Set ``wake`` each time a snapshot brings news, while in the block (from any thread)."""
        with self._lock:
            self._watchers.add(wake)
        try:
            yield
        finally:
            with self._lock:
                self._watchers.discard(wake)

    def _build(
        self, engine: AlarmEngine, decision: Decision, flushed: float, at: float, recording_failed: str | None
    ) -> LiveSnapshot:
        self._version += 1
        alarms = tuple(engine.active())
        return LiveSnapshot(
            session=self.session,
            version=self._version,
            reading_id=self._reading_id,
            event_id=self._event_id,
            flushed=flushed,
            at=at,
            latest=MappingProxyType(dict(self._latest)),
            alarms=alarms,
            groups=tuple(group_alarms(alarms)),
            decision=decision,
            plan=engine.plan,
            sound=engine.audio_priority(float("inf")),
            sound_paused=engine.audio_priority(float("-inf")),
            paused_until=engine.audio_paused_until,
            repeat_nibp=engine.repeat_nibp,
            rules_first_dose=engine.first_dose_t,
            last_dose_end=engine.last_dose_end,
            baseline=engine.baseline,
            trusted=MappingProxyType({v: engine.latest(v) for v in DISCHARGE_VITALS}),
            nibp=tuple(self._nibp),
            first_dose=first_dose_time(self._doses, self._corrected),
            entries=tuple(recent_entries(self._entries, self._corrected)),
            discharged=self._discharged,
            recording_failed=recording_failed,
            observations=MappingProxyType(latest_observations(self._observations, self._corrected)),
        )
