"""The hub: runs a session's sources in the background, writes every item to the store, then
feeds the session's rules (alarm engine and dosing decision) and records what they decide.

Only the hub reads the clock and the rules. After each flush and each action it publishes what a live
page shows in its read model (``monitor.session.live_view``): pages read that snapshot and the stored rows
after their cursor, so nothing is shown that is not already recorded.

Time for the rules: a replayed or simulated source says how far it has got (its ``horizon``:
everything before it has been delivered); the rules are advanced to the clock's time, but never
past a running replay's horizon, so a paced replay, a full-speed record and ``kapmon alarms`` judge
the same data in the same order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from devices.reading import Condition, Item, Reading, Samples, reading
from devices.source import Clock, FastClock, Source
from devices.vocabulary import HIGH, MEDIUM, TECHNICAL
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.alarms import AlarmEngine
from monitor.rules.baseline import Baseline
from monitor.rules.dosing import Decision
from monitor.rules.plan import make_plan
from monitor.rules.session_rules import BaselineSet, DosingChange, Output, SessionRules, judged
from monitor.session.backlog import Backlog
from monitor.session.live_view import LiveView
from monitor.session.model import Dose, Observation, Session
from monitor.session.resume import restore_rules
from monitor.session.store import BUSY_TIMEOUT_S, CORRECTABLE, CORRECTION, Store, dose_data

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0  # how often a running recorder writes its heartbeat into the store
BUSY_WAIT_S = 0.2  # how long a store write may wait for another process's lock before it is held for later
# The recording-failed alarm waits this long while the store refuses writes only because another writer holds
# its lock (contention, e.g. several sessions and a busy machine; the data is held meanwhile); a full disk or any
# other error alarms at once. Design proposal, after the shortest technical alarm delay of the monitors in
# clinical-reference.md (Mindray SpO2 technical alarm delay 5 s [V] Mindray-EPM10M).
LOCK_GRACE_S = 5.0
# A numeric reading or a device condition of a session running in real time is stored, judged and shown within
# this long of arriving, instead of at the next regular flush (every ``flush_interval``); the readings arriving
# meanwhile go in the same write. Waveform samples wait for the regular flush.
PROMPT_S = 0.02


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A session event due at session time ``t`` (a scripted dose or note in a simulation)."""

    t: float
    kind: str
    data: dict
    who: str = "scenario"


def scheduled_inputs(scheduled: Iterable[Scheduled]) -> list[Dose | Observation]:
    """The scripted doses and observations among ``scheduled``, as the rules take them."""
    out: list[Dose | Observation] = []
    for s in scheduled:
        if s.kind == "dose":
            out.append(Dose(t=s.t, **s.data))
        elif s.kind == "observation":
            out.append(Observation(s.t, s.data["scale"], s.data["level"], s.who))
    return out


def condition_data(c: Condition) -> dict:
    return {"condition": c.condition, "active": c.active, "source": c.source, "vitals": list(c.vitals), "detail": c.detail}


def baseline_data(baseline: Baseline | None) -> dict:
    """What the store keeps of the baseline frozen at the first dose."""
    return {"values": {}, "counts": {}} if baseline is None else {"values": baseline.values, "counts": baseline.counts}


def dosing_data(decision: Decision) -> dict:
    """What the store keeps of a change of the dosing decision."""
    return {"state": decision.state, "reasons": decision.reasons}


