"""Protocol files: a clinic's rules in TOML, loaded with the standard library and validated.

A protocol holds every number the monitor acts on (limits, delays, priorities, gates, screening
actions, check times, discharge criteria). Every table except ``[protocol]`` carries a ``source``
(where its numbers come from) and ``verified`` (whether that source states them). A bad file
raises :class:`ProtocolError` naming the file, the line and the field.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from devices.errors import KapmonError
from devices.screening import NUMBER, QUESTIONS, YES_NO, unknown_key_message
from devices.vocabulary import CONDITIONS, NIBP_VITALS, PRIORITIES, PRIORITY_RANK, ROUTES, ROUTE_SPECS, VITALS

COMPARISONS = {"below": "<", "at_most": "<=", "above": ">", "at_least": ">=", "rise": "rise >="}
LOW_SIDE = ("below", "at_most")
PHASES = ("any", "post_dose")
ACTIONS = ("gate", "block")


class ProtocolError(KapmonError, ValueError):
    """A protocol file that cannot be used, located by file, line and field."""

    def __init__(self, path: str, line: int, field_name: str, message: str) -> None:
        self.path, self.line, self.field, self.reason = path, line, field_name, message
        super().__init__(f"{path}:{line}: {field_name}: {message}")


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
    when: bool | str | None = None
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

    @property
    def name(self) -> str:
        return self.meta.name

    def limit(self, limit_id: str) -> Limit:
        return next(lim for lim in self.limits if lim.id == limit_id)


# ---------------------------------------------------------------- locating fields in the text

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"']+)\s*=")


def _clean_key(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def field_lines(text: str) -> dict[str, int]:
    """Map each table (``limit[2]``, ``route.iv``) and field (``limit[2].delay_s``) to its 1-based line."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if m := _ARRAY_HEADER.match(line):
            name = _clean_key(m.group(1))
            counts[name] = counts.get(name, -1) + 1
            table = f"{name}[{counts[name]}]"
            lines.setdefault(table, number)
        elif m := _TABLE_HEADER.match(line):
            table = _clean_key(m.group(1))
            lines.setdefault(table, number)
        elif m := _KEY.match(line):
            key = _clean_key(m.group(1))
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


def _line_of(lines: dict[str, int], where: str) -> int:
    """The line of ``where`` or of its nearest enclosing field or table."""
    parts = where.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in lines:
            return lines[candidate]
        parts.pop()
    return 1


# ---------------------------------------------------------------- validation helpers


class _Reader:
    """Typed field access on one table that reports errors with file, line and field."""

    def __init__(self, path: str, lines: dict[str, int], where: str, table: dict[str, Any], known: tuple[str, ...]):
        self.path, self.lines, self.where, self.table = path, lines, where, table
        if not isinstance(table, dict):
            self.fail("", "must be a table")
        for key in table:
            if key not in known:
                self.fail(key, f"unknown field (known: {', '.join(known)})")

    def fail(self, key: str, message: str) -> None:
        where = ".".join(part for part in (self.where, key) if part)
        raise ProtocolError(self.path, _line_of(self.lines, where), where, message)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., check: Callable[[Any], str | None] | None = None) -> Any:
        if key not in self.table:
            if default is ...:
                self.fail(key, "missing required field")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        is_number = float in kinds
        ok = isinstance(value, kinds) or (is_number and isinstance(value, int))
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        if not ok:
            self.fail(key, f"must be {' or '.join(k.__name__ for k in kinds)}, got {value!r}")
        if is_number and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if is_number and isinstance(value, float) and not math.isfinite(value):
            self.fail(key, f"must be a finite number, got {value!r}")
        if check and (problem := check(value)):
            self.fail(key, problem)
        return value

    def number(self, key: str, default: Any = ..., minimum: float = 0.0) -> Any:
        return self.get(key, float, default, lambda v: None if v >= minimum else f"must be >= {minimum:g}, got {v:g}")

    def cited(self) -> Cited:
        source = self.get("source", str, check=lambda v: None if v.strip() else "must name where the numbers come from")
        return Cited(source, self.get("verified", bool))


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else f"must be one of {', '.join(options)}, got {v!r}"


