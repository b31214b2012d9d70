"""Screening answers + protocol -> the monitoring plan for one patient and route.

The plan says whether dosing is blocked or gated, the limits the alarm engine will use (each with
the reasons, in words, why it is what it is), the NIBP cycle, the minimum observation, the extra
checks and key time points. A block or gate is lifted only by a named physician with a reason;
each override is recorded and produces an ``overridden`` alarm event for the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from devices.vocabulary import SCALES, TECHNICAL
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.protocol import COMPARISONS, Checkpoint, Limit, Protocol, RouteRules, ScreeningItem

BLOCK, GATE, CHECK = "block", "gate", "check"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the plan asks of the team before or during dosing, with why."""

    id: str
    action: str
    text: str
    source: str
    verified: bool
    overridable: bool = True


@dataclass(frozen=True, slots=True)
class Override:
    """A physician lifting a block or acknowledging a gate, with a reason."""

    finding_id: str
    physician: str
    reason: str
    t: float


@dataclass(frozen=True, slots=True)
class PlannedLimit:
    """A protocol limit as it applies to this patient, with the reasons for its numbers."""

    limit: Limit
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return f"{describe_limit(self.limit)}: " + "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class Plan:
    protocol: Protocol
    route: RouteRules
    screening: Mapping[str, object]
    limits: tuple[PlannedLimit, ...]
    blocks: tuple[Finding, ...]
    gates: tuple[Finding, ...]
    checks: tuple[Finding, ...]
    nibp_interval_s: float
    nibp_reasons: tuple[str, ...]
    observation_s: float
    observation_reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()
    overrides: tuple[Override, ...] = ()

    @property
    def name(self) -> str:
        return self.protocol.name

    @property
    def checkpoints(self) -> tuple[Checkpoint, ...]:
        return self.route.checkpoints

    def overridden(self, finding_id: str) -> Override | None:
        return next((o for o in self.overrides if o.finding_id == finding_id), None)

    def lines(self, findings: Sequence[Finding] | None = None) -> list[str]:
        """The plan in words, for the CLI and the dashboard; ``findings`` are the open blocks and gates
        of the current dosing decision (default: the screening's, before any reading)."""
        out = [
            f"Protocol {self.name} {self.protocol.meta.version}, route {self.route.name}: {self.route.drug}, {self.route.dose}"
        ]
        if not self.protocol.meta.reviewed_by:
            out.append("  NOT REVIEWED: a clinician must review and sign off these rules")
        open_ = [f for f in (findings if findings is not None else [*self.blocks, *self.gates]) if self.overridden(f.id) is None]
        state = "BLOCKED" if any(f.action == BLOCK for f in open_) else "GATED" if open_ else "clear to dose"
        out.append(f"Dosing: {state}")
        out += [f"  {f.action.upper()} {f.id}: {f.text} [{f.source}]" for f in open_]
        out += [f"  overridden {o.finding_id} by {o.physician}: {o.reason}" for o in self.overrides]
        out.append(f"NIBP every {self.nibp_interval_s / 60:g} min: " + "; ".join(self.nibp_reasons))
        out.append(
            f"Minimum observation after the last dose {self.observation_s / 60:g} min: " + "; ".join(self.observation_reasons)
        )
        out += [
            f"Key time point {c.id}: {c.message} at {c.after_dose_min:g} min (+/- {c.window_min:g})" for c in self.checkpoints
        ]
        out += [
            f"Chart {SCALES[o.scale].name_text} every {o.every_min:g} min from the first dose "
            f"(overdue after {o.grace_min:g} min more)"
            for o in self.protocol.observations
        ]
        out += [f"Check: {f.text} ({f.id})" for f in self.checks]
        out.append("Limits:")
        out += [f"  {p.limit.id}: {p.describe()}" for p in self.limits]
        out += [f"Note: {n}" for n in self.notes]
        return out


def describe_limit(limit: Limit) -> str:
    """A limit in words, e.g. ``spo2 < 90 for 15 s -> medium, escalates to high after 120 s``."""
    if limit.relative:
        cond = f"{limit.vital} rise >= {limit.threshold:g} over baseline"
    else:
        cond = f"{limit.vital} {COMPARISONS[limit.comparison]} {limit.threshold:g}"
    text = f"{cond} for {limit.delay_s:g} s -> {limit.priority}" if limit.delay_s else f"{cond} -> {limit.priority} at once"
    if limit.escalate_to:
        text += f", escalates to {limit.escalate_to} after {limit.escalate_after_s:g} s"
    return text + (", latching" if limit.latching else "")


def _tighter(limit: Limit, value: float) -> bool:
    return value > limit.threshold if limit.low_side else value < limit.threshold


