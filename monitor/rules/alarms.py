"""The alarm engine: a pure state machine driven by readings, doses and the times it is given.

Inspired by IEC 60601-1-8 (not compliant with it): physiological and technical alarms; high, medium
and low priority; condition delays; hysteresis; latching; acknowledgement; time-limited audio pause
with a reminder when it ends; escalation. It reads no clock and does no I/O: every method takes the
time, so the same engine runs live, in replay at any speed and in tests.

Time: every timed transition (a condition delay running out, escalation, stale data, NIBP overdue,
a missed key time point, a repeat NIBP not taken, the end of an audio pause) happens at its own due
time, stamped with that time, as soon as the engine is told that time has passed it. A transition
due at ``d`` fires when the engine reaches a later time (an input at ``t > d``, or ``tick(now)``
with ``now > d``); inputs at exactly ``d`` are taken first. So the transitions do not depend on how
often the engine is ticked: a whole recording fed at once gives what a live session gave. The engine
remembers the earliest due time its last scan of the timers found and skips the scan for inputs before it;
whatever could bring a transition earlier (a transition, a new delay, a dose, a condition, a changed sampling
interval, a late reading) makes it scan again.

Semantics, in short:

- A physiological limit raises once its condition has held on every trusted reading for ``delay_s``
  (zero-delay limits raise on the reading). A "no value" or questionable reading never raises one;
  it interrupts a pending delay, which then starts again.
- NIBP limits are judged on each discrete cuff reading; a limit with ``repeat_nibp_min`` asks for a
  repeat cuff reading within that time, and a technical alarm follows if none comes.
- The condition ends when the value is back past the limit by ``hysteresis``. A non-latching alarm
  then clears; a latching one stays (``latched``) until acknowledged. A new breach of a latched
  alarm is a new episode: it is ``raised`` again.
- Acknowledging silences an alarm until it clears; a latched alarm whose condition has ended clears
  on acknowledgement. Escalation to a higher priority cancels the acknowledgement.
- Audio pause silences the alarms present when it starts, for a set time; a new alarm of higher
  priority ends the pause; when it ends an ``audio_resumed`` reminder is emitted.
- Technical alarms (device conditions, stale data per vital, questionable values, NIBP overdue, a
  key BP not taken) are non-latching; condition and data alarms start LOW and become MEDIUM after
  ``escalate_after_s``. A vital is stale after the protocol's quiet time, or after a few of its own
  sampling intervals when the source samples more slowly (a monitor that sends once a minute).
- A charted observation (MOAA/S, dissociation, ...) is judged against the limits on its scale like a
  discrete reading; each scale the protocol charts falls due ``every_min`` after the first dose or its last
  charting, and once the session charts observations a LOW "overdue" reminder follows ``grace_min`` later
  until it is charted (``monitor.rules.observations``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from statistics import median

from devices.reading import Condition, Reading
from devices.vocabulary import (
    CONDITIONS,
    HIGH,
    LOW,
    MEDIUM,
    NIBP_VITALS,
    OK,
    PHYSIOLOGICAL,
    PRIORITY_RANK,
    QUESTIONABLE,
    SCALES,
    SCORE_UNIT,
    TECHNICAL,
)
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.baseline import Baseline, BaselineBuilder
from monitor.rules.observations import overdue_at
from monitor.rules.plan import Plan
from monitor.rules.protocol import Checkpoint, Limit, ObservationRule

LABELS = {
    "sbp": "SBP",
    "dbp": "DBP",
    "map": "MAP",
    "hr": "HR",
    "pr": "PR",
    "spo2": "SpO2",
    "pi": "PI",
    "rr": "RR",
    "etco2": "EtCO2",
    "pleth": "Pleth",
    **{s.name: s.label for s in SCALES.values()},
}

# Conditions that say the device has no data; a valid reading of the same vital (or, for conditions
# naming no vital, from the same source) shows the data is back and ends them.
NO_DATA_CONDITIONS = frozenset(CONDITIONS) - {"low_battery", "equipment_malfunction", "device_alarm"}

WORDS = {"below": "below", "at_most": "at or below", "above": "above", "at_least": "at or above"}
SAMPLING_HISTORY = 5  # intervals kept per vital to measure how often a source sends it
RECORDING_FAILED = "recording_failed"


@dataclass(slots=True)
class _Spell:
    """A time a source was without signal: its start, and its end (``None`` while it lasts)."""

    start: float
    end: float | None = None


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


@dataclass(frozen=True, slots=True)
class RepeatNibp:
    """A repeat cuff reading the protocol asks for after a reading breached ``limit_id``."""

    after: float
    due: float
    text: str


@dataclass(frozen=True, slots=True)
class Charted(Reading):
    """A charted observation's level in a reading's shape, so the engine judges it against the limits on its scale
    as it judges a discrete reading. It never leaves the engine (the record keeps observations as events)."""

    def __post_init__(self) -> None:
        if self.vital not in SCALES:
            raise ValueError(f"unknown observation scale {self.vital!r}")


def fmt(x: float) -> str:
    """A number as a nurse reads it: no trailing ``.0``."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def whole(x: float) -> int:
    """``x`` rounded half up to a whole number (as a nurse would round 131.5)."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


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


def limit_message(limit: Limit, value: float, threshold: float) -> str:
    """A breach in a nurse's words: ``SBP 186 - at or above 180``, ``SBP 174 - 43 above baseline 131``."""
    label = LABELS.get(limit.vital, limit.vital)
    if limit.vital in SCALES:  # a charted level, with what it means
        spec = SCALES[limit.vital]
        level = f"{spec.label} {fmt(value)} ({spec.words(int(value))})"
        return f"{spec.title}: {level} \u2014 {WORDS[limit.comparison]} {fmt(threshold)}"
    if limit.relative:
        base = whole(threshold - limit.threshold)
        return f"{label} {fmt(value)} \u2014 {fmt(value - base)} above baseline {base}"
    return f"{label} {fmt(value)} \u2014 {WORDS[limit.comparison]} {fmt(threshold)}"