def _physical(vital: str, comparison: str) -> Callable[[Any], str | None]:
    spec = VITALS[vital]
    if comparison == "rise":
        span = spec.high - spec.low
        return lambda v: None if 0 < v <= span else f"rise must be in (0, {span:g}] {spec.unit}, got {v:g}"
    return lambda v: (
        None if spec.low <= v <= spec.high else f"{v:g} is outside the physical range of {vital} ({spec.low:g}-{spec.high:g} {spec.unit})"
    )


# ---------------------------------------------------------------- tables

CITED = ("source", "verified")


def _meta(r: _Reader) -> Meta:
    return Meta(
        name=r.get("name", str, check=lambda v: None if re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", v) else "use lowercase letters, digits, - and _"),
        version=r.get("version", str),
        reviewed_by=r.get("reviewed_by", str),
        reviewed_on=r.get("reviewed_on", str),
        description=r.get("description", str, ""),
    )


def _checkpoint(r: _Reader) -> Checkpoint:
    return Checkpoint(
        id=r.get("id", str),
        after_dose_min=r.number("after_dose_min"),
        window_min=r.number("window_min"),
        priority=r.get("priority", str, "low", _one_of(PRIORITIES)),
        message=r.get("message", str),
        cited=r.cited(),
    )


def _route(name: str, r: _Reader, sub: Callable[[str, Any, tuple[str, ...]], _Reader]) -> RouteRules:
    if name not in ROUTES:
        r.fail("", f"unknown route {name!r} (known: {', '.join(ROUTES)})")
    raw = r.get("checkpoint", list, [])
    known = ("id", "after_dose_min", "window_min", "priority", "message", *CITED)
    bounds = r.get("bounds", dict, None)
    return RouteRules(
        name=name,
        drug=r.get("drug", str),
        dose=r.get("dose", str),
        observation_min=r.number("observation_min"),
        nibp_interval_min=r.number("nibp_interval_min", minimum=1.0),
        checkpoints=tuple(_checkpoint(sub(f"{r.where}.checkpoint[{i}]", t, known)) for i, t in enumerate(raw)),
        cited=r.cited(),
        predose_bp_required=r.get("predose_bp_required", bool, False),
        predose_bp_max_age_min=r.get("predose_bp_max_age_min", float, None, lambda v: None if v > 0 else "must be > 0"),
        bounds=None if bounds is None else _bounds(sub(f"{r.where}.bounds", bounds, KNOWN["bounds"])),
    )


def _span(r: _Reader, key: str) -> tuple[float, float] | None:
    """A ``[lowest, highest]`` pair of positive numbers, or None when not given."""
    value = r.get(key, list, None)
    if value is None:
        return None
    if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        r.fail(key, f"must be [lowest, highest], got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not 0 < low <= high:
        r.fail(key, f"must be 0 < lowest <= highest, got {value!r}")
    return low, high


def _bounds(r: _Reader) -> DoseBounds:
    positive = 1e-9
    bounds = DoseBounds(
        cited=r.cited(),
        single_mg_per_kg=_span(r, "single_mg_per_kg"),
        single_mg=_span(r, "single_mg"),
        session_mg_per_kg=r.number("session_mg_per_kg", None, minimum=positive),
        session_mg=r.number("session_mg", None, minimum=positive),
        infusion_min=_span(r, "infusion_min"),
        response=r.get("response", str, ""),
    )
    if bounds.single_mg_per_kg is None and bounds.single_mg is None:
        r.fail("single_mg", "give single_mg_per_kg or single_mg (or both)")
    return bounds


def _gate(r: _Reader) -> Gate:
    gate = Gate(
        id=r.get("id", str),
        action=r.get("action", str, check=_one_of(ACTIONS)),
        message=r.get("message", str),
        sbp_above=r.get("sbp_above", float, None, _physical("sbp", "above")),
        dbp_above=r.get("dbp_above", float, None, _physical("dbp", "above")),
        sbp_at_least=r.get("sbp_at_least", float, None, _physical("sbp", "at_least")),
        dbp_at_least=r.get("dbp_at_least", float, None, _physical("dbp", "at_least")),
        spo2_below=r.get("spo2_below", float, None, _physical("spo2", "below")),
        min_age=r.get("min_age", int, None),
        max_age=r.get("max_age", int, None),
        recheck_after_min=r.get("recheck_after_min", float, None, lambda v: None if v > 0 else "must be > 0"),
        hysteresis=r.number("hysteresis", 0.0),
        cited=r.cited(),
    )
    if all(v is None for v in (gate.sbp_above, gate.dbp_above, gate.sbp_at_least, gate.dbp_at_least, gate.spo2_below)):
        r.fail("id", "a gate needs at least one of sbp_above, dbp_above, sbp_at_least, dbp_at_least, spo2_below")
    if gate.min_age is not None and gate.max_age is not None and gate.min_age > gate.max_age:
        r.fail("min_age", f"min_age {gate.min_age} is above max_age {gate.max_age}")
    return gate


def _screening(r: _Reader) -> ScreeningItem:
    item_id = r.get("id", str)
    item = ScreeningItem(
        id=item_id,
        key=r.get("key", str, item_id),
        question=r.get("question", str),
        reason=r.get("reason", str),
        when=r.get("when", (bool, str), None),
        at_least=r.get("at_least", float, None),
        block=r.get("block", bool, False),
        overridable=r.get("overridable", bool, True),
        gate=r.get("gate", bool, False),
        tighten={k: _as_number(r, f"tighten.{k}", v) for k, v in r.get("tighten", dict, {}).items()},
        delay={k: _as_number(r, f"delay.{k}", v) for k, v in r.get("delay", dict, {}).items()},
        nibp_interval_min=r.get("nibp_interval_min", float, None, lambda v: None if v >= 1 else "must be >= 1"),
        extend_observation_min=r.number("extend_observation_min", 0.0),
        checks=tuple(_as_text(r, "checks", v) for v in r.get("checks", list, [])),
        lifted_by=r.get("lifted_by", str, None, _known_yes_no),
        cited=r.cited(),
    )
    if (item.when is None) == (item.at_least is None):
        r.fail("when", "give exactly one of `when` (an answer) or `at_least` (a number)")
    question = QUESTIONS.get(item.key)
    if question is None:
        r.fail("key" if "key" in r.table else "id", unknown_key_message(item.key))
    assert question is not None
    if item.at_least is not None and question.kind != NUMBER:
        r.fail("at_least", f"{item.key} is answered {question.describe()}: `at_least` needs a number question")
    if item.when is not None:
        try:
            if question.parse(item.when) != item.when:
                raise ValueError(f"{item.when!r} is not how kapmon reads {question.describe()}")
        except ValueError as exc:
            r.fail("when", f"{item.key} is answered {question.describe()}: {exc}")
    return item


def _known_yes_no(key: str) -> str | None:
    question = QUESTIONS.get(key)
    if question is None:
        return unknown_key_message(key)
    return None if question.kind == YES_NO else f"{key} is not a yes/no question"


def _as_number(r: _Reader, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        r.fail(key, f"must be a number >= 0, got {value!r}")
    return float(value)


def _as_text(r: _Reader, key: str, value: Any) -> str:
    if not isinstance(value, str):
        r.fail(key, f"must be a list of strings, got {value!r}")
    return value


def _limit(r: _Reader) -> Limit:
    vital = r.get("vital", str, check=lambda v: None if v in VITALS else f"unknown vital {v!r} (known: {', '.join(VITALS)})")
    given = [c for c in COMPARISONS if c in r.table]
    if len(given) != 1:
        r.fail("vital", f"give exactly one of {', '.join(COMPARISONS)}")
    comparison = given[0]
    priority = r.get("priority", str, check=_one_of(PRIORITIES))
    escalate_to = r.get("escalate_to", str, None, _one_of(PRIORITIES))
    escalate_after = r.get("escalate_after_s", float, None, lambda v: None if v > 0 else "must be > 0")
    if (escalate_to is None) != (escalate_after is None):
        r.fail("escalate_to", "give both escalate_after_s and escalate_to, or neither")
    if escalate_to is not None and PRIORITY_RANK[escalate_to] <= PRIORITY_RANK[priority]:
        r.fail("escalate_to", f"must be a higher priority than {priority}")
    delay = r.number("delay_s")
    if vital in NIBP_VITALS and delay:
        r.fail("delay_s", "NIBP limits alarm on the discrete reading: delay_s must be 0")
    repeat = r.get("repeat_nibp_min", float, None, lambda v: None if v > 0 else "must be > 0")
    if repeat is not None and vital not in NIBP_VITALS:
        r.fail("repeat_nibp_min", "only NIBP limits can ask for a repeat NIBP")
    return Limit(
        id=r.get("id", str),
        vital=vital,
        comparison=comparison,
        threshold=r.get(comparison, float, check=_physical(vital, comparison)),
        priority=priority,
        delay_s=delay,
        hysteresis=r.number("hysteresis", 0.0),
        latching=r.get("latching", bool, priority == "high"),
        escalate_after_s=escalate_after,
        escalate_to=escalate_to,
        phase=r.get("phase", str, "post_dose" if comparison == "rise" else "any", _one_of(PHASES)),
        cited=r.cited(),
        response=r.get("response", str, ""),
        repeat_nibp_min=repeat,
        holds_dosing=r.get("holds_dosing", bool, False),
    )


def _technical(r: _Reader) -> Technical:
    quiet = r.get("max_quiet_s", dict)
    for vital, seconds in quiet.items():
        if vital not in VITALS or vital in NIBP_VITALS:
            r.fail(f"max_quiet_s.{vital}", "must name a continuous vital (NIBP has nibp_overdue_grace_s)")
        _as_number(r, f"max_quiet_s.{vital}", seconds)
    for vital in r.get("required", list, []):
        if vital not in quiet:
            r.fail("required", f"{vital!r} is not watched for staleness (give it in max_quiet_s)")
    conditions = tuple(_as_text(r, "conditions", c) for c in r.get("conditions", list))
    for c in conditions:
        if c not in CONDITIONS:
            r.fail("conditions", f"unknown condition {c!r}")
    return Technical(
        condition_delay_s=r.number("condition_delay_s"),
        escalate_after_s=r.number("escalate_after_s"),
        max_quiet_s={k: float(v) for k, v in quiet.items()},
        nibp_overdue_grace_s=r.number("nibp_overdue_grace_s"),
        conditions=conditions,
        cited=r.cited(),
        response=r.get("response", str, ""),
        stale_intervals=r.number("stale_intervals", 3.0, minimum=1.0),
        max_interval_s=r.number("max_interval_s", 300.0, minimum=1.0),
        repeat_nibp_priority=r.get("repeat_nibp_priority", str, "medium", _one_of(PRIORITIES)),
        signal_loss_window_s=r.number("signal_loss_window_s", 60.0, minimum=1.0),
        signal_loss_max_s=r.number("signal_loss_max_s", 15.0, minimum=1.0),
        required=tuple(_as_text(r, "required", v) for v in r.get("required", list, [])),
    )


def _plausible(r: _Reader) -> Plausible:
    vital = r.get("vital", str, check=lambda v: None if v in VITALS else f"unknown vital {v!r} (known: {', '.join(VITALS)})")
    inside = _physical(vital, "above")
    plausible = Plausible(
        vital=vital,
        low=r.get("low", float, check=inside),
        high=r.get("high", float, check=inside),
        max_change_per_s=r.get("max_change_per_s", float, None, lambda v: None if v > 0 else "must be > 0"),
        cited=r.cited(),
    )
    if plausible.low >= plausible.high:
        r.fail("low", f"low {plausible.low:g} must be below high {plausible.high:g}")
    return plausible


def _audio(r: _Reader) -> Audio:
    audio = Audio(pause_s=r.number("pause_s", minimum=1), max_pause_s=r.number("max_pause_s", minimum=1), cited=r.cited())
    if audio.pause_s > audio.max_pause_s:
        r.fail("pause_s", f"{audio.pause_s:g} s is longer than max_pause_s {audio.max_pause_s:g} s")
    return audio


def _baseline(r: _Reader) -> BaselineRule:
    return BaselineRule(
        nibp_readings=r.get("nibp_readings", int, check=lambda v: None if v >= 1 else "must be >= 1"),
        window_s=r.number("window_s", minimum=1),
        cited=r.cited(),
    )


def _discharge(r: _Reader) -> Discharge:
    return Discharge(
        bp_within_pct=r.get("bp_within_pct", float, check=lambda v: None if 0 < v < 100 else "must be in (0, 100)"),
        spo2_above=r.get("spo2_above", float, check=_physical("spo2", "above")),
        no_active_alarm=r.get("no_active_alarm", bool),
        cited=r.cited(),
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
        for j, high in enumerate(limits):
            if low.vital == high.vital and low.low_side and not high.low_side and not high.relative:
                if low.threshold >= high.threshold:
                    fail(
                        f"limit[{i}].{low.comparison}",
                        f"contradictory limits: {low.id} ({low.vital} {COMPARISONS[low.comparison]} {low.threshold:g}) "
                        f"is not below {high.id} ({high.vital} {COMPARISONS[high.comparison]} {high.threshold:g})",
                    )


def _check_workable(limits: tuple[Limit, ...], gates: tuple[Gate, ...], plausible: dict[str, Plausible], technical: Technical,
                    discharge: Discharge, fail: Callable[[str, str], None]) -> None:
    """Refuse numbers that load but cannot work: a limit or gate outside the plausible range (its values
    would all be questionable), a hysteresis no value can recover by, an intermittent-signal maximum
    longer than its window, a discharge SpO2 floor no oximeter can pass."""
    for i, lim in enumerate(limits):
        spec, rule = VITALS[lim.vital], plausible.get(lim.vital)
        if not lim.relative and rule is not None and not rule.low < lim.threshold < rule.high:
            fail(f"limit[{i}].{lim.comparison}", f"{lim.id} at {lim.threshold:g} can never raise: {lim.vital} values there "
                                                 f"are outside its plausible range {rule.low:g}-{rule.high:g} (questionable)")
        back = lim.threshold + lim.hysteresis if lim.low_side else lim.threshold - lim.hysteresis
        if not lim.relative and not spec.low <= back <= spec.high:
            fail(f"limit[{i}].hysteresis", f"{lim.id} would need {lim.vital} {back:g} to end: outside {spec.low:g}-{spec.high:g}")
    for i, gate in enumerate(gates):
        for vital, threshold, name in (("sbp", gate.sbp_above or gate.sbp_at_least, "sbp"), ("dbp", gate.dbp_above or gate.dbp_at_least, "dbp"),
                                       ("spo2", gate.spo2_below, "spo2_below")):
            rule = plausible.get(vital)
            if threshold is not None and rule is not None and not rule.low < threshold < rule.high:
                fail(f"gate[{i}].id", f"{gate.id} on {name} {threshold:g} can never apply: outside the plausible {rule.low:g}-{rule.high:g}")
    if technical.signal_loss_max_s >= technical.signal_loss_window_s:
        fail("technical.signal_loss_max_s", f"{technical.signal_loss_max_s:g} s can never be lost within a "
                                            f"{technical.signal_loss_window_s:g} s window")
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
            if not lim.relative and not (VITALS[lim.vital].low <= value <= VITALS[lim.vital].high):
                fail(where, f"{value:g} is outside the physical range of {lim.vital}")
            looser = value < lim.threshold if lim.low_side else value > lim.threshold
            if looser:
                fail(where, f"{value:g} loosens {limit_id} ({COMPARISONS[lim.comparison]} {lim.threshold:g}); screening may only tighten")
        for limit_id, value in item.delay.items():
            lim = by_id.get(limit_id)
            where = f"screening[{i}].delay.{limit_id}"
            if lim is None:
                fail(where, f"unknown limit {limit_id!r}")
            elif value > lim.delay_s:
                fail(where, f"{value:g} s is longer than {limit_id}'s delay {lim.delay_s:g} s; screening may only shorten it")


# ---------------------------------------------------------------- loading

TOP = ("protocol", "route", "gate", "screening", "limit", "plausible", "technical", "audio", "baseline", "discharge")
KNOWN = {
    "protocol": ("name", "version", "reviewed_by", "reviewed_on", "description"),
    "route": (
        "drug", "dose", "observation_min", "nibp_interval_min", "predose_bp_required", "predose_bp_max_age_min", "checkpoint",
        "bounds", *CITED,
    ),
    "bounds": ("single_mg_per_kg", "single_mg", "session_mg_per_kg", "session_mg", "infusion_min", "response", *CITED),
    "gate": (
        "id", "action", "message", "sbp_above", "dbp_above", "sbp_at_least", "dbp_at_least", "spo2_below", "min_age", "max_age",
        "recheck_after_min", "hysteresis", *CITED,
    ),
    "screening": (
        "id", "key", "question", "reason", "when", "at_least", "block", "overridable", "gate", "tighten", "delay",
        "nibp_interval_min", "extend_observation_min", "checks", "lifted_by", *CITED,
    ),
    "limit": (
        "id", "vital", *COMPARISONS, "priority", "delay_s", "hysteresis", "latching", "escalate_after_s", "escalate_to", "phase", "response", "repeat_nibp_min", "holds_dosing", *CITED,
    ),
    "plausible": ("vital", "low", "high", "max_change_per_s", *CITED),
    "technical": (
        "condition_delay_s", "escalate_after_s", "max_quiet_s", "nibp_overdue_grace_s", "conditions", "response",
        "stale_intervals", "max_interval_s", "repeat_nibp_priority", "signal_loss_window_s", "signal_loss_max_s", "required", *CITED,
    ),
    "audio": ("pause_s", "max_pause_s", *CITED),
    "baseline": ("nibp_readings", "window_s", *CITED),
    "discharge": ("bp_within_pct", "spo2_above", "no_active_alarm", *CITED),
}


def parse(text: str, path: str = "<protocol>") -> Protocol:
    """Parse and validate protocol text; raise :class:`ProtocolError` with file, line and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, text, exc) from None
    lines = field_lines(text)

    def reader(where: str, table: Any, known: tuple[str, ...]) -> _Reader:
        return _Reader(path, lines, where, table, known)

    def fail(where: str, message: str) -> None:
        raise ProtocolError(path, _line_of(lines, where), where, message)

    top = reader("", data, TOP)
    for name in ("protocol", "route", "limit", "technical", "audio", "baseline", "discharge"):
        top.get(name, (dict, list))

    def many(name: str, build: Callable[[_Reader], Any]) -> tuple:
        tables = data.get(name, [])
        if not isinstance(tables, list):
            fail(name, f"use [[{name}]] (an array of tables)")
        return tuple(build(reader(f"{name}[{i}]", t, KNOWN[name])) for i, t in enumerate(tables))

    routes_raw = data["route"]
    if not isinstance(routes_raw, dict) or not routes_raw:
        fail("route", "give at least one [route.NAME] table")
    routes = {name: _route(name, reader(f"route.{name}", t, KNOWN["route"]), reader) for name, t in routes_raw.items()}
    limits = many("limit", _limit)
    screening = many("screening", _screening)
    plausible = many("plausible", _plausible)
    seen_vitals: dict[str, int] = {}
    for i, p in enumerate(plausible):
        if p.vital in seen_vitals:
            fail(f"plausible[{i}].vital", f"{p.vital} already has a plausible range (plausible[{seen_vitals[p.vital]}])")
        seen_vitals[p.vital] = i
    _check_limits(limits, fail)
    _check_screening(screening, limits, fail)
    gates = many("gate", _gate)
    technical = _technical(reader("technical", data["technical"], KNOWN["technical"]))
    discharge = _discharge(reader("discharge", data["discharge"], KNOWN["discharge"]))
    _check_workable(limits, gates, {p.vital: p for p in plausible}, technical, discharge, fail)
    return Protocol(
        meta=_meta(reader("protocol", data["protocol"], KNOWN["protocol"])),
        routes=routes,
        gates=gates,
        screening=screening,
        limits=limits,
        technical=technical,
        audio=_audio(reader("audio", data["audio"], KNOWN["audio"])),
        baseline=_baseline(reader("baseline", data["baseline"], KNOWN["baseline"])),
        discharge=discharge,
        path=path,
        plausible={p.vital: p for p in plausible},
    )


def _syntax_error(path: str, text: str, exc: tomllib.TOMLDecodeError) -> ProtocolError:
    """A TOML syntax error with its line and the field written on that line."""
    m = re.search(r"at line (\d+)", str(exc))
    line = int(m.group(1)) if m else 1
    source_lines = text.splitlines()
    key = _KEY.match(source_lines[line - 1]) if 0 < line <= len(source_lines) else None
    reason = re.sub(r"\s*\(at line.*\)$", "", str(exc))
    return ProtocolError(path, line, _clean_key(key.group(1)) if key else "(syntax)", f"TOML syntax error: {reason}")


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
        raise ProtocolError(text_name, 0, "(file)", f"no such protocol file or shipped protocol (shipped: {', '.join(shipped())})")
    return parse(path.read_text(encoding="utf-8"), str(path))