class Hub:
    """One running session: sources in, store and session rules out. Thread-safe controls."""

    def __init__(
        self,
        store: Store,
        session: Session,
        sources: Sequence[Source],
        clock: Clock,
        rules: SessionRules,
        scheduled: Sequence[Scheduled] = (),
        flush_interval: float = 0.2,
    ) -> None:
        self.store = store
        self.session = session
        self.sources = list(sources)
        self.clock = clock
        self.rules = rules
        self.scheduled = sorted(scheduled, key=lambda s: s.t)
        rules.add(scheduled_inputs(self.scheduled))
        self._running: set[int] = set()
        self._cuff_asked_after: float | None = None
        self.backlog = Backlog()
        self._recording_alarmed = False  # whether the recording-failed alarm has been raised (and not yet cleared)
        self._closing = False  # the session has ended: its last writes are under way
        self.last_flush = time.time()  # wall clock of the last flush: a page can tell a recorder that stopped
        self.flush_interval = flush_interval
        self.finished = threading.Event()
        self.listeners: list[Callable[[list[Item], list[AlarmEvent]], None]] = []
        self._pending: list[Item] = []
        # a session run at full speed (an import) has no one watching it as it goes: only the regular flushes
        self.prompt_s = None if isinstance(clock, FastClock) else PROMPT_S
        # and its recording-failed alarm is stamped when the store first refused, not seconds of real time later
        self._lock_grace_s = 0.0 if isinstance(clock, FastClock) else LOCK_GRACE_S
        self._prompt: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._last_beat = 0.0
        self.view = LiveView(store, session, rules.engine, rules.decision)  # what live pages read

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Hub:
        """Start the background thread; returns once the hub is running."""
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name=f"hub-{self.session.id}", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self, timeout: float = BUSY_TIMEOUT_S + 5.0) -> None:
        """Stop the sources, write what is pending and end the thread (its last write may wait up to
        ``BUSY_TIMEOUT_S`` for another writer's lock); says so in the log if it has not ended by ``timeout``."""
        if self._loop is not None and self._stop is not None and not self.finished.is_set():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error(
                    "session %s: the recorder has not finished its last write after %g s; %d items still held (%s)",
                    self.session.id,
                    timeout,
                    len(self.backlog),
                    self.backlog.failure,
                )

    def run(self) -> None:
        """Run in the calling thread until every source has ended (finite sources only)."""
        asyncio.run(self._main())

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def engine(self) -> AlarmEngine:
        """The session's alarm engine (read it in the hub's thread, through :meth:`call`)."""
        return self.rules.engine

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.store.busy_timeout(BUSY_WAIT_S)  # never stall the recorder behind another process's write lock
        self._ready.set()
        self._running = {id(src) for src in self.sources}
        pumps = [asyncio.create_task(self._pump(src)) for src in self.sources]
        script = asyncio.create_task(self._play_schedule())
        all_done: asyncio.Future[Any] = asyncio.gather(*pumps)
        stop = asyncio.create_task(self._stop.wait())
        try:
            done: set = set()
            while not done:
                done, _ = await asyncio.wait([all_done, stop], timeout=self.flush_interval, return_when=asyncio.FIRST_COMPLETED)
                self._flush()
        finally:
            for task in (*pumps, script, stop):
                task.cancel()
            await asyncio.gather(all_done, *pumps, script, stop, return_exceptions=True)
            stopped = self._stop.is_set()
            end = self._end_time(stopped)
            self._closing = True
            self.store.busy_timeout(BUSY_TIMEOUT_S)  # nothing left to stall: the last write waits out a lock
            self._flush(end=end, finished=not stopped)
            self._save(events=[(end, "end", {}, None)])
            if len(self.backlog):
                log.error(
                    "session %s: %d items could not be saved before the recorder stopped (%s)",
                    self.session.id,
                    len(self.backlog),
                    self.backlog.failure,
                )
            self.finished.set()

    async def _pump(self, source: Source) -> None:
        try:
            async for item in source.stream(self.clock):
                self._pending.append(item)
                if type(item) is not Samples:
                    self._flush_soon()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a source must never take the recorder down
            log.exception("source %s failed", source.uri)
            self._pending.append(Condition(self.clock.now(), "disconnected", source.uri, detail=f"source failed: {exc}"))
            self._flush_soon()
        finally:
            self._running.discard(id(source))

    async def _play_schedule(self) -> None:
        """Record scripted doses and notes at their times (the rules were given the doses at the start)."""
        for item in self.scheduled:
            await self.clock.sleep_until(item.t)
            data = dose_data(Dose(t=item.t, **item.data)) if item.kind == "dose" else item.data
            self._save(events=[(item.t, item.kind, data, item.who)])

    # --- the flow of readings -----------------------------------------------------------

    def _horizon(self) -> float:
        """How far the rules may go: the clock, but never past a replay's horizon (a finished one
        included, unless a live device keeps the session going)."""
        replays = [s for s in self.sources if hasattr(s, "horizon")]
        if len(replays) < len(self.sources):
            replays = [s for s in replays if id(s) in self._running]
        marks = [s.horizon for s in replays]
        return min([self.clock.now(), *(self.rules.start if m is None else m for m in marks)])

    def _end_time(self, stopped: bool) -> float:
        """When the session ends: where its replays ended when they all ran out, else now."""
        marks = [getattr(s, "horizon", None) for s in self.sources]
        if stopped or not marks or any(m is None for m in marks):
            return self.clock.now()
        return max(m for m in marks if m is not None)

    def _flush_soon(self) -> None:
        """Flush within ``prompt_s`` (a session running in real time: see ``PROMPT_S``), unless one is due."""
        if self.prompt_s is not None and self._prompt is None and self._loop is not None:
            self._prompt = self._loop.call_later(self.prompt_s, self._flush)

    def _flush(self, end: float | None = None, finished: bool = False) -> None:
        """Store what arrived (or hold it while the store refuses writes), then let the rules judge it: up
        to the horizon, or (at the end) up to ``end``. Nothing here may stop the recorder."""
        if self._prompt is not None:
            self._prompt.cancel()  # this flush takes what it was due for
            self._prompt = None
        try:
            self._flush_once(end, finished)
        except Exception:  # noqa: BLE001 - the recorder outlives any one bad flush; the fault is logged
            log.exception("session %s: flush failed", self.session.id)
        self.last_flush = time.time()
        self._publish()

    def _publish(self) -> None:
        """Publish the session's state to its live read model (a fault there never stops the recorder)."""
        try:
            self.view.publish(self.engine, self.rules.decision, self.last_flush, self.clock.now(), self.backlog.failure)
        except Exception:  # noqa: BLE001 - pages then show the last snapshot, and NO DATA once it is old
            log.exception("session %s: the live view could not be updated", self.session.id)

    def _flush_once(self, end: float | None, finished: bool) -> None:
        items = self.rules.admit(self._pending)
        self._pending = []
        readings = [i for i in items if not isinstance(i, Condition)]
        events = [(c.t, "condition", condition_data(c), None) for c in items if isinstance(c, Condition)]
        self._save(readings, events)
        self.rules.add(judged(items))
        if end is None:
            outputs = self.rules.advance(self._horizon())
        else:
            outputs = self.rules.finish(end) if finished else self.rules.advance(end)
        alarms = self._record(outputs)
        self._ask_for_cuff()
        for listener in self.listeners:
            listener(items, alarms)
        self._beat()

    def _ask_for_cuff(self) -> None:
        """When the rules ask for a repeat NIBP, start a measurement on every cuff that takes a start command."""
        repeat = self.engine.repeat_nibp
        if repeat is None or repeat.after == self._cuff_asked_after:
            return
        self._cuff_asked_after = repeat.after
        for source in self.sources:
            ask = getattr(source, "request_measurement", None)
            if ask is not None and ask():
                log.info("session %s: repeat NIBP requested from %s (%s)", self.session.id, source.uri, repeat.text)

    def _beat(self) -> None:
        """Tell other processes reading the store that this recorder is alive (at most once a second)."""
        wall = time.time()
        if wall - self._last_beat >= HEARTBEAT_S and self.backlog.failure is None:
            try:
                self.store.beat(self.session.id, wall, os.getpid())
            except (sqlite3.Error, OSError):
                return  # a store that refuses writes is reported by the backlog
            self._last_beat = wall

    def _save(
        self, readings: Sequence[Reading | Samples] = (), events: Sequence[tuple] = (), alarms: Sequence[AlarmEvent] = ()
    ) -> None:
        """Store now, or hold until the store accepts writes again; a HIGH technical alarm says when
        recording fails (after ``LOCK_GRACE_S`` while only another writer's lock stands in the way) and when it
        has resumed (everything held written)."""
        self.backlog.hold(readings, events, alarms)
        stored = self.backlog.write(self.store, self.session.id, self.view.saved)
        if not stored and self._closing:
            self.store.busy_timeout(BUSY_WAIT_S)  # the last writes wait out a lock once, not once each
        if stored and self._recording_alarmed:
            self._recording_changed(ok=True)
        elif not stored and not self._recording_alarmed and self.backlog.alarming(self._lock_grace_s):
            self._recording_changed(ok=False)

    def _recording_changed(self, ok: bool) -> None:
        self._recording_alarmed = not ok
        now = self.clock.now()
        detail = self.backlog.failure or ""
        if ok:
            log.warning("session %s: the store accepts writes again; everything held has been saved", self.session.id)
        else:
            log.error("session %s: recording failed, data held in memory: %s", self.session.id, detail)
        outputs = self.rules.act(now, lambda engine: engine.recording(ok, now, detail))
        self.backlog.hold(alarms=[o for o in outputs if isinstance(o, AlarmEvent)])
        self.backlog.write(self.store, self.session.id, self.view.saved)

    def _entered(self, entries: list[tuple], judge: Callable[[], list[Output]], audit: Sequence[AlarmEvent] = ()) -> None:
        """Store what a person entered (``entries``, after the ``audit`` rows that authorise it) in one write with
        what the rules decide on it (``judge``), so that a recorder killed in between never keeps the one without
        the other; when the rules fail on it, the entry is stored all the same."""
        try:
            outputs = judge()
        except Exception:
            self._save(events=entries, alarms=audit)
            raise
        self._record(outputs, entries, audit)

    def _record(self, outputs: list[Output], entries: Sequence[tuple] = (), audit: Sequence[AlarmEvent] = ()) -> list[AlarmEvent]:
        """Store what the rules decided: alarm transitions and dosing changes (with the ``entries`` and ``audit``
        rows they follow, in the same write); returns the transitions."""
        alarms = [o for o in outputs if isinstance(o, AlarmEvent)]
        changes = [(o.t, "dosing", dosing_data(o.decision), None) for o in outputs if isinstance(o, DosingChange)]
        baselines = [(o.t, "baseline", baseline_data(o.baseline), None) for o in outputs if isinstance(o, BaselineSet)]
        if entries or audit or alarms or changes or baselines:
            self._save(events=[*entries, *baselines, *changes], alarms=[*audit, *alarms])
        for o in outputs:
            if isinstance(o, DosingChange):
                log.info("session %s: %s", self.session.id, o.decision.headline())
        return alarms

    # --- controls (any thread) ----------------------------------------------------------

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the hub's thread (where the engine lives) and return its result (in the caller's
        thread when the hub's has ended or died: a page keeps answering, and says the recorder stopped)."""
        if self._loop is None or self.finished.is_set() or (self._thread is not None and not self._thread.is_alive()):
            return fn()
        future: Future = Future()

        def runner() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(runner)
        return future.result(timeout=5)

    def command(self, fn: Callable[[], Any]) -> Any:
        """Run the action ``fn`` in the hub's thread (as :meth:`call`), then publish the state it leaves to the
        live read model, whether it was done or refused."""

        def act() -> Any:
            try:
                return fn()
            finally:
                self._publish()

        return self.call(act)

    def now(self) -> float:
        return self.clock.now()

    @property
    def clock_speed(self) -> float:
        """How many session seconds pass per real second."""
        return getattr(self.clock, "speed", 1.0)

    def _act(self, action: Callable[[AlarmEngine, float], list[AlarmEvent]]) -> list[AlarmEvent]:
        """Apply an action to the engine now, after everything received so far; record what follows."""

        def act() -> list[AlarmEvent]:
            self._flush()
            now = self.clock.now()
            return self._record(self.rules.act(now, lambda engine: action(engine, now)))

        return self.command(act)

    def acknowledge(self, alarm_id: str, who: str) -> list[AlarmEvent]:
        return self._act(lambda engine, now: engine.acknowledge(alarm_id, who, now))

    def pause_audio(self, who: str, seconds: float | None = None) -> list[AlarmEvent]:
        """Pause the audio for ``seconds`` of session time (default: the protocol's pause, in real time)."""
        return self._act(lambda engine, now: engine.pause_audio(who, now, seconds, self.clock_speed))

    def add_dose(self, dose: Dose, who: str, ordered_by: tuple[str, str] | None = None) -> None:
        """Record a dose given now (its time is the dose's ``t``) and let the rules take it. ``ordered_by``
        (physician, reason) records a physician's order for a dose outside the protocol's bounds, audited
        before the dose (the rules still raise the alarm that says it is outside them)."""

        def act() -> None:
            self._flush()
            audit: list[AlarmEvent] = []
            if ordered_by is not None:
                physician, reason = ordered_by
                text = f"dose {dose.mg:g} mg outside the protocol's bounds ordered by {physician}: {reason}"
                rule = f"{self.rules.plan.name}: dose_bounds"
                audit.append(
                    AlarmEvent(dose.t, "overridden", "dose_bounds", HIGH, TECHNICAL, None, dose.mg, None, rule, text, physician)
                )
            self.rules.add([dose])
            self._entered([(dose.t, "dose", dose_data(dose), who)], lambda: self.rules.act(dose.t, lambda _engine: []), audit)

        self.command(act)

    def observe(self, observation: Observation) -> None:
        """Record a charted observation (its time is the observation's ``t``, who charted it its ``who``) and let
        the rules judge it: a level beyond a limit on its scale alarms, and its next charting falls due."""

        def act() -> None:
            self._flush()
            self.rules.add([observation])
            entry = (observation.t, "observation", observation.data(), observation.who or None)
            self._entered([entry], lambda: self.rules.act(observation.t, lambda _engine: []))

        self.command(act)

    def discharge(self, who: str, ordered_by: tuple[str, str] | None = None) -> str:
        """Record the patient's discharge now. Before the plan's minimum observation after the last dose
        it is refused (``ValueError`` saying how long is left) unless a physician orders it with a reason
        (``ordered_by``: physician, reason), which is audited."""

        def act() -> str:
            self._flush()
            now = self.clock.now()
            left = self.observation_left(now)
            if ordered_by is not None and not (ordered_by[0].strip() and ordered_by[1].strip()):
                raise ValueError("a physician's order needs the physician's name and a reason")
            if left > 0 and ordered_by is None:
                wait = "no dose recorded yet" if self.observed(now) is None else f"{left / 60:.0f} more min"
                raise ValueError(f"minimum observation not over: {wait} (a physician may order discharge earlier, with a reason)")
            if left > 0 and ordered_by is not None:
                physician, reason = ordered_by
                text = f"discharge {left / 60:.0f} min before the minimum observation ordered by {physician}: {reason}"
                self._save(
                    alarms=[
                        AlarmEvent(
                            now,
                            "overridden",
                            "discharge_hold",
                            MEDIUM,
                            TECHNICAL,
                            None,
                            None,
                            None,
                            f"{self.rules.plan.name}: discharge",
                            text,
                            physician,
                        )
                    ]
                )
            self._save(events=[(now, "discharge", {"observed_s": self.observed(now)}, who)])
            return f"discharged by {who} at {time.strftime('%H:%M:%S', time.localtime(now))}"

        return self.command(act)

    def observed(self, now: float) -> float | None:
        """Seconds since the last dose ended (None before any dose)."""
        end = self.engine.last_dose_end
        return None if end is None else now - end

    def observation_left(self, now: float) -> float:
        """Seconds of the plan's minimum observation still to go (the whole of it before any dose)."""
        observed = self.observed(now)
        needed = self.engine.plan.observation_s
        return needed if observed is None else max(0.0, needed - observed)

    def add_event(self, kind: str, data: dict, who: str | None) -> None:
        self.command(lambda: self._save(events=[(self.clock.now(), kind, data, who)]))

    def add_readings(self, readings: list[Reading]) -> None:
        """Readings entered by hand (a cuff that is not connected); they flow like any other."""

        def act() -> None:
            self._pending.extend(readings)
            self._flush_soon()

        self.call(act)

    def add_manual_bp(self, sbp: float, dbp: float, mean: float, who: str) -> float:
        """A blood pressure taken by hand: its readings flow like a cuff's, and who took it is recorded.
        Returns the session time it was recorded at."""

        def act() -> float:
            now = self.clock.now()
            self._pending.extend(reading(now, v, x, "manual") for v, x in (("sbp", sbp), ("dbp", dbp), ("map", mean)))
            self._flush_soon()
            self._save(events=[(now, "manual_nibp", {"sbp": sbp, "dbp": dbp, "map": mean}, who)])
            return now

        return self.command(act)

    def rescreen(self, answers: dict, who: str) -> Decision:
        """Screening answers given on the page (already parsed): stored with who gave them, and the
        session goes on under the plan they make. Returns the dosing decision that follows."""

        def act() -> Decision:
            self._flush()
            now = self.clock.now()
            self._entered([(now, "screening", {"answers": answers}, who)], lambda: self.rules.rescreen(answers, now))
            return self.rules.decision

        return self.command(act)

    def retract(self, event_id: int, reason: str, who: str) -> str:
        """Mark a dose, note or hand-taken BP "entered in error" with a reason: an appended, audited
        correction (nothing is deleted). The session's rules are judged again without it; alarms that
        only the wrong entry raised are cleared, and those it kept away are raised, saying why. Returns what was done, in words;
        ``ValueError`` when the entry cannot be corrected."""

        def act() -> str:
            self._flush()
            entry = next((e for e in self.store.events(self.session.id) if e.id == event_id), None)
            if entry is None or entry.kind not in CORRECTABLE:
                raise ValueError(f"there is no dose, note, hand-taken BP or observation {event_id} in this session")
            if event_id in self.store.corrections(self.session.id):
                raise ValueError("that entry is already marked entered in error")
            if not reason.strip() or not who.strip():
                raise ValueError("say who you are and why the entry is wrong")
            if self.backlog.failure is not None:
                raise ValueError("the store is not accepting writes (recording failed): mark it again once recording has resumed")
            now = self.clock.now()
            self._save(events=[(now, CORRECTION, {"corrects": event_id, "kind": entry.kind, "reason": reason.strip()}, who)])
            if entry.kind != "note":
                self._rejudge(now, f"{CORRECTABLE[entry.kind]} entered in error by {who}: {reason.strip()}")
            at = time.strftime("%H:%M:%S", time.localtime(entry.t))
            return f"{CORRECTABLE[entry.kind]} at {at} marked entered in error by {who}"

        return self.command(act)

    def _rejudge(self, now: float, why: str) -> None:
        """Judge the session again from its record (the corrections applied) and carry on with those rules."""
        before = {a.alarm_id: a for a in self.engine.active()}
        decided = self.rules.decision
        fresh = SessionRules(
            make_plan(self.rules.plan.protocol, self.session.metadata.get("screening") or {}, self.rules.plan.route.name),
            self.rules.start,
            self.engine.sampling_given(),
            self.rules.weight_kg,
        )
        self.rules, _ = restore_rules(self.store, self.session, fresh)
        self.rules.add(scheduled_inputs(x for x in self.scheduled if x.t > now))  # still to come
        self.rules.advance(now)
        after = {a.alarm_id: a for a in self.engine.active()}
        gone = [a for alarm_id, a in before.items() if alarm_id not in after]
        new = [a for alarm_id, a in after.items() if alarm_id not in before]  # e.g. a scale overdue without the charting
        changes = [
            AlarmEvent(now, event, a.alarm_id, a.priority, a.kind, a.vital, a.value, a.limit, a.rule, f"{a.message}: {why}")
            for event, alarms in (("cleared", gone), ("raised", new))
            for a in alarms
        ]
        changed = [] if self.rules.decision.key == decided.key else [(now, "dosing", dosing_data(self.rules.decision), None)]
        self._save(events=changed, alarms=changes)

    def dose_problems(self, dose: Dose) -> list[Any]:
        """Where ``dose`` would be outside the protocol's bounds, given this session's doses so far."""
        return self.call(lambda: self.rules.dose_problems(dose))

    def decision(self) -> Decision:
        """The dosing decision now (screening, pre-dose readings, holds, overrides)."""
        return self.call(lambda: self.rules.decision)

    def override(self, finding_id: str, physician: str, reason: str, *, verified: bool = False) -> AlarmEvent:
        """A named physician lifts a block or acknowledges a gate, with a reason; audited by the
        ``overridden`` alarm event and, beside it, an ``override`` session event saying whether the name is
        ``verified`` (a signed-in physician's account) or was typed without sign-in."""

        def act() -> AlarmEvent:
            self._flush()
            outputs = self.rules.override(finding_id, physician, reason, self.clock.now())
            event = next(a for a in self._record(outputs) if a.event == "overridden")
            data = {"finding": finding_id, "physician": event.who, "reason": reason.strip(), "verified": verified}
            self._save(events=[(event.t, "override", data, event.who)])
            return event

        return self.command(act)

    def active_alarms(self) -> list[Any]:
        return self.call(self.engine.active)
