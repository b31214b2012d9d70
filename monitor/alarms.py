"""The alarm engine: a pure state machine driven by readings, doses and the times it is given.

Inspired by IEC 60601-1-8 (not compliant with it): physiological and technical alarms; high, medium
and low priority; condition delays; hysteresis; latching; acknowledgement; time-limited audio pause
with a reminder when it ends; escalation. It reads no clock and does no I/O: every method takes the
time, so the same engine runs live, in replay at any speed and in tests.

Semantics, in short:

- A physiological limit raises once its condition has held on every valid reading for ``delay_s``
  (zero-delay limits raise on the reading). A "no value" reading never raises one; it interrupts a
  pending delay, which then starts again.
- NIBP limits are judged on each discrete cuff reading.
- The condition ends when the value is back past the limit by ``hysteresis``. A non-latching alarm
  then clears; a latching one stays (``latched``) until acknowledged.
- Acknowledging silences an alarm until it clears; a latched alarm whose condition has ended clears
  on acknowledgement. Escalation to a higher priority cancels the acknowledgement.
- Audio pause silences the alarms present when it starts, for a set time; a new alarm of higher
  priority ends the pause; when it ends an ``audio_resumed`` reminder is emitted.
- Technical alarms (device conditions, stale data per vital, NIBP overdue, a key BP not taken) are
  non-latching; condition and data alarms start LOW and become MEDIUM after ``escalate_after_s``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from devices.reading import CONDITIONS, NIBP_VITALS, Condition, Reading
from monitor.alarm_events import HIGH, LOW, MEDIUM, PHYSIOLOGICAL, PRIORITY_RANK, TECHNICAL, AlarmEvent
from monitor.baseline import Baseline, BaselineBuilder
from monitor.plan import Plan
from monitor.protocol import Checkpoint, Limit

LABELS = {"sbp": "SBP", "dbp": "DBP", "map": "MAP", "hr": "HR", "pr": "PR", "spo2": "SpO2", "pi": "PI", "rr": "RR", "etco2": "EtCO2", "pleth": "Pleth"}

# Conditions that say the device has no data; a valid reading of the same vital (or, for conditions
# naming no vital, from the same source) shows the data is back and ends them.
NO_DATA_CONDITIONS = frozenset(CONDITIONS) - {"low_battery", "equipment_malfunction", "device_alarm"}

SYMBOLS = {"below": "<", "at_most": "<=", "above": ">", "at_least": ">=", "rise": ">="}


@dataclass(slots=True)
class ActiveAlarm:
    """One current alarm as the nurse sees it."""

    alarm_id: str
    priority: str
    kind: str
    message: str
    since: float
    vital: str | None
    value: float | None
    limit: float | None
    rule: str
    source: str | None = None
    onset: float = 0.0
    latching: bool = False
    condition_active: bool = True
    latched: bool = False
    acknowledged: bool = False
    escalates_to: str | None = None
    escalate_at: float | None = None
    response: str = ""  # what the protocol says to do, e.g. "Hold the infusion; repeat NIBP within 5 min"


def fmt(x: float) -> str:
    """A number as a nurse reads it: no trailing ``.0``."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def violates(comparison: str, value: float, threshold: float) -> bool:
    """Whether ``value`` is beyond ``threshold`` for a comparison (``rise`` uses an absolute threshold)."""
    if comparison == "below":
        return value < threshold
    if comparison == "at_most":
        return value <= threshold
    if comparison == "above":
        return value > threshold
    return value >= threshold


def recovered(limit: Limit, value: float, threshold: float) -> bool:
    """Whether ``value`` is back inside the limit by at least its hysteresis."""
    shift = limit.hysteresis if limit.low_side else -limit.hysteresis
    return not violates(limit.comparison, value, threshold + shift)