@dataclass(frozen=True, slots=True)
class _Band:
    """The values of a vital inside every limit on it, under one plan, baseline and side of the first dose:
    ``low_ge <= x``, ``low_gt < x``, ``x <= high_le`` and ``x < high_lt`` (the limits "below", "at most", "above"
    and "at least")."""

    plan: Plan
    baseline: Baseline | None
    post_dose: bool
    low_ge: float
    low_gt: float
    high_le: float
    high_lt: float


class AlarmEngine:
    """Turns a session's readings, conditions and doses into alarm transitions under one plan.

    ``sampling`` gives the seconds between readings per vital when a recording states them;
    otherwise they are measured as readings arrive.
    """

    def __init__(self, plan: Plan, start: float, sampling: Mapping[str, float] | None = None) -> None:
        self.start = start
        self.now = start
        proto = plan.protocol
        self._tech = proto.technical
        # No timed transition is due before this time under the plan ``_timers_plan``: while inputs come earlier
        # the scan of every timer is skipped. Whatever could bring a transition earlier resets it; while a source
        # is without signal (its "intermittent signal" time is reckoned from now) every input scans.
        self._no_timer_before = -math.inf
        self._timers_plan = plan
        self._use(plan)
        self._alarms: dict[str, ActiveAlarm] = {}
        self._breaching: dict[str, dict[str, float]] = {}  # limit id -> source -> since when it breaches
        self._pending_conditions: dict[str, Condition] = {}
        self._pending_checks: dict[str, tuple[float, Reading]] = {}  # vital -> (onset, last questionable reading)
        self._doubted_cuff: dict[str, Reading] = {}  # sbp, dbp -> its latest questionable reading
        self._losses: dict[str, list[_Spell]] = {}  # source -> its spells without signal
        self._without_signal: set[str] = set()  # the sources whose last spell goes on
        self._condition_of: dict[str, Condition] = {}
        self._last_value: dict[str, float] = {}
        self._by_source: dict[
            tuple[str, str], tuple[float, float]
        ] = {}  # (vital, source) -> (t, value) of its newest trusted reading
        self._quiet_since: dict[str, float] = {v: start for v in self._tech.required}  # per vital: last valid reading, or
        # the end of a condition explaining the gap; a vital the protocol requires is watched from the start
        self._last_arrival: dict[str, float] = {}
        self._intervals: dict[str, deque[float]] = {}
        self._bands: dict[str, _Band] = {}  # per vital: the values inside every limit on it while none is under way
        self._disproves: dict[str, tuple[Plan, tuple[str, ...]]] = {}  # vital -> (plan, what its reading ends)
        self._measured: dict[str, float] = {}  # per vital: median of the last intervals, at most max_interval_s
        self._quiet_limits: dict[str, float] = {}  # per vital: ``_quiet_limit`` until its sampling interval changes
        self._stated = dict(sampling or {})
        self._last_nibp_t: float | None = None
        self._charted: dict[str, float] = {}  # scale -> when it was last charted
        self._doses: list[tuple[float, float | None]] = []
        self._last_dose_start: float | None = None
        self._checkpoints_done: set[str] = set()
        self._builder = BaselineBuilder(proto.baseline)
        self._baseline: Baseline | None = None
        self._pause_rank = 0
        self.audio_paused_until: float | None = None
        self.repeat_nibp: RepeatNibp | None = None

    def _use(self, plan: Plan) -> None:
        self.plan = plan
        self._timers_changed()
        self._limits: dict[str, list[Limit]] = {}
        self._limit_by_id = {p.limit.id: p.limit for p in plan.limits}
        for planned in plan.limits:
            self._limits.setdefault(planned.limit.vital, []).append(planned.limit)

    # ---------------------------------------------------------------- public API

    def replan(self, plan: Plan, t: float) -> list[AlarmEvent]:
        """Go on under a new plan from ``t`` (new screening answers: tighter or looser limits, another
        NIBP cycle); alarms already raised stay until their own rules end them."""
        events = self._advance(t)
        self._use(plan)
        self._breaching = {k: v for k, v in self._breaching.items() if k in self._limit_by_id}
        return events

    @property
    def baseline(self) -> Baseline | None:
        """The frozen baseline after the first dose; before it, the baseline so far."""
        return self._baseline if self._doses else self._builder.baseline()

    @property
    def first_dose_t(self) -> float | None:
        return self._doses[0][0] if self._doses else None

    @property
    def last_dose_start(self) -> float | None:
        """When the latest dose was given (None before any)."""
        return self._last_dose_start

    @property
    def last_dose_end(self) -> float | None:
        """When dosing ended: the latest end of any dose (its start if it had no duration), so a bolus given
        during an infusion does not end the infusion's observation early."""
        return max((t if end is None else end for t, end in self._doses), default=None)

    def latest(self, vital: str) -> float | None:
        """The newest trusted value of ``vital``."""
        return self._last_value.get(vital)

    def sampling_given(self) -> dict[str, float]:
        """The sampling intervals the recording stated (what a fresh engine for this session starts with)."""
        return dict(self._stated)

    def sampling_s(self, vital: str) -> float | None:
        """Seconds between readings of ``vital``: measured from the last few once there are two intervals
        (the local rate: a 1 Hz stretch of a mixed recording is judged as 1 Hz), before that the first
        estimate the recording gives; at most ``max_interval_s`` either way (None until known)."""
        if len(self._intervals.get(vital, ())) >= 2:
            return self._measured[vital]
        first = self._stated.get(vital, self._measured.get(vital))
        return None if first is None else min(first, self._tech.max_interval_s)

    def active(self) -> list[ActiveAlarm]:
        """Current alarms, highest priority first, as snapshots."""
        return [replace(a) for a in sorted(self._alarms.values(), key=lambda a: (-PRIORITY_RANK[a.priority], a.since))]

    def audio_priority(self, now: float) -> str | None:
        """The priority the audio signal should sound at now, or None for silence."""
        paused = self.audio_paused_until is not None and now < self.audio_paused_until
        loud = [
            a
            for a in self._alarms.values()
            if not a.acknowledged and not (paused and PRIORITY_RANK[a.priority] <= self._pause_rank)
        ]
        return max((a.priority for a in loud), key=PRIORITY_RANK.__getitem__, default=None)

    def on_item(self, item: Reading | Condition) -> list[AlarmEvent]:
        """Take one reading or device condition; return the transitions it causes (and those due before it)."""
        events = self._advance(item.t)
        return events + (self._on_condition(item) if isinstance(item, Condition) else self._on_reading(item))

    def tick(self, now: float) -> list[AlarmEvent]:
        """Let time pass up to ``now``: every timed transition due before it fires at its due time."""
        return self._advance(now)

    def on_dose(self, t: float, mg: float | None = None, end: float | None = None, **_details: object) -> list[AlarmEvent]:
        """A dose starting at ``t`` (an infusion may give its ``end``); the first freezes the baseline."""
        events = self._advance(t)
        if not self._doses:
            self._baseline = self._builder.baseline()
        self._doses.append((t, end))
        self._last_dose_start = t if self._last_dose_start is None else max(self._last_dose_start, t)
        self._timers_changed()
        return events

    def on_observation(self, t: float, scale: str, level: int) -> list[AlarmEvent]:
        """A level of an observation scale charted at ``t``: judged against the limits on the scale like a
        reading, and the scale's next charting falls due from it."""
        events = self._advance(t)
        self._charted[scale] = max(t, self._charted.get(scale, t))
        self._timers_changed()
        return events + self._on_reading(Charted(t, scale, float(level), SCORE_UNIT, "charted"))

    def charted(self, scale: str) -> float | None:
        """When ``scale`` was last charted (None: not yet)."""
        return self._charted.get(scale)

    def acknowledge(self, alarm_id: str, who: str, now: float) -> list[AlarmEvent]:
        """Silence one alarm until it clears; a latched alarm whose condition ended clears now.

        The acknowledgement applies to the alarm as it was before ``now``; anything that escalates
        at ``now`` is applied after it, and so is heard.
        """
        events = self._advance(now)
        alarm = self._alarms.get(alarm_id)
        if alarm is not None and not alarm.acknowledged:
            alarm.acknowledged = True
            events.append(self._event(alarm, "acknowledged", now, f"{alarm.message}: acknowledged by {who}", who=who))
            if alarm.latched:
                events.append(self._clear(alarm, now, f"{alarm.message}: latched alarm reset by {who}"))
        return events

    def event_alarm(self, alarm_id: str, priority: str, text: str, t: float, response: str = "") -> list[AlarmEvent]:
        """An alarm about something that happened at ``t`` (a dose outside the protocol, a dose given on
        hold): nothing to wait for, so it is latched at once and stays until acknowledged."""
        events = self._advance(t)
        alarm = ActiveAlarm(
            alarm_id=alarm_id,
            priority=priority,
            kind=TECHNICAL,
            message=text,
            since=t,
            vital=None,
            value=None,
            limit=None,
            rule=f"{self.plan.name}: {alarm_id}",
            onset=t,
            latching=True,
            condition_active=False,
            latched=True,
            response=response,
        )
        return events + self._raise(alarm, t)

    def recording(self, ok: bool, t: float, detail: str = "") -> list[AlarmEvent]:
        """The store stopped accepting writes (a HIGH technical alarm, until it does again) or resumed."""
        events = self._advance(t)
        alarm = self._alarms.get(RECORDING_FAILED)
        if not ok and alarm is None:
            text = f"recording failed — data not saved ({detail})" if detail else "recording failed — data not saved"
            events += self._raise(
                ActiveAlarm(
                    alarm_id=RECORDING_FAILED,
                    priority=HIGH,
                    kind=TECHNICAL,
                    message=text,
                    since=t,
                    vital=None,
                    value=None,
                    limit=None,
                    rule=f"{self.plan.name}: {RECORDING_FAILED}",
                    onset=t,
                    response="Keep watching the patient and the monitor; free disk space or call technical support",
                ),
                t,
            )
        elif ok and alarm is not None:
            events.append(self._clear(alarm, t, "recording resumed: everything held has been saved"))
        return events

    def pause_audio(self, who: str, now: float, seconds: float | None = None, speed: float = 1.0) -> list[AlarmEvent]:
        """Pause the audio of the alarms present now for ``seconds`` of session time (protocol default,
        capped at its maximum). The protocol's times are real time: at ``speed`` x (a demo, a replay)
        a pause lasts as long for the nurse's ears as it would live."""
        events = self._advance(now)
        audio = self.plan.protocol.audio
        length = min(audio.pause_s * speed if seconds is None else seconds, audio.max_pause_s * speed)
        self.audio_paused_until = now + length
        self._timers_changed()
        self._pause_rank = max((PRIORITY_RANK[a.priority] for a in self._alarms.values()), default=0)
        message = f"audio paused {fmt(length)} s by {who} ({len(self._alarms)} alarms active)"
        return [*events, self._audio_event("audio_paused", now, message, who)]

    # ---------------------------------------------------------------- readings

    def _on_reading(self, r: Reading) -> list[AlarmEvent]:
        self._arrived(r)
        if r.vital not in self._quiet_since or r.t < self.now:  # a vital watched from now, or a late reading:
            self._quiet_since.setdefault(r.vital, r.t)  # its stale time (or the NIBP's overdue time) comes earlier
            self._timers_changed()
        if r.status != OK:
            if r.status == QUESTIONABLE:  # an artefact in a measured signal: the delays run on
                return self._questionable(r)
            for limit in self._limits.get(r.vital, ()):  # the device has no value: a delay starts again
                self._breaching.get(limit.id, {}).pop(r.source, None)
            return []
        assert r.value is not None
        self._quiet_since[r.vital] = r.t
        self._last_value[r.vital] = r.value
        self._by_source[(r.vital, r.source)] = (r.t, r.value)
        events = self._data_back(r)
        if r.vital in NIBP_VITALS:
            self._last_nibp_t = r.t
            self._mark_checkpoints(r.t)
            if self.repeat_nibp is not None and r.t > self.repeat_nibp.after:
                self.repeat_nibp = None
        limits = self._limits.get(r.vital)
        if limits and not self._inside(r, self._bands.get(r.vital)):
            for limit in limits:
                events += self._judge(limit, r)
            self._settle_band(r, limits)
        if not self._doses and not any(a.kind == PHYSIOLOGICAL and a.condition_active for a in self._alarms.values()):
            self._builder.add(r)
        return events

    def _inside(self, r: Reading, band: _Band | None) -> bool:
        """Whether ``r`` lies inside ``band``, drawn for its vital under the limits in force at ``r.t``: then judging
        it against each limit changes nothing."""
        if band is None or band.plan is not self.plan or band.baseline is not self._baseline:
            return False
        if band.post_dose != self._post_dose(r.t):
            return False
        x = r.value
        assert x is not None
        return band.low_ge <= x and band.low_gt < x and x <= band.high_le and x < band.high_lt

    def _settle_band(self, r: Reading, limits: list[Limit]) -> None:
        """After ``r`` was judged: while no limit on its vital is under way (no source breaching, no alarm whose
        condition holds), the band of values inside every limit, for the readings after it; else none."""
        for limit in limits:
            alarm = self._alarms.get(limit.id)
            if self._breaching.get(limit.id) or (alarm is not None and alarm.condition_active):
                self._bands.pop(r.vital, None)
                return
        bounds = {"below": -math.inf, "at_most": -math.inf, "above": math.inf, "at_least": math.inf}
        for limit in limits:
            threshold = self._threshold(limit, r.t)
            if threshold is not None:
                side = limit.comparison if limit.comparison in bounds else "at_least"  # a rise: see ``violates``
                bounds[side] = (max if limit.low_side else min)(bounds[side], threshold)
        self._bands[r.vital] = _Band(
            self.plan, self._baseline, self._post_dose(r.t), *(bounds[side] for side in ("below", "at_most", "above", "at_least"))
        )

    def _post_dose(self, t: float) -> bool:
        """Whether ``t`` is at or after the first dose (the limits of phase ``post_dose`` apply)."""
        return bool(self._doses) and t >= self._doses[0][0]

    def _arrived(self, r: Reading) -> None:
        """Measure how often the source sends this vital (any status counts)."""
        last = self._last_arrival.get(r.vital)
        if last is not None and r.t > last:
            interval = r.t - last
            seen = self._intervals.get(r.vital)
            if seen is None:
                seen = self._intervals[r.vital] = deque(maxlen=SAMPLING_HISTORY)
            if len(seen) == SAMPLING_HISTORY and seen[0] == interval:
                seen.append(interval)  # one interval out, the same one in: the same median
            else:
                self._measure(r.vital, seen, interval)
        self._last_arrival[r.vital] = r.t if last is None else max(last, r.t)

    def _measure(self, vital: str, seen: deque[float], interval: float) -> None:
        """Take a new interval between readings of ``vital`` into its measured sampling interval."""
        measured = len(seen) >= 2  # the interval is the measured one before and after
        before = self._measured[vital] if measured else self.sampling_s(vital)
        seen.append(interval)
        self._measured[vital] = min(median(seen), self._tech.max_interval_s)
        if (self._measured[vital] if measured else self.sampling_s(vital)) != before:
            self._quiet_limits.pop(vital, None)  # the stale and "check sensor" times move with the interval
            self._timers_changed()

    def _questionable(self, r: Reading) -> list[AlarmEvent]:
        """A value kept but not trusted: after a while without a trusted one, "check sensor"."""
        if r.vital in ("sbp", "dbp"):
            self._doubted_cuff[r.vital] = r
        if f"{r.vital}_check" in self._alarms:
            return []
        onset = self._pending_checks[r.vital][0] if r.vital in self._pending_checks else r.t
        self._pending_checks[r.vital] = (onset, r)
        self._timers_changed()
        return self._advance_checks(r.t, inclusive=True)

    def _check_delay(self, vital: str) -> float:
        """How long questionable values may go on before "check sensor": at once for a cuff reading,
        else the condition delay or two of the source's own intervals, whichever is longer."""
        if vital in NIBP_VITALS:
            return 0.0
        interval = self.sampling_s(vital)
        return max(self._tech.condition_delay_s, 2 * interval) if interval else self._tech.condition_delay_s

    def _check_message(self, r: Reading) -> str:
        label = LABELS.get(r.vital, r.vital)
        assert r.value is not None
        rule = self.plan.protocol.plausible.get(r.vital)
        why = self._cuff_order_problem(r) or (rule.problem(r.value, None, 0.0) if rule else None)
        if why is None:  # a cuff's systolic is judged before its diastolic arrives: name what a measurement may show
            why = "diastolic not below systolic, " if r.vital in NIBP_VITALS else ""
            why += "sudden change or flagged by the device"
        return f"{label} {fmt(r.value)} questionable ({why}): check sensor"

    def _cuff_order_problem(self, r: Reading) -> str | None:
        """Why a cuff value is doubted when its measurement's diastolic is not below its systolic."""
        sbp, dbp = self._doubted_cuff.get("sbp"), self._doubted_cuff.get("dbp")
        if r.vital not in NIBP_VITALS or sbp is None or dbp is None or sbp.value is None or dbp.value is None:
            return None
        if sbp.t == dbp.t == r.t and sbp.source == dbp.source == r.source and dbp.value >= sbp.value:
            return f"diastolic {fmt(dbp.value)} not below systolic {fmt(sbp.value)}"
        return None

    def _data_back(self, r: Reading) -> list[AlarmEvent]:
        """Technical alarms that a trusted reading disproves: stale, questionable, overdue, key BP, no-data conditions."""
        if self._pending_checks.pop(r.vital, None) is not None:  # the vital can go stale again
            self._timers_changed()
        conditions = {**self._condition_of, **self._pending_conditions} if self._condition_of or self._pending_conditions else {}
        if not self._alarms and not conditions:  # nothing to end
            return []
        disproved = self._disproved_by(r.vital)
        ended = [] if self._alarms.keys().isdisjoint(disproved) else [k for k in disproved if k in self._alarms]
        for key, cond in conditions.items():
            if cond.condition in NO_DATA_CONDITIONS and (r.vital in cond.vitals if cond.vitals else r.source == cond.source):
                ended.append(key)
                self._pending_conditions.pop(key, None)
                self._spell(Condition(r.t, cond.condition, cond.source, active=False))
                self._timers_changed()
        if not ended:
            return []
        label = LABELS.get(r.vital, r.vital)
        return [
            self._clear(self._alarms[k], r.t, f"{self._alarms[k].message}: {label} {fmt(r.value or 0)} received")
            for k in ended
            if k in self._alarms
        ]

    def _disproved_by(self, vital: str) -> tuple[str, ...]:
        """The technical alarms a trusted reading of ``vital`` ends, under the plan in force."""
        plan, keys = self._disproves.get(vital, (None, ()))
        if plan is not self.plan:
            keys = (f"{vital}_stale", f"{vital}_check")
            if vital in NIBP_VITALS:
                keys += ("nibp_overdue", "nibp_repeat", *(c.id for c in self.plan.checkpoints))
            if vital in SCALES:
                keys += (f"{vital}_overdue",)
            self._disproves[vital] = (self.plan, keys)
        return keys

    def _threshold(self, limit: Limit, t: float) -> float | None:
        """The absolute threshold of ``limit`` at ``t``, or None while it does not apply."""
        if limit.phase == "post_dose" and not self._post_dose(t):
            return None
        if not limit.relative:
            return limit.threshold
        base = self._baseline.get(limit.vital) if self._baseline else None
        return None if base is None else base + limit.threshold

    def _judge(self, limit: Limit, r: Reading) -> list[AlarmEvent]:
        """Judge one trusted reading against one limit. Each source is judged on its own readings (two
        oximeters that disagree are two opinions, not one flickering value): the alarm's condition holds
        while any source breaches, and ends when every source that breached is back inside."""
        assert r.value is not None
        threshold = self._threshold(limit, r.t)
        breaching = self._breaching.get(limit.id)
        if threshold is None:
            if breaching:
                breaching.clear()
            return []
        bad = violates(limit.comparison, r.value, threshold)
        alarm = self._alarms.get(limit.id)
        active = alarm is not None and alarm.condition_active
        if not (bad or active or breaching):  # inside the limit with nothing under way: nothing changes
            return []
        if breaching is None:
            breaching = self._breaching[limit.id] = {}
        self._forget_silent(breaching, r)
        if bad and limit.repeat_nibp_min is not None:
            self._ask_repeat(limit, r, threshold)
        if active:
            assert alarm is not None
            if bad:
                breaching.setdefault(r.source, r.t)  # no timer while the alarm's condition is active
                alarm.value = r.value
            elif r.source in breaching and recovered(limit, r.value, threshold):
                del breaching[r.source]
            return [] if breaching else self._condition_ended(alarm, r)
        if not bad:
            breaching.pop(r.source, None)
            return []
        if r.source not in breaching:  # a condition delay starts
            breaching[r.source] = r.t
            self._timers_changed()
        onset = breaching[r.source]
        if r.t - onset >= limit.delay_s:
            return self._raise_limit(limit, r.value, threshold, onset, r.t, r.source)
        return []

    def _forget_silent(self, breaching: dict[str, float], r: Reading) -> None:
        """A source that breached and then fell silent for longer than ``r.vital`` may be quiet is no
        longer an opinion: its last value is not the patient's now, while ``r.source`` is."""
        if not breaching or r.vital not in self._tech.max_quiet_s or (len(breaching) == 1 and r.source in breaching):
            return
        quiet = self._quiet_limit(r.vital)
        for source in [s for s in breaching if s != r.source]:
            seen = self._by_source.get((r.vital, source))
            if seen is None or r.t - seen[0] > quiet:
                del breaching[source]

    def _ask_repeat(self, limit: Limit, r: Reading, threshold: float) -> None:
        assert limit.repeat_nibp_min is not None and r.value is not None
        due = r.t + limit.repeat_nibp_min * 60
        if self.repeat_nibp is None or due < self.repeat_nibp.due:
            text = f"Repeat NIBP within {fmt(limit.repeat_nibp_min)} min of {limit_message(limit, r.value, threshold)}"
            self.repeat_nibp = RepeatNibp(r.t, due, text)
            self._timers_changed()

    def _condition_ended(self, alarm: ActiveAlarm, r: Reading) -> list[AlarmEvent]:
        alarm.condition_active = False
        alarm.value = r.value
        label = LABELS.get(alarm.vital or "", alarm.vital)
        if alarm.latching and not alarm.acknowledged:
            alarm.latched = True
            return [
                self._event(alarm, "latched", r.t, f"{label} {fmt(r.value or 0)} back within limit; latched until acknowledged")
            ]
        return [self._clear(alarm, r.t, f"{label} {fmt(r.value or 0)} back within limit")]

    def _raise_limit(
        self, limit: Limit, value: float, threshold: float, onset: float, t: float, source: str | None
    ) -> list[AlarmEvent]:
        latched = self._alarms.get(limit.id)
        priority = limit.priority
        if latched is not None and PRIORITY_RANK[latched.priority] > PRIORITY_RANK[priority]:
            priority = latched.priority  # a new episode never sounds quieter than the latched one it joins
        alarm = ActiveAlarm(
            alarm_id=limit.id,
            priority=priority,
            kind=PHYSIOLOGICAL,
            message=limit_message(limit, value, threshold),
            since=t,
            vital=limit.vital,
            value=value,
            limit=threshold,
            rule=f"{self.plan.name}: {limit.id}",
            source=source,
            onset=onset,
            latching=limit.latching or (latched is not None and latched.latching),
            escalates_to=limit.escalate_to if PRIORITY_RANK.get(limit.escalate_to or "", 0) > PRIORITY_RANK[priority] else None,
            escalate_at=None if limit.escalate_after_s is None else onset + limit.escalate_after_s,
            response=limit.response,
        )
        if alarm.escalates_to is None:
            alarm.escalate_at = None
        return self._raise(alarm, t)

    # ---------------------------------------------------------------- device conditions

    def _on_condition(self, c: Condition) -> list[AlarmEvent]:
        if c.condition not in self._tech.conditions:
            return []
        self._timers_changed()
        if c.condition in NO_DATA_CONDITIONS:
            self._spell(c)
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

    def _spell(self, c: Condition) -> None:
        """Keep the spells a source has been without signal (for "intermittent signal")."""
        spells = self._losses.setdefault(c.source, [])
        open_ = bool(spells) and spells[-1].end is None
        if c.active and not open_:
            spells.append(_Spell(c.t))
            self._without_signal.add(c.source)
        elif not c.active and open_:
            spells[-1].end = c.t
            self._without_signal.discard(c.source)

    def _lost(self, source: str, t: float) -> float:
        """Seconds ``source`` was without signal in the window before ``t`` (old spells are forgotten)."""
        start = t - self._tech.signal_loss_window_s
        spells = self._losses.get(source, [])
        spells[:] = [s for s in spells if s.end is None or s.end > start]
        lost = sum(min(t, s.end if s.end is not None else t) - max(start, s.start) for s in spells if s.start < t)
        return lost if lost > 1e-6 else 0.0

    def _signal_loss_due(self, source: str) -> float | None:
        """When the source's losses could reach the limit (while it is without signal), or when its
        "intermittent signal" alarm can end (a whole window without a loss)."""
        spells = self._losses.get(source)
        if not spells:
            return None
        key = f"signal_loss:{source}"
        if key in self._alarms:
            end = spells[-1].end
            return None if end is None else end + self._tech.signal_loss_window_s
        if spells[-1].end is not None or self._condition_alarm(source):
            return None
        return self.now + max(0.01, self._tech.signal_loss_max_s - self._lost(source, self.now))

    def _condition_alarm(self, source: str) -> bool:
        """Whether a no-data condition of ``source`` already alarms (a sustained loss says it itself)."""
        return any(c.source == source and c.condition in NO_DATA_CONDITIONS for c in self._condition_of.values())

    def _signal_loss(self, source: str, t: float) -> list[AlarmEvent]:
        key = f"signal_loss:{source}"
        if key in self._alarms:  # due a whole window after the last spell ended
            del self._losses[source]
            return [self._clear(self._alarms[key], t, f"{self._alarms[key].message}: steady for a whole window")]
        lost = self._lost(source, t)
        if lost < self._tech.signal_loss_max_s or self._condition_alarm(source):
            return []
        text = (
            f"intermittent signal ({source}): lost for {fmt(lost)} s of the last {fmt(self._tech.signal_loss_window_s)} s "
            "in short spells"
        )
        return self._raise_technical(key, "signal_loss", text, None, lost, self._tech.signal_loss_max_s, t, t, source)

    def _raise_condition(self, key: str, c: Condition, t: float) -> list[AlarmEvent]:
        what = "/".join(LABELS.get(v, v) for v in c.vitals)
        detail = f": {c.detail}" if c.detail else ""
        text = f"{what + ' ' if what else ''}{CONDITIONS[c.condition]} ({c.source}){detail}"
        self._condition_of[key] = c
        return self._raise_technical(key, c.condition, text, c.vitals[0] if c.vitals else None, None, None, c.t, t, c.source)

    def _raise_technical(
        self,
        key: str,
        rule_id: str,
        text: str,
        vital: str | None,
        value: float | None,
        limit: float | None,
        onset: float,
        t: float,
        source: str | None = None,
        escalates: bool = True,
        priority: str = LOW,
        response: str | None = None,
    ) -> list[AlarmEvent]:
        alarm = ActiveAlarm(
            alarm_id=key,
            priority=priority,
            kind=TECHNICAL,
            message=text,
            since=t,
            vital=vital,
            value=value,
            limit=limit,
            rule=f"{self.plan.name}: {rule_id}",
            source=source,
            onset=onset,
            escalates_to=MEDIUM if escalates else None,
            escalate_at=t + self._tech.escalate_after_s if escalates else None,
            response=self._tech.response if response is None else response,
        )
        return self._raise(alarm, t)

    # ---------------------------------------------------------------- time

    def _next_timer(self) -> tuple[float, int, str] | None:
        """The transition due first: (due, kind, name); kinds in the order they fire at one instant."""
        due: list[tuple[float, int, str]] = []
        alarms = self._alarms
        for limit_id, sources in self._breaching.items():
            if not sources:  # most limits: no source breaches
                continue
            limit = self._limit_by_id.get(limit_id)
            alarm = alarms.get(limit_id)
            if limit is not None and (alarm is None or not alarm.condition_active):
                due.append((min(sources.values()) + limit.delay_s, 0, limit_id))
        for key, cond in self._pending_conditions.items():
            due.append((cond.t + self._tech.condition_delay_s, 1, key))
        for vital, (onset, _) in self._pending_checks.items():
            due.append((onset + self._check_delay(vital), 2, vital))
        for alarm in alarms.values():
            if alarm.escalate_at is not None and alarm.condition_active:
                due.append((alarm.escalate_at, 3, alarm.alarm_id))
        explaining = self._no_data_conditions()
        for vital in self._tech.max_quiet_s:
            if (stale := self._stale_due(vital, explaining)) is not None:
                due.append((stale, 4, vital))
        if (overdue := self._overdue_due()) is not None:
            due.append((overdue, 5, "nibp_overdue"))
        if self._doses:
            for c in self.plan.checkpoints:
                if c.id not in self._checkpoints_done:
                    due.append((self._window(c)[1], 6, c.id))
        if self.repeat_nibp is not None and "nibp_repeat" not in alarms:
            due.append((self.repeat_nibp.due, 7, "nibp_repeat"))
        if self.audio_paused_until is not None:
            due.append((self.audio_paused_until, 8, "audio"))
        for source in self._losses:
            if (lost := self._signal_loss_due(source)) is not None:
                due.append((lost, 9, source))
        for rule in self.plan.protocol.observations if self._charted else ():
            if f"{rule.scale}_overdue" not in self._alarms:
                if (overdue := overdue_at(rule, self.first_dose_t, self._charted.get(rule.scale))) is not None:
                    due.append((overdue, 10, rule.scale))
        return min(due) if due else None

    def _fire(self, kind: int, name: str, t: float) -> list[AlarmEvent]:
        """Make the transition ``_next_timer`` named happen at ``t``."""
        if kind == 0:
            return self._delay_over(name, t)
        if kind == 1:
            return self._condition_due(name, t)
        if kind == 2:
            return self._check_due(name, t)
        if kind == 3:
            return self._escalate(self._alarms[name], t)
        if kind == 4:
            return self._stale(name, t)
        if kind == 5:
            return self._nibp_overdue(t)
        if kind == 6:
            return self._missed_checkpoint(next(c for c in self.plan.checkpoints if c.id == name), t)
        if kind == 7:
            return self._repeat_missed(t)
        if kind == 8:
            return self._pause_over(t)
        if kind == 9:
            return self._signal_loss(name, t)
        return self._observation_overdue(next(o for o in self.plan.protocol.observations if o.scale == name), t)

    def _advance(self, now: float) -> list[AlarmEvent]:
        """Fire every timed transition due before ``now``, in time order, each at its due time."""
        events: list[AlarmEvent] = []
        if now > self._no_timer_before or self.plan is not self._timers_plan or self._without_signal:
            while (timer := self._next_timer()) is not None and timer[0] < now:
                due, kind, name = timer
                self.now = max(self.now, due)
                events += self._fire(kind, name, self.now)
            self._no_timer_before = math.inf if timer is None else timer[0]
            self._timers_plan = self.plan
        self.now = max(self.now, now)
        return events

    def _timers_changed(self) -> None:
        """A timed transition may now fall due earlier than the last scan found: scan again on the next input."""
        self._no_timer_before = -math.inf

    def _advance_checks(self, t: float, inclusive: bool) -> list[AlarmEvent]:
        """Raise "check sensor" alarms whose delay has run out at ``t`` (a zero delay raises on the reading)."""
        events: list[AlarmEvent] = []
        for vital, (onset, _) in list(self._pending_checks.items()):
            due = onset + self._check_delay(vital)
            if due < t or (inclusive and due <= t):
                events += self._check_due(vital, t)
        return events

    def _delay_over(self, limit_id: str, t: float) -> list[AlarmEvent]:
        """A condition delay ran out: raise if the source that has breached longest still does."""
        limit = self._limit_by_id[limit_id]
        sources = self._breaching[limit_id]
        source, onset = min(sources.items(), key=lambda x: x[1])
        threshold = self._threshold(limit, t)
        value = self._by_source.get((limit.vital, source), (None, None))[1]
        if threshold is not None and value is not None and violates(limit.comparison, value, threshold):
            return self._raise_limit(limit, value, threshold, onset, t, source)
        del sources[source]
        return []

    def _condition_due(self, key: str, t: float) -> list[AlarmEvent]:
        cond = self._pending_conditions.pop(key)
        return self._raise_condition(key, cond, t)

    def _check_due(self, vital: str, t: float) -> list[AlarmEvent]:
        onset, r = self._pending_checks.pop(vital)
        return self._raise_technical(
            f"{vital}_check", "plausible", self._check_message(r), vital, r.value, None, onset, t, r.source
        )

    def _escalate(self, alarm: ActiveAlarm, now: float) -> list[AlarmEvent]:
        assert alarm.escalates_to is not None
        alarm.priority, alarm.escalates_to, alarm.escalate_at = alarm.escalates_to, None, None
        alarm.acknowledged = False
        alarm.latching = alarm.latching or (alarm.priority == HIGH and alarm.kind == PHYSIOLOGICAL)
        held = fmt(now - alarm.onset)
        limit = self._limit_by_id.get(alarm.alarm_id)
        if limit is not None and alarm.value is not None and alarm.limit is not None:
            alarm.message = limit_message(limit, alarm.value, alarm.limit)
        alarm.message = f"{alarm.message.split('; escalated')[0]}; escalated to {alarm.priority} after {held} s"
        events = [self._event(alarm, "escalated", now, alarm.message)]
        if self._outranks_pause(alarm):
            events.append(self._resume_audio(now, f"audio resumed: {alarm.alarm_id} escalated to {alarm.priority}"))
        return events

    def _quiet_limit(self, vital: str) -> float:
        """Seconds without trusted data before ``vital`` is stale: the protocol's quiet time, or a few
        of the source's own sampling intervals when that is longer."""
        known = self._quiet_limits.get(vital)
        if known is None:
            interval = self.sampling_s(vital)
            quiet = self._tech.max_quiet_s[vital]
            known = self._quiet_limits[vital] = max(quiet, self._tech.stale_intervals * interval) if interval else quiet
        return known

    def _stale_due(self, vital: str, explaining: list[Condition]) -> float | None:
        """When ``vital`` goes stale, unless it is already or the no-data conditions ``explaining`` say why it is quiet."""
        last = self._quiet_since.get(vital)
        if last is None or f"{vital}_stale" in self._alarms or self._explained(vital, explaining):
            return None
        return last + self._quiet_limit(vital)

    def _stale(self, vital: str, t: float) -> list[AlarmEvent]:
        last = self._quiet_since[vital]
        quiet = self._quiet_limit(vital)
        text = f"{LABELS.get(vital, vital)}: no valid data for over {fmt(quiet)} s"
        return self._raise_technical(f"{vital}_stale", "stale", text, vital, None, quiet, last + quiet, t)

    def _no_data_conditions(self) -> list[Condition]:
        """The device conditions, present or pending, that mean no data (sensor off...)."""
        conditions = (*self._condition_of.values(), *self._pending_conditions.values())
        return [c for c in conditions if c.condition in NO_DATA_CONDITIONS]

    def _explained(self, vital: str, explaining: list[Condition]) -> bool:
        """Whether a no-data condition of ``explaining`` or a questionable-value alarm already says why ``vital`` has no data."""
        if f"{vital}_check" in self._alarms or vital in self._pending_checks:
            return True
        return any(vital in c.vitals for c in explaining)

    def _overdue_due(self) -> float | None:
        if not self._doses or self._last_nibp_t is None or "nibp_overdue" in self._alarms:
            return None
        return max(self._last_nibp_t, self._doses[0][0]) + self.plan.nibp_interval_s + self._tech.nibp_overdue_grace_s

    def _nibp_overdue(self, t: float) -> list[AlarmEvent]:
        allowed = self.plan.nibp_interval_s + self._tech.nibp_overdue_grace_s
        text = f"NIBP overdue: no cuff reading for over {fmt(allowed / 60)} min (cycle {fmt(self.plan.nibp_interval_s / 60)} min)"
        return self._raise_technical("nibp_overdue", "nibp_overdue", text, "sbp", None, allowed, t, t)

    def _window(self, c: Checkpoint) -> tuple[float, float]:
        t0 = self._doses[0][0]
        return t0 + (c.after_dose_min - c.window_min) * 60, t0 + (c.after_dose_min + c.window_min) * 60

    def _mark_checkpoints(self, t: float) -> None:
        if self._doses:
            self._checkpoints_done.update(c.id for c in self.plan.checkpoints if self._window(c)[0] <= t <= self._window(c)[1])

    def _missed_checkpoint(self, c: Checkpoint, t: float) -> list[AlarmEvent]:
        self._checkpoints_done.add(c.id)
        alarm = ActiveAlarm(
            alarm_id=c.id,
            priority=c.priority,
            kind=TECHNICAL,
            message=f"{c.message} not taken",
            since=t,
            vital="sbp",
            value=None,
            limit=c.after_dose_min,
            rule=f"{self.plan.name}: {c.id}",
            onset=t,
        )
        return self._raise(alarm, t)

    def _repeat_missed(self, t: float) -> list[AlarmEvent]:
        assert self.repeat_nibp is not None
        text = f"{self.repeat_nibp.text}: not taken"
        return self._raise_technical(
            "nibp_repeat", "repeat_nibp", text, "sbp", None, None, t, t, escalates=False, priority=self._tech.repeat_nibp_priority
        )

    def _observation_overdue(self, rule: ObservationRule, t: float) -> list[AlarmEvent]:
        spec = SCALES[rule.scale]
        allowed = (rule.every_s + rule.grace_s) / 60
        last = self._charted.get(rule.scale)
        since = "since the first dose" if last is None or last < (self.first_dose_t or 0.0) else "since it was last charted"
        text = f"{spec.name_text} overdue: not charted for over {fmt(allowed)} min {since} (every {fmt(rule.every_min)} min)"
        key = f"{rule.scale}_overdue"
        return self._raise_technical(
            key, "observation_overdue", text, rule.scale, None, allowed, t, t, escalates=False, response=f"Chart {spec.label} now"
        )

    def _pause_over(self, t: float) -> list[AlarmEvent]:
        return [self._resume_audio(t, f"audio pause ended: {len(self._alarms)} alarms active")]

    # ---------------------------------------------------------------- transitions

    def _raise(self, alarm: ActiveAlarm, t: float) -> list[AlarmEvent]:
        self._alarms[alarm.alarm_id] = alarm
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
        self._timers_changed()
        top = self.active()[0] if self._alarms else None
        return AlarmEvent(
            t=t,
            event=event,
            alarm_id="audio",
            priority=top.priority if top else LOW,
            kind=top.kind if top else TECHNICAL,
            vital=None,
            value=None,
            limit=None,
            rule=f"{self.plan.name}: audio",
            message=message,
            who=who,
        )

    def _event(self, alarm: ActiveAlarm, event: str, t: float, message: str, who: str | None = None) -> AlarmEvent:
        self._timers_changed()  # every transition changes what is timed (escalation, stale data explained...)
        return AlarmEvent(
            t=t,
            event=event,
            alarm_id=alarm.alarm_id,
            priority=alarm.priority,
            kind=alarm.kind,
            vital=alarm.vital,
            value=alarm.value,
            limit=alarm.limit,
            rule=alarm.rule,
            message=message,
            who=who,
            source=alarm.source,
        )
