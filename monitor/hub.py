"""The hub: runs a session's sources in the background, writes every item to the store, then
feeds the alarm engine and records its transitions.

Only the hub reads the clock. Display reads from the store (a cursor on readings), so nothing is
shown that is not already recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from devices.reading import Condition, Item, Reading, reading
from devices.source import Clock, Source
from monitor.alarm_events import AlarmEvent
from monitor.alarms import AlarmEngine
from monitor.plan import override as override_plan
from monitor.session import Dose, Session
from monitor.store import Store, dose_data

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0  # how often a running recorder writes its heartbeat into the store


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A session event due at session time ``t`` (a scripted dose or note in a simulation)."""

    t: float
    kind: str
    data: dict


def condition_data(c: Condition) -> dict:
    return {"condition": c.condition, "active": c.active, "source": c.source, "vitals": list(c.vitals), "detail": c.detail}


class Hub:
    """One running session: sources in, store and alarm engine out. Thread-safe controls."""

    def __init__(
        self,
        store: Store,
        session: Session,
        sources: Sequence[Source],
        clock: Clock,
        engine: AlarmEngine,
        scheduled: Sequence[Scheduled] = (),
        flush_interval: float = 0.2,
    ) -> None:
        self.store = store
        self.session = session
        self.sources = list(sources)
        self.clock = clock
        self.engine = engine
        self.scheduled = sorted(scheduled, key=lambda s: s.t)
        self.flush_interval = flush_interval
        self.finished = threading.Event()
        self.listeners: list[Callable[[list[Item], list[AlarmEvent]], None]] = []
        self._pending: list[Item] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._last_beat = 0.0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Hub:
        """Start the background thread; returns once the hub is running."""
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name=f"hub-{self.session.id}", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the sources, write what is pending and end the thread."""
        if self._loop is not None and self._stop is not None and not self.finished.is_set():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Run in the calling thread until every source has ended (finite sources only)."""
        asyncio.run(self._main())

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        pumps = [asyncio.create_task(self._pump(src)) for src in self.sources]
        script = asyncio.create_task(self._play_schedule())
        all_done = asyncio.gather(*pumps)
        stop = asyncio.create_task(self._stop.wait())
        try:
            done: set = set()
            while not done:
                done, _ = await asyncio.wait(
                    [all_done, stop], timeout=self.flush_interval, return_when=asyncio.FIRST_COMPLETED
                )
                self._flush()
        finally:
            for task in (*pumps, script, stop):
                task.cancel()
            await asyncio.gather(all_done, *pumps, script, stop, return_exceptions=True)
            self._flush()
            self.store.write(self.session.id, events=[(self.clock.now(), "end", {}, None)])
            self.finished.set()

    async def _pump(self, source: Source) -> None:
        try:
            async for item in source.stream(self.clock):
                self._pending.append(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source must never take the recorder down
            log.exception("source %s failed", source.uri)
            self._pending.append(Condition(self.clock.now(), "disconnected", source.uri, detail=f"source failed: {exc}"))

    async def _play_schedule(self) -> None:
        for item in self.scheduled:
            await self.clock.sleep_until(item.t)
            self._flush()
            if item.kind == "dose":
                self._record_dose(Dose(t=item.t, **item.data), who="scenario")
            else:
                self.store.write(self.session.id, events=[(item.t, item.kind, item.data, "scenario")])

    # --- the flow of readings -----------------------------------------------------------

    def _flush(self) -> None:
        items, self._pending = self._pending, []
        readings = [i for i in items if isinstance(i, Reading)]
        events = [(c.t, "condition", condition_data(c), None) for c in items if isinstance(c, Condition)]
        if readings or events:
            self.store.write(self.session.id, readings, events)
        alarms: list[AlarmEvent] = []
        for item in items:
            if not (isinstance(item, Reading) and item.vital == "pleth"):
                alarms += self.engine.on_item(item)
        alarms += self.engine.tick(self.clock.now())
        self._record_alarms(alarms)
        for listener in self.listeners:
            listener(items, alarms)
        self._beat()

    def _beat(self) -> None:
        """Tell other processes reading the store that this recorder is alive (at most once a second)."""
        wall = time.time()
        if wall - self._last_beat >= HEARTBEAT_S:
            self.store.beat(self.session.id, wall, os.getpid())
            self._last_beat = wall

    def _record_alarms(self, alarms: list[AlarmEvent]) -> None:
        if alarms:
            self.store.write(self.session.id, alarms=alarms)

    def _record_dose(self, dose: Dose, who: str | None) -> None:
        self.store.write(self.session.id, events=[(dose.t, "dose", dose_data(dose), who)])
        self._record_alarms(self.engine.on_dose(dose.t, mg=dose.mg, end=dose.end, route=dose.route, drug=dose.drug))

    # --- controls (any thread) ----------------------------------------------------------

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the hub's thread (where the engine lives) and return its result."""
        if self._loop is None or self.finished.is_set():
            return fn()
        future: Future = Future()

        def runner() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(runner)
        return future.result(timeout=5)

    def now(self) -> float:
        return self.clock.now()

    @property
    def clock_speed(self) -> float:
        """How many session seconds pass per real second."""
        return getattr(self.clock, "speed", 1.0)

    def acknowledge(self, alarm_id: str, who: str) -> list[AlarmEvent]:
        def act() -> list[AlarmEvent]:
            events = self.engine.acknowledge(alarm_id, who, self.clock.now())
            self._record_alarms(events)
            return events

        return self.call(act)

    def pause_audio(self, who: str, seconds: float | None = None) -> list[AlarmEvent]:
        def act() -> list[AlarmEvent]:
            events = self.engine.pause_audio(who, self.clock.now(), seconds)
            self._record_alarms(events)
            return events

        return self.call(act)

    def add_dose(self, dose: Dose, who: str) -> None:
        self.call(lambda: self._record_dose(dose, who))

    def add_event(self, kind: str, data: dict, who: str | None) -> None:
        self.call(lambda: self.store.write(self.session.id, events=[(self.clock.now(), kind, data, who)]))

    def add_readings(self, readings: list[Reading]) -> None:
        """Readings entered by hand (a cuff that is not connected); they flow like any other."""
        self.call(lambda: self._pending.extend(readings))

    def add_manual_bp(self, sbp: float, dbp: float, mean: float, who: str) -> float:
        """A blood pressure taken by hand: its readings flow like a cuff's, and who took it is recorded.
        Returns the session time it was recorded at."""

        def act() -> float:
            now = self.clock.now()
            self._pending.extend(reading(now, v, x, "manual") for v, x in (("sbp", sbp), ("dbp", dbp), ("map", mean)))
            self.store.write(self.session.id, events=[(now, "manual_nibp", {"sbp": sbp, "dbp": dbp, "map": mean}, who)])
            return now

        return self.call(act)

    def outstanding(self) -> list[Any]:
        """Blocks and gates of the plan not yet lifted (screening and, with a baseline, pre-dose BP/SpO2)."""
        return self.call(lambda: self.engine.plan.outstanding(self.engine.baseline))

    def override(self, finding_id: str, physician: str, reason: str) -> AlarmEvent:
        """A named physician lifts a block or acknowledges a gate, with a reason; audited."""

        def act() -> AlarmEvent:
            finding = next((f for f in self.engine.plan.outstanding(self.engine.baseline) if f.id == finding_id), None)
            if finding is None:
                raise ValueError(f"{finding_id} is not an open block or gate")
            self.engine.plan, event = override_plan(self.engine.plan, finding, physician, reason, self.clock.now())
            self._record_alarms([event])
            return event

        return self.call(act)

    def active_alarms(self) -> list[Any]:
        return self.call(self.engine.active)