class AlarmEngine:
    """Turns a session's readings, conditions and doses into alarm transitions under one plan."""

    def __init__(self, plan: Plan, start: float) -> None:
        self.plan = plan
        self.start = start
        proto = plan.protocol
        self._tech = proto.technical
        self._limits: dict[str, list[Limit]] = {}
        self._limit_by_id = {p.limit.id: p.limit for p in plan.limits}
        for planned in plan.limits:
            self._limits.setdefault(planned.limit.vital, []).append(planned.limit)
        self._alarms: dict[str, ActiveAlarm] = {}
        self._pending: dict[str, float] = {}
        self._pending_conditions: dict[str, Condition] = {}
        self._condition_of: dict[str, Condition] = {}
        self._last_value: dict[str, float] = {}
        self._quiet_since: dict[str, float] = {}  # per vital: last valid reading, or end of a condition explaining the gap
        self._last_nibp_t: float | None = None
        self._doses: list[tuple[float, float | None]] = []
        self._checkpoints_done: set[str] = set()
        self._builder = BaselineBuilder(proto.baseline)
        self._baseline: Baseline | None = None
        self._pause_rank = 0
        self.audio_paused_until: float | None = None

    # ---------------------------------------------------------------- public API

    @property
    def baseline(self) -> Baseline | None:
        """The frozen baseline after the first dose; before it, the baseline so far."""
        return self._baseline if self._doses else self._builder.baseline()

    @property
    def first_dose_t(self) -> float | None:
        return self._doses[0][0] if self._doses else None

    @property
    def last_dose_end(self) -> float | None:
        """When the last dose ended (its start if it had no duration)."""
        if not self._doses:
            return None
        t, end = self._doses[-1]
        return t if end is None else end

    def latest(self, vital: str) -> float | None:
        """The newest valid value of ``vital``."""
        return self._last_value.get(vital)

    def active(self) -> list[ActiveAlarm]:
        """Current alarms, highest priority first, as snapshots."""
        return [replace(a) for a in sorted(self._alarms.values(), key=lambda a: (-PRIORITY_RANK[a.priority], a.since))]

    def audio_priority(self, now: float) -> str | None:
        """The priority the audio signal should sound at now, or None for silence."""
        paused = self.audio_paused_until is not None and now < self.audio_paused_until
        loud = [a for a in self._alarms.values() if not a.acknowledged and not (paused and PRIORITY_RANK[a.priority] <= self._pause_rank)]
        return max((a.priority for a in loud), key=PRIORITY_RANK.__getitem__, default=None)

    def on_item(self, item: Reading | Condition) -> list[AlarmEvent]:
        """Take one reading or device condition; return the transitions it causes."""
        events = self._on_condition(item) if isinstance(item, Condition) else self._on_reading(item)
        return events + self._advance(item.t)

    def tick(self, now: float) -> list[AlarmEvent]:
        """Let time pass: condition delays, escalation, stale data, NIBP overdue, key BP, audio pause."""
        return self._advance(now)

    def on_dose(self, t: float, mg: float | None = None, end: float | None = None, **_details: object) -> list[AlarmEvent]:
        """A dose starting at ``t`` (an infusion may give its ``end``); the first freezes the baseline."""
        if not self._doses:
            self._baseline = self._builder.baseline()
        self._doses.append((t, end))
        return self._advance(t)

    def acknowledge(self, alarm_id: str, who: str, now: float) -> list[AlarmEvent]:
        """Silence one alarm until it clears; a latched alarm whose condition ended clears now.

        The acknowledgement applies to the alarm as it was before ``now``; anything that escalates
        at ``now`` is applied after it, and so is heard.
        """
        alarm = self._alarms.get(alarm_id)
        events: list[AlarmEvent] = []
        if alarm is not None and not alarm.acknowledged:
            alarm.acknowledged = True
            events.append(self._event(alarm, "acknowledged", now, f"{alarm.message} acknowledged by {who}", who=who))
            if alarm.latched:
                events.append(self._clear(alarm, now, f"{alarm.message}: latched alarm reset by {who}"))
        return events + self._advance(now)

    def pause_audio(self, who: str, now: float, seconds: float | None = None) -> list[AlarmEvent]:
        """Pause the audio of the alarms present now for ``seconds`` (protocol default, capped at its maximum)."""
        audio = self.plan.protocol.audio
        length = min(audio.pause_s if seconds is None else seconds, audio.max_pause_s)
        self.audio_paused_until = now + length
        self._pause_rank = max((PRIORITY_RANK[a.priority] for a in self._alarms.values()), default=0)
        message = f"audio paused {fmt(length)} s by {who} ({len(self._alarms)} alarms active)"
        return [self._audio_event("audio_paused", now, message, who), *self._advance(now)]

    # ---------------------------------------------------------------- readings

    def _on_reading(self, r: Reading) -> list[AlarmEvent]:
        self._quiet_since.setdefault(r.vital, r.t)
        events: list[AlarmEvent] = []
        if r.value is None:
            for limit in self._limits.get(r.vital, ()):
                self._pending.pop(limit.id, None)
            return events
        self._quiet_since[r.vital] = r.t
        self._last_value[r.vital] = r.value
        events += self._data_back(r)
        if r.vital in NIBP_VITALS:
            self._last_nibp_t = r.t
            self._mark_checkpoints(r.t)
        for limit in self._limits.get(r.vital, ()):
            events += self._judge(limit, r)
        if not self._doses and not any(a.kind == PHYSIOLOGICAL and a.condition_active for a in self._alarms.values()):
            self._builder.add(r)
        return events

    def _data_back(self, r: Reading) -> list[AlarmEvent]:
        """Technical alarms that a valid reading disproves: stale, overdue, key BP, no-data conditions."""
        ended = [f"{r.vital}_stale"]
        if r.vital in NIBP_VITALS:
            ended += ["nibp_overdue", *(c.id for c in self.plan.checkpoints)]
        conditions = {**self._condition_of, **self._pending_conditions} if self._condition_of or self._pending_conditions else {}
        for key, cond in conditions.items():
            if cond.condition in NO_DATA_CONDITIONS and (r.vital in cond.vitals if cond.vitals else r.source == cond.source):
                ended.append(key)
                self._pending_conditions.pop(key, None)
        return [self._clear(self._alarms[k], r.t, f"{self._alarms[k].message}: data back") for k in ended if k in self._alarms]

    def _threshold(self, limit: Limit, t: float) -> float | None:
        """The absolute threshold of ``limit`` at ``t``, or None while it does not apply."""
        if limit.phase == "post_dose" and (not self._doses or t < self._doses[0][0]):
            return None
        if not limit.relative:
            return limit.threshold
        base = self._baseline.get(limit.vital) if self._baseline else None
        return None if base is None else base + limit.threshold

    def _judge(self, limit: Limit, r: Reading) -> list[AlarmEvent]:
        assert r.value is not None
        threshold = self._threshold(limit, r.t)
        alarm = self._alarms.get(limit.id)
        if threshold is None:
            self._pending.pop(limit.id, None)
            return []
        bad = violates(limit.comparison, r.value, threshold)
        if alarm is not None:
            if bad:
                alarm.value, alarm.condition_active, alarm.latched = r.value, True, False
                return []
            if alarm.condition_active and recovered(limit, r.value, threshold):
                return self._condition_ended(alarm, r)
            return []
        if not bad:
            self._pending.pop(limit.id, None)
            return []
        onset = self._pending.setdefault(limit.id, r.t)
        if r.t - onset >= limit.delay_s:
            return self._raise_limit(limit, r.value, threshold, onset, r.t, r.source)
        return []

    def _condition_ended(self, alarm: ActiveAlarm, r: Reading) -> list[AlarmEvent]:
        self._pending.pop(alarm.alarm_id, None)
        alarm.condition_active = False
        alarm.value = r.value
        if alarm.latching and not alarm.acknowledged:
            alarm.latched = True
            return []
        return [self._clear(alarm, r.t, f"{LABELS.get(alarm.vital or '', alarm.vital)} {fmt(r.value or 0)} back within limit ({alarm.rule})")]

    def _limit_message(self, limit: Limit, value: float, threshold: float) -> str:
        label = LABELS.get(limit.vital, limit.vital)
        rule = f"{self.plan.name}: {limit.id}"
        if limit.relative:
            base = threshold - limit.threshold
            return f"{label} {fmt(value)} >= {fmt(threshold)} (baseline {fmt(base)} + {fmt(limit.threshold)}) ({rule})"
        return f"{label} {fmt(value)} {SYMBOLS[limit.comparison]} {fmt(threshold)} ({rule})"

    def _raise_limit(self, limit: Limit, value: float, threshold: float, onset: float, t: float, source: str | None) -> list[AlarmEvent]:
        alarm = ActiveAlarm(
            alarm_id=limit.id,
            priority=limit.priority,
            kind=PHYSIOLOGICAL,
            message=self._limit_message(limit, value, threshold),
            since=t,
            vital=limit.vital,
            value=value,
            limit=threshold,
            rule=f"{self.plan.name}: {limit.id}",
            source=source,
            onset=onset,
            latching=limit.latching,
            escalates_to=limit.escalate_to,
            escalate_at=None if limit.escalate_after_s is None else onset + limit.escalate_after_s,
            response=limit.response,
        )
        return self._raise(alarm, t)

    # ---------------------------------------------------------------- device conditions

    def _on_condition(self, c: Condition) -> list[AlarmEvent]:
        if c.condition not in self._tech.conditions:
            return []
        key = f"{c.condition}:{c.source}"
        if not c.active:
            self._pending_conditions.pop(key, None)
            for vital in c.vitals:
                if vital in self._quiet_since:
                    self._quiet_since[vital] = max(self._quiet_since[vital], c.t)
            alarm = self._alarms.get(key)
            return [self._clear(alarm, c.t, f"{alarm.message}: ended")] if alarm else []
        if key not in self._alarms:
            self._pending_conditions.setdefault(key, c)
        return []

    def _raise_condition(self, key: str, c: Condition, t: float) -> list[AlarmEvent]:
        what = "/".join(LABELS.get(v, v) for v in c.vitals)
        detail = f": {c.detail}" if c.detail else ""
        text = f"{what + ' ' if what else ''}{CONDITIONS[c.condition]} ({c.source}){detail}"
        self._condition_of[key] = c
        return self._raise_technical(key, c.condition, text, c.vitals[0] if c.vitals else None, None, None, c.t, t, c.source)

    def _raise_technical(
        self, key: str, rule_id: str, text: str, vital: str | None, value: float | None, limit: float | None, onset: float, t: float,
        source: str | None = None, escalates: bool = True,
    ) -> list[AlarmEvent]:
        rule = f"{self.plan.name}: {rule_id}"
        alarm = ActiveAlarm(
            alarm_id=key, priority=LOW, kind=TECHNICAL, message=f"{text} ({rule})", since=t, vital=vital, value=value,
            limit=limit, rule=rule, source=source, onset=onset,
            escalates_to=MEDIUM if escalates else None, escalate_at=t + self._tech.escalate_after_s if escalates else None,
            response=self._tech.response,
        )
        return self._raise(alarm, t)

    # ---------------------------------------------------------------- time

    def _advance(self, now: float) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for limit_id, onset in list(self._pending.items()):
            limit = self._limit_by_id[limit_id]
            if limit.id not in self._alarms and now - onset >= limit.delay_s:
                threshold = self._threshold(limit, now)
                value = self._last_value.get(limit.vital)
                if threshold is not None and value is not None and violates(limit.comparison, value, threshold):
                    events += self._raise_limit(limit, value, threshold, onset, now, None)
        for key, cond in list(self._pending_conditions.items()):
            if now - cond.t >= self._tech.condition_delay_s:
                del self._pending_conditions[key]
                events += self._raise_condition(key, cond, now)
        for alarm in list(self._alarms.values()):
            if alarm.escalate_at is not None and now >= alarm.escalate_at and alarm.condition_active:
                events += self._escalate(alarm, now)
        events += self._stale(now)
        events += self._nibp_overdue(now)
        events += self._missed_checkpoints(now)
        if self.audio_paused_until is not None and now >= self.audio_paused_until:
            events.append(self._resume_audio(now, f"audio pause ended: {len(self._alarms)} alarms active"))
        return events

    def _escalate(self, alarm: ActiveAlarm, now: float) -> list[AlarmEvent]:
        assert alarm.escalates_to is not None
        alarm.priority, alarm.escalates_to, alarm.escalate_at = alarm.escalates_to, None, None
        alarm.acknowledged = False
        alarm.latching = alarm.latching or (alarm.priority == HIGH and alarm.kind == PHYSIOLOGICAL)
        held = fmt(now - alarm.onset)
        limit = self._limit_by_id.get(alarm.alarm_id)
        if limit is not None and alarm.value is not None and alarm.limit is not None:
            alarm.message = self._limit_message(limit, alarm.value, alarm.limit)
        alarm.message = f"{alarm.message.rsplit(' (', 1)[0]}; escalated to {alarm.priority} after {held} s ({alarm.rule})"
        events = [self._event(alarm, "escalated", now, alarm.message)]
        if self._outranks_pause(alarm):
            events.append(self._resume_audio(now, f"audio resumed: {alarm.alarm_id} escalated to {alarm.priority}"))
        return events

    def _stale(self, now: float) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for vital, quiet in self._tech.max_quiet_s.items():
            last = self._quiet_since.get(vital)
            key = f"{vital}_stale"
            if last is not None and now - last > quiet and key not in self._alarms and not self._explained(vital):
                text = f"{LABELS.get(vital, vital)} no valid data for {fmt(now - last)} s (max {fmt(quiet)} s)"
                events += self._raise_technical(key, "stale", text, vital, now - last, quiet, last + quiet, now)
        return events

    def _explained(self, vital: str) -> bool:
        """Whether a device condition already says why ``vital`` has no data."""
        conditions = (*self._condition_of.values(), *self._pending_conditions.values())
        return any(c.condition in NO_DATA_CONDITIONS and vital in c.vitals for c in conditions)

    def _nibp_overdue(self, now: float) -> list[AlarmEvent]:
        if not self._doses or self._last_nibp_t is None or "nibp_overdue" in self._alarms:
            return []
        since = max(self._last_nibp_t, self._doses[0][0])
        allowed = self.plan.nibp_interval_s + self._tech.nibp_overdue_grace_s
        if now - since <= allowed:
            return []
        text = f"NIBP overdue: last reading {fmt((now - self._last_nibp_t) / 60)} min ago, cycle {fmt(self.plan.nibp_interval_s / 60)} min"
        return self._raise_technical("nibp_overdue", "nibp_overdue", text, "sbp", now - self._last_nibp_t, allowed, since + allowed, now)

    def _window(self, c: Checkpoint) -> tuple[float, float]:
        t0 = self._doses[0][0]
        return t0 + (c.after_dose_min - c.window_min) * 60, t0 + (c.after_dose_min + c.window_min) * 60

    def _mark_checkpoints(self, t: float) -> None:
        if self._doses:
            self._checkpoints_done.update(c.id for c in self.plan.checkpoints if self._window(c)[0] <= t <= self._window(c)[1])

    def _missed_checkpoints(self, now: float) -> list[AlarmEvent]:
        if not self._doses:
            return []
        events: list[AlarmEvent] = []
        for c in self.plan.checkpoints:
            if c.id not in self._checkpoints_done and now > self._window(c)[1]:
                self._checkpoints_done.add(c.id)
                text = f"{c.message} not taken"
                alarm = ActiveAlarm(
                    alarm_id=c.id, priority=c.priority, kind=TECHNICAL, message=f"{text} ({self.plan.name}: {c.id})", since=now,
                    vital="sbp", value=None, limit=c.after_dose_min, rule=f"{self.plan.name}: {c.id}", onset=now,
                )
                events += self._raise(alarm, now)
        return events

    # ---------------------------------------------------------------- transitions

    def _raise(self, alarm: ActiveAlarm, t: float) -> list[AlarmEvent]:
        self._alarms[alarm.alarm_id] = alarm
        self._pending.pop(alarm.alarm_id, None)
        events = [self._event(alarm, "raised", t, alarm.message)]
        if self._outranks_pause(alarm):
            events.append(self._resume_audio(t, f"audio resumed: new {alarm.priority} alarm {alarm.alarm_id}"))
        return events

    def _outranks_pause(self, alarm: ActiveAlarm) -> bool:
        """Whether ``alarm`` outranks every alarm present when the audio was paused (which ends the pause)."""
        return self.audio_paused_until is not None and PRIORITY_RANK[alarm.priority] > self._pause_rank

    def _clear(self, alarm: ActiveAlarm, t: float, message: str) -> AlarmEvent:
        del self._alarms[alarm.alarm_id]
        self._condition_of.pop(alarm.alarm_id, None)
        return self._event(alarm, "cleared", t, message)

    def _resume_audio(self, t: float, message: str) -> AlarmEvent:
        self.audio_paused_until, self._pause_rank = None, 0
        return self._audio_event("audio_resumed", t, message, None)

    def _audio_event(self, event: str, t: float, message: str, who: str | None) -> AlarmEvent:
        top = self.active()[0] if self._alarms else None
        return AlarmEvent(
            t=t, event=event, alarm_id="audio", priority=top.priority if top else LOW, kind=top.kind if top else TECHNICAL,
            vital=None, value=None, limit=None, rule=f"{self.plan.name}: audio", message=message, who=who,
        )

    def _event(self, alarm: ActiveAlarm, event: str, t: float, message: str, who: str | None = None) -> AlarmEvent:
        return AlarmEvent(
            t=t, event=event, alarm_id=alarm.alarm_id, priority=alarm.priority, kind=alarm.kind, vital=alarm.vital,
            value=alarm.value, limit=alarm.limit, rule=alarm.rule, message=message, who=who, source=alarm.source,
        )


