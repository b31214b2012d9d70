"""One session's rules, fed in time order: the one path every recording takes.

Live monitoring, a paced replay, a full-speed record (imports, tests, benchmarks), ``kapmon alarms``
and resuming after a crash all feed a :class:`SessionRules`, so the same recording under the same
protocol gives the same alarm transitions and dosing decisions whichever way it is run.

- ``admit`` marks implausible readings questionable (before they are stored).
- ``add`` buffers inputs: readings, device conditions, charted observations and doses. They are fed to
  the alarm engine in time order; at one instant readings, conditions and observations come before doses
  (a cuff reading taken at the dose start counts as pre-dose).
- ``advance(h)`` feeds every input stamped before ``h`` and lets time pass up to ``h``: a caller
  passes the time up to which its sources have delivered everything (a live clock, or how far a
  replay has got), so nothing is judged before the data that precedes it has arrived.
- ``finish(end)`` feeds everything up to the end of the recording and lets time pass to it.
- ``act`` applies a nurse's or physician's action at a time, after every input up to that time.

Outputs are the engine's alarm transitions and every change of the dosing decision, in time order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from devices.io.recording import Recording
from devices.reading import Condition, Item, Reading
from devices.vocabulary import HIGH, PRIORITY_RANK, WAVEFORMS
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.alarms import AlarmEngine
from monitor.rules.baseline import Baseline
from monitor.rules.dosing import CLEAR, Decision, DoseProblem, PredoseReadings, bp_expires, decide, dose_problems
from monitor.rules.plan import GATE, Finding, Plan, make_plan
from monitor.rules.plan import override as override_plan
from monitor.rules.plausibility import PlausibilityCheck
from monitor.session.model import Dose, Observation

HOLD_EVENTS = ("raised", "latched", "cleared")
DECISION_VITALS = ("sbp", "dbp", "spo2")


@dataclass(frozen=True, slots=True)
class DosingChange:
    """The dosing decision changed at ``t``."""

    t: float
    decision: Decision

    def as_dict(self, start: float = 0.0) -> dict:
        """The JSON shape: ``{"t", "event": "dosing", "state", "reasons"}`` with ``t`` from ``start``."""
        return {"t": self.t - start, "event": "dosing", "state": self.decision.state, "reasons": self.decision.reasons}


@dataclass(frozen=True, slots=True)
class BaselineSet:
    """The baseline froze at the first dose (``None``: there were no pre-dose readings)."""

    t: float
    baseline: Baseline | None


Output = AlarmEvent | DosingChange | BaselineSet
Input = Reading | Condition | Observation | Dose


class SessionRules:
    """The alarm engine, the plausibility check and the dosing decision of one session, fed in order."""

    def __init__(
        self, plan: Plan, start: float, sampling: Mapping[str, float] | None = None, weight_kg: float | None = None
    ) -> None:
        self.engine = AlarmEngine(plan, start, sampling)
        self.start = start
        self.weight_kg = weight_kg
        self._given_mg = 0.0
        self._check = PlausibilityCheck(plan.protocol.plausible)
        self._readings = PredoseReadings(plan.protocol.baseline.window_s)
        self._holds: dict[str, Finding] = {}
        self._expired = -math.inf  # the last time a pre-dose BP went out of date
        self._held_changed_at: float | None = None
        self._queue: list[Input] = []  # in the order they are fed (``_feed_order``), then as they were added
        self.decision = decide(plan, self._readings)
        self._decided_on = self._decision_inputs(None)
        self._unreported: list[Output] = [DosingChange(start, self.decision)]

    @property
    def plan(self) -> Plan:
        return self.engine.plan

    # ---------------------------------------------------------------- inputs

    def admit(self, items: Iterable[Item]) -> list[Item]:
        """``items`` as they are to be stored: implausible readings marked questionable."""
        return self._check.admit(items)

    def add(self, inputs: Iterable[Input]) -> None:
        """Buffer readings, conditions, observations and doses; they are fed in time order by
        ``advance``/``finish``/``act``."""
        self._queue += inputs
        self._queue.sort(key=_feed_order)  # stable, and in about linear time as most arrive in order

    def advance(self, horizon: float) -> list[Output]:
        """Feed every input stamped before ``horizon``, then let time pass up to it."""
        out = self._feed(horizon, inclusive=False)
        return out + self._expire(horizon) + self._outputs(self.engine.tick(horizon))

    def finish(self, end: float) -> list[Output]:
        """Feed every input up to ``end`` (the end of the recording), then let time pass to it."""
        out = self._feed(end)
        return out + self._expire(end) + self._outputs(self.engine.tick(end))

    def act(self, t: float, action: Callable[[AlarmEngine], list[AlarmEvent]]) -> list[Output]:
        """Apply an action (acknowledge, pause audio...) at ``t``, after every input up to ``t``."""
        out = self._feed(t)
        return out + self._expire(t) + self._outputs(action(self.engine))

    def rescreen(self, answers: Mapping[str, object], t: float) -> list[Output]:
        """New screening answers (parsed) from ``t``: a new plan, the physicians' overrides kept."""
        out = self._feed(t)
        plan = make_plan(self.plan.protocol, answers, self.plan.route.name, self.plan.overrides)
        out += self._outputs(self.engine.replan(plan, t))
        return out + self._decide(t)

    def override(self, finding_id: str, physician: str, reason: str, t: float) -> list[Output]:
        """A named physician lifts an open block or gate with a reason (``ValueError`` if it is not open)."""
        out = self._feed(t)
        finding = next((f for f in self.decision.findings if f.id == finding_id), None)
        if finding is None:
            raise ValueError(f"{finding_id} is not an open block or gate")
        self.engine.plan, event = override_plan(self.plan, finding, physician, reason, t)
        return out + self._outputs([event]) + self._decide(t)

    # ---------------------------------------------------------------- feeding

    def _feed(self, until: float, inclusive: bool = True) -> list[Output]:
        """Feed buffered inputs stamped before ``until`` (or at it, when ``inclusive``); the dosing decision is
        judged once all inputs of an instant are in (a cuff measurement's systolic and diastolic together)."""
        out = list(self._unreported)
        self._unreported.clear()
        judge_at: float | None = None
        queue, fed = self._queue, 0
        expires = bp_expires(self.plan, self._readings)
        try:
            while fed < len(queue) and (queue[fed].t <= until if inclusive else queue[fed].t < until):
                x = queue[fed]
                fed += 1
                if judge_at is not None and x.t != judge_at:
                    out += self._decide(judge_at)
                    judge_at = None
                if expires is not None and self._expired < expires < x.t:
                    out += self._expire(x.t)
                if isinstance(x, Dose):
                    out += self._decide(x.t)  # what this instant brings (its readings, a BP going out of date) comes first
                    judge_at = None
                    first = self.engine.first_dose_t is None
                    events = self.engine.on_dose(x.t, mg=x.mg, end=x.end, route=x.route, drug=x.drug)
                    if first:
                        out.append(BaselineSet(x.t, self.engine.baseline))
                    events += self._judge_dose(x)
                elif isinstance(x, Observation):
                    events = self.engine.on_observation(x.t, x.scale, x.level)
                else:
                    events = self.engine.on_item(x)
                    if isinstance(x, Reading) and x.vital in DECISION_VITALS:
                        self._readings.add(x, self.plan.protocol.gates, self.plan.screening.get("age"))
                        expires = bp_expires(self.plan, self._readings)
                        judge_at = x.t
                if events:
                    out += self._outputs(events, instant=x.t)
                if self._held_changed_at is not None:
                    judge_at, self._held_changed_at = x.t, None
        finally:
            del queue[:fed]
        if judge_at is not None:
            out += self._decide(judge_at)
        return out

    def _outputs(self, events: list[AlarmEvent], instant: float | None = None) -> list[Output]:
        """The engine's transitions, each followed by the dosing change it causes (a hold starting or
        ending); a hold changing at ``instant`` is judged by the caller once the instant is complete."""
        out: list[Output] = []
        for e in events:
            out.append(e)
            if e.event in HOLD_EVENTS and self._holds_dosing(e.alarm_id):
                if e.event == "raised":
                    self._holds[e.alarm_id] = Finding(
                        e.alarm_id, GATE, f"hold while {e.message}", e.rule, True, overridable=False
                    )
                else:
                    self._holds.pop(e.alarm_id, None)
                if e.t == instant:
                    self._held_changed_at = e.t
                else:
                    out += self._decide(e.t)
        return out

    def dose_problems(self, dose: Dose) -> list[DoseProblem]:
        """Where ``dose`` would be outside the protocol's bounds, given what this session has had."""
        minutes = None if dose.end is None else (dose.end - dose.t) / 60
        return dose_problems(self.plan.route.bounds, dose.mg, minutes, self.weight_kg, self._given_mg)

    def _judge_dose(self, dose: Dose) -> list[AlarmEvent]:
        """Alarms for a dose outside the protocol's bounds, or given while dosing was not clear."""
        problems = self.dose_problems(dose)
        self._given_mg += dose.mg
        events: list[AlarmEvent] = []
        if problems:
            top = max((p.priority for p in problems), key=PRIORITY_RANK.__getitem__)
            bounds = self.plan.route.bounds
            text = f"dose {dose.mg:g} mg: " + "; ".join(p.text for p in problems)
            events += self.engine.event_alarm("dose_bounds", top, text, dose.t, bounds.response if bounds else "")
        if self.decision.state != CLEAR:
            text = f"dose {dose.mg:g} mg given while {self.decision.headline()}"
            events += self.engine.event_alarm("dose_on_hold", HIGH, text, dose.t, "Stop and check the order; call the prescriber")
        return events

    def _holds_dosing(self, alarm_id: str) -> bool:
        return any(p.limit.id == alarm_id and p.limit.holds_dosing for p in self.plan.limits)

    def _expire(self, t: float) -> list[Output]:
        """The latest pre-dose BP becoming too old to dose on before ``t`` changes the decision then."""
        expires = bp_expires(self.plan, self._readings)
        if expires is None or expires >= t or expires <= self._expired:
            return []
        self._expired = expires
        return self._decide(expires)

    def _decision_inputs(self, now: float | None) -> tuple:
        """Everything ``decide`` reads: the plan, the readings' version, the holds, whether the latest BP is out of
        date at ``now``, the last dose. The same inputs give the same decision, word for word."""
        expires = bp_expires(self.plan, self._readings)
        stale_bp = now is not None and expires is not None and now >= expires
        return self.plan, self._readings.version, tuple(self._holds.values()), stale_bp, self.engine.last_dose_start

    def _decide(self, t: float) -> list[Output]:
        inputs = self._decision_inputs(t)
        if inputs == self._decided_on:
            return []  # the decision in force is what ``decide`` would give again
        self._decided_on = inputs
        decision = decide(self.plan, self._readings, inputs[2], t, inputs[4])
        if decision.key == self.decision.key:
            self.decision = decision  # the same findings, with the latest values in their words
            return []
        self.decision = decision
        return [DosingChange(t, decision)]