def _plan_limit(limit: Limit, items: Sequence[ScreeningItem]) -> PlannedLimit:
    """Apply every applicable screening item's tightening and shorter delay to one limit."""
    reasons = [f"protocol default ({limit.cited.source}{'' if limit.cited.verified else '; unverified'})"]
    for item in items:
        value = item.tighten.get(limit.id)
        if value is not None and _tighter(limit, value):
            reasons.append(f"threshold {limit.threshold:g} -> {value:g} because {item.id}: {item.reason} ({item.cited.source})")
            limit = replace(limit, threshold=value)
        delay = item.delay.get(limit.id)
        if delay is not None and delay < limit.delay_s:
            reasons.append(f"delay {limit.delay_s:g} s -> {delay:g} s because {item.id}: {item.reason} ({item.cited.source})")
            limit = replace(limit, delay_s=delay)
    return PlannedLimit(limit, tuple(reasons))


def _item_finding(item: ScreeningItem, action: str, text: str) -> Finding:
    return Finding(item.id, action, text, item.cited.source, item.cited.verified, item.overridable)


def _checks(items: Sequence[ScreeningItem]) -> tuple[Finding, ...]:
    """Extra checks, one per distinct text, naming every item that asks for it."""
    by_text: dict[str, list[ScreeningItem]] = {}
    for item in items:
        for text in item.checks:
            by_text.setdefault(text, []).append(item)
    return tuple(
        Finding(
            ", ".join(i.id for i in its), CHECK, text, "; ".join(i.cited.source for i in its), all(i.cited.verified for i in its)
        )
        for text, its in by_text.items()
    )


def make_plan(
    protocol: Protocol,
    screening: Mapping[str, object],
    route: str | None = None,
    overrides: Sequence[Override] = (),
) -> Plan:
    """The monitoring plan for one patient's screening answers on one route of ``protocol``."""
    if route is None:
        if len(protocol.routes) != 1:
            raise ValueError(f"{protocol.name} has several routes ({', '.join(protocol.routes)}): name one")
        route = next(iter(protocol.routes))
    if route not in protocol.routes:
        raise ValueError(f"{protocol.name} has no rules for route {route!r} (it has: {', '.join(protocol.routes)})")
    rules = protocol.routes[route]
    applying = [item for item in protocol.screening if item.applies(screening.get(item.key), screening)]
    known_keys = {item.key for item in protocol.screening} | {item.lifted_by for item in protocol.screening if item.lifted_by}

    blocks = tuple(_item_finding(i, BLOCK, i.reason) for i in applying if i.block)
    gates = [_item_finding(i, GATE, f"{i.reason}: physician clearance before dosing") for i in applying if i.gate]
    for key in sorted({i.key for i in protocol.screening if i.block and screening.get(i.key) is None}):
        item = next(i for i in protocol.screening if i.key == key and i.block)
        gates.append(_item_finding(item, GATE, f"{item.question} not answered: record the answer before dosing"))

    nibp_min, nibp_reasons = rules.nibp_interval_min, [f"route default ({rules.cited.source})"]
    for item in applying:
        if item.nibp_interval_min is not None and item.nibp_interval_min < nibp_min:
            nibp_min = item.nibp_interval_min
            nibp_reasons.append(f"shortened to {nibp_min:g} min because {item.id}: {item.reason}")
    extension = max(applying, key=lambda i: i.extend_observation_min, default=None)
    obs_min, obs_reasons = rules.observation_min, [f"route default {rules.observation_min:g} min ({rules.cited.source})"]
    if extension is not None and extension.extend_observation_min > 0:
        obs_min += extension.extend_observation_min
        obs_reasons.append(f"+{extension.extend_observation_min:g} min because {extension.id}: {extension.reason}")

    notes = [f"screening answer {k!r} is not used by {protocol.name}" for k in screening if k not in known_keys]
    notes += [f"{i.question} not answered" for i in protocol.screening if screening.get(i.key) is None and not i.block]
    return Plan(
        protocol=protocol,
        route=rules,
        screening=dict(screening),
        limits=tuple(_plan_limit(lim, applying) for lim in protocol.limits),
        blocks=blocks,
        gates=tuple(gates),
        checks=_checks(applying),
        nibp_interval_s=nibp_min * 60,
        nibp_reasons=tuple(nibp_reasons),
        observation_s=obs_min * 60,
        observation_reasons=tuple(obs_reasons),
        notes=tuple(dict.fromkeys(notes)),
        overrides=tuple(overrides),
    )


def override(plan: Plan, finding: Finding, physician: str, reason: str, t: float) -> tuple[Plan, AlarmEvent]:
    """Lift a block or acknowledge a gate; returns the new plan and the audit event."""
    if not physician.strip() or not reason.strip():
        raise ValueError("an override needs the physician's name and a reason")
    if not finding.overridable:
        raise ValueError(f"{finding.id} cannot be overridden under {plan.name}")
    record = Override(finding.id, physician.strip(), reason.strip(), t)
    event = AlarmEvent(
        t=t,
        event="overridden",
        alarm_id=finding.id,
        priority="high" if finding.action == BLOCK else "medium",
        kind=TECHNICAL,
        vital=None,
        value=None,
        limit=None,
        rule=f"{plan.name}: {finding.id}",
        message=f"{finding.action} {finding.id} overridden by {record.physician}: {record.reason}",
        who=record.physician,
    )
    return replace(plan, overrides=(*plan.overrides, record)), event