def run_session(
    engine: AlarmEngine, items: Iterable[Reading | Condition], doses: Iterable[Mapping[str, Any]] = (), tick_s: float = 1.0
) -> Iterator[AlarmEvent]:
    """Feed a whole session through ``engine`` in time order, ticking every ``tick_s`` between items.

    ``doses`` are sidecar-style mappings with ``t`` (and optionally ``mg``, ``end``); a dose is taken
    after the items stamped at the same time, so a cuff reading at the dose start counts as pre-dose.
    """
    pending = sorted(doses, key=lambda d: float(d["t"]))
    clock: float | None = None
    for item in items:
        while pending and float(pending[0]["t"]) < item.t:
            dose = pending.pop(0)
            clock = yield from _tick_until(engine, clock, float(dose["t"]), tick_s)
            yield from engine.on_dose(float(dose["t"]), mg=dose.get("mg"), end=dose.get("end"))
        clock = yield from _tick_until(engine, clock, item.t, tick_s)
        yield from engine.on_item(item)
    for dose in pending:
        yield from engine.on_dose(float(dose["t"]), mg=dose.get("mg"), end=dose.get("end"))


def _tick_until(engine: AlarmEngine, clock: float | None, t: float, tick_s: float) -> Generator[AlarmEvent, None, float]:
    """Tick from ``clock`` up to (not including) ``t``; return the new clock."""
    if clock is None:
        return t
    while clock + tick_s < t:
        clock += tick_s
        yield from engine.tick(clock)
    return max(clock, t)