def _feed_order(x: Input) -> tuple[float, bool]:
    """Inputs are fed in time order; at one instant readings, conditions and observations before doses."""
    return x.t, isinstance(x, Dose)


def scripted_doses(metadata: Mapping, start: float, route: str) -> list[Dose]:
    """The doses a recording's sidecar (or a scenario) lists, at absolute times from ``start``."""
    return [
        Dose(
            t=start + float(d["t"]),
            route=d.get("route") or route,
            drug=d.get("drug") or "",
            mg=float(d["mg"]),
            end=None if d.get("end") is None else start + float(d["end"]),
        )
        for d in metadata.get("doses") or ()
    ]


def scripted_observations(metadata: Mapping, start: float) -> list[Observation]:
    """The observations a recording's sidecar (or a scenario) charts, at absolute times from ``start``."""
    return [
        Observation(start + float(o["t"]), o["scale"], int(o["level"]), o.get("who") or "")
        for o in metadata.get("observations") or ()
    ]


def judge_recording(plan: Plan, recording: Recording) -> list[Output]:
    """Run a whole recording (its readings, conditions, sidecar doses and observations) through the rules at once,
    with session start 0: what a live session, a replay or an import of it decides."""
    weight = (recording.metadata.get("patient") or {}).get("weight_kg")
    rules = SessionRules(plan, 0.0, sampling=recording.sampling_s(), weight_kg=weight)
    items = rules.admit(recording.items)
    rules.add(judged(items))
    rules.add(scripted_doses(recording.metadata, 0.0, plan.route.name))
    rules.add(scripted_observations(recording.metadata, 0.0))
    return rules.finish(recording.end)


def judged(items: Iterable[Item]) -> list[Reading | Condition]:
    """The items the rules judge: device conditions and numeric readings (never a waveform's samples)."""
    return [i for i in items if isinstance(i, Condition) or (isinstance(i, Reading) and i.vital not in WAVEFORMS)]


def alarm_events(outputs: Iterable[Output]) -> list[AlarmEvent]:
    """Only the alarm transitions of some outputs."""
    return [o for o in outputs if isinstance(o, AlarmEvent)]
