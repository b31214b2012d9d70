"""Protocol files: a clinic's rules in TOML, loaded with the standard library and validated.

A protocol holds every number the monitor acts on (limits, delays, priorities, gates, screening
actions, check times, discharge criteria). Every table except ``[protocol]`` carries a ``source``
(where its numbers come from) and ``verified`` (whether that source states them). A bad file
raises :class:`ProtocolError` naming the file, the line and the field. The file's schema (``ProtocolSchema``)
is a set of pydantic models (devices/schema.py) whose validators hold the clinical checks; it builds the frozen dataclasses below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from devices.errors import ConfigError
from devices.schema import FieldProblem, FileModel, check, one_of, parse_toml, rule, shown, toml_lines
from devices.screening import NUMBER, QUESTIONS, YES_NO, unknown_key_message
from devices.vocabulary import CONDITIONS, MEASURES, NIBP_VITALS, PRIORITIES, PRIORITY_RANK, ROUTE_SPECS, ROUTES, SCALES, VITALS

COMPARISONS = {"below": "<", "at_most": "<=", "above": ">", "at_least": ">=", "rise": "rise >="}
LOW_SIDE = ("below", "at_most")
PHASES = ("any", "post_dose")
ACTIONS = ("gate", "block")


class ProtocolError(ConfigError):
    """A protocol file that cannot be used, located by file, line and field."""


# ---------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class Cited:
    """Where a rule's numbers come from."""

    source: str
    verified: bool


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    version: str
    reviewed_by: str
    reviewed_on: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A key time point after the first dose by which a BP reading is expected (e.g. ~40 min)."""

    id: str
    after_dose_min: float
    window_min: float
    priority: str
    message: str
    cited: Cited


@dataclass(frozen=True, slots=True)
class ObservationRule:
    """An observation scale the nurse charts every ``every_min`` from the first dose; it is overdue
    ``grace_min`` after that (what a level triggers is a [[limit]] on the scale's name)."""

    scale: str
    every_min: float
    grace_min: float
    cited: Cited

    @property
    def every_s(self) -> float:
        return self.every_min * 60

    @property
    def grace_s(self) -> float:
        return self.grace_min * 60


@dataclass(frozen=True, slots=True)
class DoseBounds:
    """The doses a protocol allows on one route: per dose (mg/kg and mg), per session, infusion length.

    A range is (lowest, highest); a bound the protocol does not state is None."""

    cited: Cited
    single_mg_per_kg: tuple[float, float] | None = None
    single_mg: tuple[float, float] | None = None
    session_mg_per_kg: float | None = None
    session_mg: float | None = None
    infusion_min: tuple[float, float] | None = None
    response: str = ""


@dataclass(frozen=True, slots=True)
class RouteRules:
    name: str
    drug: str
    dose: str
    observation_min: float
    nibp_interval_min: float
    checkpoints: tuple[Checkpoint, ...]
    cited: Cited
    predose_bp_required: bool = False
    bounds: DoseBounds | None = None
    predose_bp_max_age_min: float | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """A pre-dose check on the latest readings: ``gate`` asks for a re-measure and acknowledgement,
    ``block`` stops dosing. With ``recheck_after_min`` a reading below the limit only lifts it when
    taken at least that long after the last reading that breached it (rest before re-measuring)."""

    id: str
    action: str
    message: str
    cited: Cited
    sbp_above: float | None = None
    dbp_above: float | None = None
    sbp_at_least: float | None = None
    dbp_at_least: float | None = None
    spo2_below: float | None = None
    min_age: int | None = None
    max_age: int | None = None
    recheck_after_min: float | None = None
    hysteresis: float = 0.0  # an SpO2 gate opened below its limit closes only at the limit + hysteresis

    @property
    def on_bp(self) -> bool:
        """Whether this gate is judged on cuff readings (else on SpO2)."""
        return any(v is not None for v in (self.sbp_above, self.dbp_above, self.sbp_at_least, self.dbp_at_least))


@dataclass(frozen=True, slots=True)
class ScreeningItem:
    """One screening answer and what it does to the plan when it applies."""

    id: str
    key: str
    question: str
    reason: str
    cited: Cited
    when: Annotated[object, rule(lambda v: None if isinstance(v, (bool, str)) else f"must be bool or str, got {shown(v)}")] = None
    at_least: float | None = None
    block: bool = False
    overridable: bool = True
    gate: bool = False
    tighten: dict[str, float] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    nibp_interval_min: float | None = None
    extend_observation_min: float = 0.0
    checks: tuple[str, ...] = ()
    lifted_by: str | None = None

    def applies(self, answer: object, answers: Mapping[str, object] | None = None) -> bool:
        """Whether this item's action applies to the patient's answer (and is not lifted by ``lifted_by``
        being answered yes in ``answers``)."""
        if answer is None or (self.lifted_by and answers is not None and answers.get(self.lifted_by) is True):
            return False
        if self.at_least is not None:
            return isinstance(answer, (int, float)) and not isinstance(answer, bool) and answer >= self.at_least
        return answer == self.when


@dataclass(frozen=True, slots=True)
class Limit:
    """One alarm limit: ``vital`` compared with ``threshold`` (absolute, or a rise over baseline)."""

    id: str
    vital: str
    comparison: str
    threshold: float
    priority: str
    delay_s: float
    hysteresis: float
    latching: bool
    escalate_after_s: float | None
    escalate_to: str | None
    phase: str
    cited: Cited
    response: str = ""
    repeat_nibp_min: float | None = None
    holds_dosing: bool = False

    @property
    def relative(self) -> bool:
        return self.comparison == "rise"

    @property
    def low_side(self) -> bool:
        return self.comparison in LOW_SIDE


@dataclass(frozen=True, slots=True)
class Technical:
    """Technical alarms: device conditions, stale data, NIBP overdue, questionable values.

    A vital is stale after ``max_quiet_s`` without valid data, or after ``stale_intervals`` of its
    own sampling interval when that is longer (a monitor that sends once a minute); the interval is
    taken as stated by the recording or measured, at most ``max_interval_s``. A source whose signal
    keeps dropping out for short spells (each under the condition delay: a flapping cable) raises
    "intermittent signal" once its losses add up to ``signal_loss_max_s`` within ``signal_loss_window_s``.
    """

    condition_delay_s: float
    escalate_after_s: float
    max_quiet_s: dict[str, float]
    nibp_overdue_grace_s: float
    conditions: tuple[str, ...]
    cited: Cited
    response: str = ""
    stale_intervals: float = 3.0
    max_interval_s: float = 300.0
    repeat_nibp_priority: str = "medium"
    signal_loss_window_s: float = 60.0
    signal_loss_max_s: float = 15.0
    required: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plausible:
    """What a real value of one vital can be: a range, and how fast it can change (per second).
    A value outside it is kept in the record as questionable and raises "check sensor", never a
    physiological alarm."""

    vital: str
    low: float
    high: float
    max_change_per_s: float | None
    cited: Cited

    def problem(self, value: float, previous: float | None, dt: float) -> str | None:
        """Why ``value`` is not plausible (given the previous value ``dt`` seconds earlier), or None."""
        if not self.low <= value <= self.high:
            return f"outside the plausible {self.low:g}-{self.high:g}"
        if self.max_change_per_s is not None and previous is not None and 0 < dt <= MAX_RATE_WINDOW_S:
            if abs(value - previous) > self.max_change_per_s * max(dt, 1.0):
                return f"changed from {previous:g} in {dt:g} s"
        return None


# Rates of change are judged only between readings this close together (continuous monitoring).
MAX_RATE_WINDOW_S = 10.0


@dataclass(frozen=True, slots=True)
class Audio:
    pause_s: float
    max_pause_s: float
    cited: Cited


@dataclass(frozen=True, slots=True)
class BaselineRule:
    nibp_readings: int
    window_s: float
    cited: Cited


@dataclass(frozen=True, slots=True)
class Discharge:
    bp_within_pct: float
    spo2_above: float
    no_active_alarm: bool
    cited: Cited


@dataclass(frozen=True, slots=True)
class Protocol:
    meta: Meta
    routes: dict[str, RouteRules]
    gates: tuple[Gate, ...]
    screening: tuple[ScreeningItem, ...]
    limits: tuple[Limit, ...]
    technical: Technical
    audio: Audio
    baseline: BaselineRule
    discharge: Discharge
    path: str
    plausible: dict[str, Plausible] = field(default_factory=dict)
    observations: tuple[ObservationRule, ...] = ()

    @property
    def name(self) -> str:
        return self.meta.name


# ---------------------------------------------------------------- the file's schema


def _physical(vital: str, comparison: str) -> Callable[[Any], str | None]:
    spec = MEASURES[vital]
    if comparison == "rise":
        span = spec.high - spec.low
        return lambda v: None if 0 < v <= span else f"rise must be in (0, {span:g}] {spec.unit}, got {v:g}"
    return lambda v: (
        None
        if spec.low <= v <= spec.high
        else f"{v:g} is outside the physical range of {vital} ({spec.low:g}-{spec.high:g} {spec.unit})"
    )


def _known_vital(vital: str) -> str | None:
    return None if vital in MEASURES else f"unknown vital or scale {vital!r} (known: {', '.join(MEASURES)})"


def _known_scale(scale: str) -> str | None:
    return None if scale in SCALES else f"unknown observation scale {scale!r} (known: {', '.join(SCALES)})"


def _known_yes_no(key: str) -> str | None:
    question = QUESTIONS.get(key)
    if question is None:
        return unknown_key_message(key)
    return None if question.kind == YES_NO else f"{key} is not a yes/no question"


def _span_problem(value: list[float]) -> str | None:
    if len(value) != 2:
        return f"must be [lowest, highest], got {value!r}"
    return None if 0 < value[0] <= value[1] else f"must be 0 < lowest <= highest, got {value!r}"


NonNegative = Annotated[float, Field(ge=0)]
AtLeastOne = Annotated[float, Field(ge=1)]
Positive = Annotated[float, Field(gt=0)]
Priority = Annotated[str, one_of(PRIORITIES)]
Span = Annotated[list[float], rule(_span_problem)]
Vital = Annotated[str, rule(_known_vital)]


class CitedSchema(FileModel):
    """Every table but ``[protocol]`` says where its numbers come from."""

    source: Annotated[str, rule(lambda v: None if v.strip() else "must name where the numbers come from")]
    verified: bool

    @property
    def cited(self) -> Cited:
        return Cited(self.source, self.verified)


class MetaSchema(FileModel):
    name: Annotated[
        str, rule(lambda v: None if re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", v) else "use lowercase letters, digits, - and _")
    ]
    version: str
    reviewed_by: str
    reviewed_on: str
    description: str = ""


class CheckpointSchema(CitedSchema):
    id: str
    after_dose_min: NonNegative
    window_min: NonNegative
    priority: Priority = "low"
    message: str

    def build(self) -> Checkpoint:
        return Checkpoint(self.id, self.after_dose_min, self.window_min, self.priority, self.message, self.cited)


class ObservationSchema(CitedSchema):
    scale: Annotated[str, rule(_known_scale)]
    every_min: Positive
    grace_min: NonNegative

    def build(self) -> ObservationRule:
        return ObservationRule(self.scale, self.every_min, self.grace_min, self.cited)


class BoundsSchema(CitedSchema):
    single_mg_per_kg: Span | None = None
    single_mg: Span | None = None
    session_mg_per_kg: Positive | None = None
    session_mg: Positive | None = None
    infusion_min: Span | None = None
    response: str = ""

    @model_validator(mode="after")
    def _a_single_dose(self) -> BoundsSchema:
        if self.single_mg_per_kg is None and self.single_mg is None:
            raise FieldProblem("single_mg", "give single_mg_per_kg or single_mg (or both)")
        return self

    def build(self) -> DoseBounds:
        def pair(span: list[float] | None) -> tuple[float, float] | None:
            return None if span is None else (span[0], span[1])

        return DoseBounds(
            self.cited,
            pair(self.single_mg_per_kg),
            pair(self.single_mg),
            self.session_mg_per_kg,
            self.session_mg,
            pair(self.infusion_min),
            self.response,
        )


class RouteSchema(CitedSchema):
    drug: str
    dose: str
    observation_min: NonNegative
    nibp_interval_min: AtLeastOne
    predose_bp_required: bool = False
    predose_bp_max_age_min: Positive | None = None
    checkpoint: list[CheckpointSchema] = []
    bounds: BoundsSchema | None = None

    def build(self, name: str) -> RouteRules:
        return RouteRules(
            name=name,
            drug=self.drug,
            dose=self.dose,
            observation_min=self.observation_min,
            nibp_interval_min=self.nibp_interval_min,
            checkpoints=tuple(c.build() for c in self.checkpoint),
            cited=self.cited,
            predose_bp_required=self.predose_bp_required,
            bounds=None if self.bounds is None else self.bounds.build(),
            predose_bp_max_age_min=self.predose_bp_max_age_min,
        )


class GateSchema(CitedSchema):
    id: str
    action: Annotated[str, one_of(ACTIONS)]
    message: str
    sbp_above: Annotated[float | None, rule(_physical("sbp", "above"))] = None
    dbp_above: Annotated[float | None, rule(_physical("dbp", "above"))] = None
    sbp_at_least: Annotated[float | None, rule(_physical("sbp", "at_least"))] = None
    dbp_at_least: Annotated[float | None, rule(_physical("dbp", "at_least"))] = None
    spo2_below: Annotated[float | None, rule(_physical("spo2", "below"))] = None
    min_age: int | None = None
    max_age: int | None = None
    recheck_after_min: Positive | None = None
    hysteresis: NonNegative = 0.0

    @model_validator(mode="after")
    def _judges_something(self) -> GateSchema:
        if all(v is None for v in (self.sbp_above, self.dbp_above, self.sbp_at_least, self.dbp_at_least, self.spo2_below)):
            raise FieldProblem("id", "a gate needs at least one of sbp_above, dbp_above, sbp_at_least, dbp_at_least, spo2_below")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise FieldProblem("min_age", f"min_age {self.min_age} is above max_age {self.max_age}")
        return self

    def build(self) -> Gate:
        return Gate(
            self.id,
            self.action,
            self.message,
            self.cited,
            self.sbp_above,
            self.dbp_above,
            self.sbp_at_least,
            self.dbp_at_least,
            self.spo2_below,
            self.min_age,
            self.max_age,
            self.recheck_after_min,
            self.hysteresis,
        )


class ScreeningItemSchema(CitedSchema):
    id: str
    key: str | None = None
    question: str
    reason: str
    when: Annotated[object, rule(lambda v: None if isinstance(v, (bool, str)) else f"must be bool or str, got {shown(v)}")] = None
    at_least: float | None = None
    block: bool = False
    overridable: bool = True
    gate: bool = False
    tighten: dict[str, NonNegative] = {}
    delay: dict[str, NonNegative] = {}
    nibp_interval_min: AtLeastOne | None = None
    extend_observation_min: NonNegative = 0.0
    checks: list[str] = []
    lifted_by: Annotated[str | None, rule(_known_yes_no)] = None

    @model_validator(mode="after")
    def _answerable(self) -> ScreeningItemSchema:
        if (self.when is None) == (self.at_least is None):
            raise FieldProblem("when", "give exactly one of `when` (an answer) or `at_least` (a number)")
        key = self.key or self.id
        question = QUESTIONS.get(key)
        if question is None:
            raise FieldProblem("id" if self.key is None else "key", unknown_key_message(key))
        if self.at_least is not None and question.kind != NUMBER:
            raise FieldProblem("at_least", f"{key} is answered {question.describe()}: `at_least` needs a number question")
        if self.when is not None:
            try:
                if question.parse(self.when) != self.when:  # a bool or a word (checked above)
                    raise ValueError(f"{self.when!r} is not how kapmon reads {question.describe()}")
            except ValueError as exc:
                raise FieldProblem("when", f"{key} is answered {question.describe()}: {exc}") from None
        return self

    def build(self) -> ScreeningItem:
        return ScreeningItem(
            id=self.id,
            key=self.key or self.id,
            question=self.question,
            reason=self.reason,
            cited=self.cited,
            when=self.when,
            at_least=self.at_least,
            block=self.block,
            overridable=self.overridable,
            gate=self.gate,
            tighten=dict(self.tighten),
            delay=dict(self.delay),
            nibp_interval_min=self.nibp_interval_min,
            extend_observation_min=self.extend_observation_min,
            checks=tuple(self.checks),
            lifted_by=self.lifted_by,
        )


class LimitSchema(CitedSchema):
    id: str
    vital: Vital
    below: float | None = None
    at_most: float | None = None
    above: float | None = None
    at_least: float | None = None
    rise: float | None = None
    priority: Priority
    delay_s: NonNegative
    hysteresis: NonNegative = 0.0
    latching: bool | None = None
    escalate_after_s: Positive | None = None
    escalate_to: Annotated[str | None, one_of(PRIORITIES)] = None
    phase: Annotated[str | None, one_of(PHASES)] = None
    response: str = ""
    repeat_nibp_min: Positive | None = None
    holds_dosing: bool = False

    @property
    def comparison(self) -> str:
        return next(c for c in COMPARISONS if getattr(self, c) is not None)

    @model_validator(mode="after")
    def _consistent(self) -> LimitSchema:
        given = [c for c in COMPARISONS if getattr(self, c) is not None]
        if len(given) != 1:
            raise FieldProblem("vital", f"give exactly one of {', '.join(COMPARISONS)}")
        if problem := _physical(self.vital, given[0])(getattr(self, given[0])):
            raise FieldProblem(given[0], problem)
        if (self.escalate_to is None) != (self.escalate_after_s is None):
            raise FieldProblem("escalate_to", "give both escalate_after_s and escalate_to, or neither")
        if self.escalate_to is not None and PRIORITY_RANK[self.escalate_to] <= PRIORITY_RANK[self.priority]:
            raise FieldProblem("escalate_to", f"must be a higher priority than {self.priority}")
        if self.vital in NIBP_VITALS and self.delay_s:
            raise FieldProblem("delay_s", "NIBP limits alarm on the discrete reading: delay_s must be 0")
        if self.vital in SCALES and self.delay_s:
            raise FieldProblem("delay_s", "observation limits alarm on the charted level: delay_s must be 0")
        if self.vital in SCALES and not float(getattr(self, given[0])).is_integer():
            raise FieldProblem(given[0], f"{self.vital} levels are whole numbers")
        if self.vital in SCALES and given[0] == "rise":
            raise FieldProblem("rise", "observation limits compare the charted level, not a rise")
        if self.repeat_nibp_min is not None and self.vital not in NIBP_VITALS:
            raise FieldProblem("repeat_nibp_min", "only NIBP limits can ask for a repeat NIBP")
        return self

    def build(self) -> Limit:
        comparison = self.comparison
        return Limit(
            id=self.id,
            vital=self.vital,
            comparison=comparison,
            threshold=getattr(self, comparison),
            priority=self.priority,
            delay_s=self.delay_s,
            hysteresis=self.hysteresis,
            latching=self.priority == "high" if self.latching is None else self.latching,
            escalate_after_s=self.escalate_after_s,
            escalate_to=self.escalate_to,
            phase=self.phase or ("post_dose" if comparison == "rise" else "any"),
            cited=self.cited,
            response=self.response,
            repeat_nibp_min=self.repeat_nibp_min,
            holds_dosing=self.holds_dosing,
        )


class TechnicalSchema(CitedSchema):
    condition_delay_s: NonNegative
    escalate_after_s: NonNegative
    max_quiet_s: dict[str, NonNegative]
    nibp_overdue_grace_s: NonNegative
    conditions: list[str]
    response: str = ""
    stale_intervals: AtLeastOne = 3.0
    max_interval_s: AtLeastOne = 300.0
    repeat_nibp_priority: Priority = "medium"
    signal_loss_window_s: AtLeastOne = 60.0
    signal_loss_max_s: AtLeastOne = 15.0
    required: list[str] = []

    @model_validator(mode="after")
    def _known(self) -> TechnicalSchema:
        for vital in self.max_quiet_s:
            if vital not in VITALS or vital in NIBP_VITALS:
                raise FieldProblem(f"max_quiet_s.{vital}", "must name a continuous vital (NIBP has nibp_overdue_grace_s)")
        for vital in self.required:
            if vital not in self.max_quiet_s:
                raise FieldProblem("required", f"{vital!r} is not watched for staleness (give it in max_quiet_s)")
        for condition in self.conditions:
            if condition not in CONDITIONS:
                raise FieldProblem("conditions", f"unknown condition {condition!r}")
        return self

    def build(self) -> Technical:
        return Technical(
            condition_delay_s=self.condition_delay_s,
            escalate_after_s=self.escalate_after_s,
            max_quiet_s=dict(self.max_quiet_s),
            nibp_overdue_grace_s=self.nibp_overdue_grace_s,
            conditions=tuple(self.conditions),
            cited=self.cited,
            response=self.response,
            stale_intervals=self.stale_intervals,
            max_interval_s=self.max_interval_s,
            repeat_nibp_priority=self.repeat_nibp_priority,
            signal_loss_window_s=self.signal_loss_window_s,
            signal_loss_max_s=self.signal_loss_max_s,
            required=tuple(self.required),
        )


class PlausibleSchema(CitedSchema):
    vital: Vital
    low: float
    high: float
    max_change_per_s: Positive | None = None

    @model_validator(mode="after")
    def _a_range(self) -> PlausibleSchema:
        inside = _physical(self.vital, "above")
        for key in ("low", "high"):
            if problem := inside(getattr(self, key)):
                raise FieldProblem(key, problem)
        if self.low >= self.high:
            raise FieldProblem("low", f"low {self.low:g} must be below high {self.high:g}")
        return self

    def build(self) -> Plausible:
        return Plausible(self.vital, self.low, self.high, self.max_change_per_s, self.cited)


class AudioSchema(CitedSchema):
    pause_s: AtLeastOne
    max_pause_s: AtLeastOne

    @model_validator(mode="after")
    def _pause_within_maximum(self) -> AudioSchema:
        if self.pause_s > self.max_pause_s:
            raise FieldProblem("pause_s", f"{self.pause_s:g} s is longer than max_pause_s {self.max_pause_s:g} s")
        return self


class BaselineSchema(CitedSchema):
    nibp_readings: Annotated[int, Field(ge=1)]
    window_s: AtLeastOne


class DischargeSchema(CitedSchema):
    bp_within_pct: Annotated[float, Field(gt=0, lt=100)]
    spo2_above: Annotated[float, rule(_physical("spo2", "above"))]
    no_active_alarm: bool


class ProtocolSchema(FileModel):
    """A protocol file: each table its model; across tables, the checks that numbers work together."""

    protocol: MetaSchema
    route: dict[str, RouteSchema]
    gate: list[GateSchema] = []
    screening: list[ScreeningItemSchema] = []
    limit: list[LimitSchema]
    plausible: list[PlausibleSchema] = []
    observation: list[ObservationSchema] = []
    technical: TechnicalSchema
    audio: AudioSchema
    baseline: BaselineSchema
    discharge: DischargeSchema

    @model_validator(mode="after")
    def _across_tables(self) -> ProtocolSchema:
        def fail(where: str, message: str) -> None:
            raise FieldProblem(where, message)

        if not self.route:
            fail("route", "give at least one [route.NAME] table")
        for name in self.route:
            if name not in ROUTES:
                fail(f"route.{name}", f"unknown route {name!r} (known: {', '.join(ROUTES)})")
        seen_vitals: dict[str, int] = {}
        for i, p in enumerate(self.plausible):
            if p.vital in seen_vitals:
                fail(f"plausible[{i}].vital", f"{p.vital} already has a plausible range (plausible[{seen_vitals[p.vital]}])")
            seen_vitals[p.vital] = i
        seen_scales: dict[str, int] = {}
        for i, o in enumerate(self.observation):
            if o.scale in seen_scales:
                fail(f"observation[{i}].scale", f"{o.scale} is already charted (observation[{seen_scales[o.scale]}])")
            seen_scales[o.scale] = i
        protocol = self.build("")
        _check_limits(protocol.limits, fail)
        _check_screening(protocol.screening, protocol.limits, fail)
        _check_workable(protocol.limits, protocol.gates, protocol.plausible, protocol.technical, protocol.discharge, fail)
        return self

    def build(self, path: str) -> Protocol:
        m, a, b, d = self.protocol, self.audio, self.baseline, self.discharge
        return Protocol(
            meta=Meta(m.name, m.version, m.reviewed_by, m.reviewed_on, m.description),
            routes={name: route.build(name) for name, route in self.route.items()},
            gates=tuple(g.build() for g in self.gate),
            screening=tuple(s.build() for s in self.screening),
            limits=tuple(lim.build() for lim in self.limit),
            technical=self.technical.build(),
            audio=Audio(a.pause_s, a.max_pause_s, a.cited),
            baseline=BaselineRule(b.nibp_readings, b.window_s, b.cited),
            discharge=Discharge(d.bp_within_pct, d.spo2_above, d.no_active_alarm, d.cited),
            path=path,
            plausible={p.vital: p.build() for p in self.plausible},
            observations=tuple(o.build() for o in self.observation),
        )


# ---------------------------------------------------------------- cross-checks


def _check_limits(limits: tuple[Limit, ...], fail: Callable[[str, str], None]) -> None:
    """Unique ids, and on each vital every low-side limit below every high-side absolute limit."""
    seen: dict[str, int] = {}
    for i, lim in enumerate(limits):
        if lim.id in seen:
            fail(f"limit[{i}].id", f"duplicate limit id {lim.id!r} (also limit[{seen[lim.id]}])")
        seen[lim.id] = i
    for i, low in enumerate(limits):
        for high in limits:
            if low.vital == high.vital and low.low_side and not high.low_side and not high.relative:
                if low.threshold >= high.threshold:
                    fail(
                        f"limit[{i}].{low.comparison}",
                        f"contradictory limits: {low.id} ({low.vital} {COMPARISONS[low.comparison]} {low.threshold:g}) "
                        f"is not below {high.id} ({high.vital} {COMPARISONS[high.comparison]} {high.threshold:g})",
                    )


def _check_workable(
    limits: tuple[Limit, ...],
    gates: tuple[Gate, ...],
    plausible: dict[str, Plausible],
    technical: Technical,
    discharge: Discharge,
    fail: Callable[[str, str], None],
) -> None:
    """Refuse numbers that load but cannot work: a limit or gate outside the plausible range (its values
    would all be questionable), a hysteresis no value can recover by, an intermittent-signal maximum
    longer than its window, a discharge SpO2 floor no oximeter can pass."""
    for i, lim in enumerate(limits):
        spec, rule = MEASURES[lim.vital], plausible.get(lim.vital)
        if not lim.relative and rule is not None and not rule.low < lim.threshold < rule.high:
            fail(
                f"limit[{i}].{lim.comparison}",
                f"{lim.id} at {lim.threshold:g} can never raise: {lim.vital} values there "
                f"are outside its plausible range {rule.low:g}-{rule.high:g} (questionable)",
            )
        back = lim.threshold + lim.hysteresis if lim.low_side else lim.threshold - lim.hysteresis
        if not lim.relative and not spec.low <= back <= spec.high:
            fail(f"limit[{i}].hysteresis", f"{lim.id} would need {lim.vital} {back:g} to end: outside {spec.low:g}-{spec.high:g}")
    for i, gate in enumerate(gates):
        for vital, threshold, name in (
            ("sbp", gate.sbp_above or gate.sbp_at_least, "sbp"),
            ("dbp", gate.dbp_above or gate.dbp_at_least, "dbp"),
            ("spo2", gate.spo2_below, "spo2_below"),
        ):
            rule = plausible.get(vital)
            if threshold is not None and rule is not None and not rule.low < threshold < rule.high:
                fail(
                    f"gate[{i}].id",
                    f"{gate.id} on {name} {threshold:g} can never apply: outside the plausible {rule.low:g}-{rule.high:g}",
                )
    if technical.signal_loss_max_s >= technical.signal_loss_window_s:
        fail(
            "technical.signal_loss_max_s",
            f"{technical.signal_loss_max_s:g} s can never be lost within a {technical.signal_loss_window_s:g} s window",
        )
    if discharge.spo2_above >= VITALS["spo2"].high:
        fail("discharge.spo2_above", f"SpO2 above {discharge.spo2_above:g} can never be met")


def _check_screening(items: tuple[ScreeningItem, ...], limits: tuple[Limit, ...], fail: Callable[[str, str], None]) -> None:
    """Tighten and delay entries name existing limits and really tighten them."""
    by_id = {lim.id: lim for lim in limits}
    for i, item in enumerate(items):
        for limit_id, value in item.tighten.items():
            lim = by_id.get(limit_id)
            where = f"screening[{i}].tighten.{limit_id}"
            if lim is None:
                fail(where, f"unknown limit {limit_id!r}")
                continue
            if not lim.relative and not (MEASURES[lim.vital].low <= value <= MEASURES[lim.vital].high):
                fail(where, f"{value:g} is outside the physical range of {lim.vital}")
            looser = value < lim.threshold if lim.low_side else value > lim.threshold
            if looser:
                fail(
                    where,
                    f"{value:g} loosens {limit_id} ({COMPARISONS[lim.comparison]} {lim.threshold:g}); screening may only tighten",
                )
        for limit_id, value in item.delay.items():
            lim = by_id.get(limit_id)
            where = f"screening[{i}].delay.{limit_id}"
            if lim is None:
                fail(where, f"unknown limit {limit_id!r}")
            elif value > lim.delay_s:
                fail(where, f"{value:g} s is longer than {limit_id}'s delay {lim.delay_s:g} s; screening may only shorten it")


# ---------------------------------------------------------------- loading


def parse(text: str, path: str = "<protocol>") -> Protocol:
    """Parse and validate protocol text; raise :class:`ProtocolError` with file, line and field."""
    data = parse_toml(text, path, ProtocolError)
    return check(ProtocolSchema, data, path, toml_lines(text), ProtocolError).build(path)


# The shipped protocol used for a route when none is named.
DEFAULT_PROTOCOL = {name: route.protocol for name, route in ROUTE_SPECS.items()}


def shipped() -> list[str]:
    """Names of the protocols that ship with kapmon."""
    folder = resources.files("monitor.rules.protocols")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str | Path) -> Protocol:
    """Load a shipped protocol by name (``kap-iv``) or any protocol file by path."""
    text_name = str(name_or_path)
    if text_name in shipped():
        resource = resources.files("monitor.rules.protocols") / f"{text_name}.toml"
        return parse(resource.read_text(encoding="utf-8"), f"{text_name}.toml")
    path = Path(name_or_path)
    if not path.is_file():
        raise ProtocolError(
            text_name, None, "(file)", f"no such protocol file or shipped protocol (shipped: {', '.join(shipped())})"
        )
    return parse(path.read_text(encoding="utf-8"), str(path))
