"""What a session's charted observations (MOAA/S, dissociation, ...) add up to, per scale: how often charted,
the worst level and when, the last level, and how long the patient was affected.

Time affected is sample-and-hold: each charting's level holds until the next charting of the scale, for at
most the time the protocol gives before the next one is overdue (``every_min + grace_min``; 30 min for a
scale the protocol does not schedule, a design proposal), and never past the end of the record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from devices.vocabulary import SCALES
from monitor.rules.protocol import ObservationRule
from monitor.session.model import Observation

UNSCHEDULED_HOLD_S = 30 * 60.0  # design proposal: how long a level charted on a scale the protocol does not schedule holds


@dataclass(frozen=True, slots=True)
class ScaleSummary:
    """One scale's chartings in a session."""

    scale: str
    count: int
    worst: int
    worst_t: float  # when the worst level was first charted
    last: int
    last_t: float
    affected_s: float  # time at a level that shows an effect (sedated, dissociated, ...)
    first_affected_t: float | None

    @property
    def affected(self) -> bool:
        return self.first_affected_t is not None


def hold_s(scale: str, rules: Sequence[ObservationRule]) -> float:
    """How long one charting of ``scale`` stands for the patient's state."""
    rule = next((r for r in rules if r.scale == scale), None)
    return UNSCHEDULED_HOLD_S if rule is None else rule.every_s + rule.grace_s


def summarise_scale(scale: str, charted: Sequence[Observation], end: float, hold: float) -> ScaleSummary:
    """The summary of one scale's chartings (``charted`` in time order, all of ``scale``; at least one)."""
    spec = SCALES[scale]
    worst = spec.worst(o.level for o in charted)
    affected_s = 0.0
    for o, after in zip(charted, [*charted[1:], None], strict=True):
        if spec.affected(o.level):
            until = min(o.t + hold, end if after is None else after.t)
            affected_s += max(0.0, until - o.t)
    first_affected = next((o.t for o in charted if spec.affected(o.level)), None)
    return ScaleSummary(
        scale,
        len(charted),
        worst,
        next(o.t for o in charted if o.level == worst),
        charted[-1].level,
        charted[-1].t,
        affected_s,
        first_affected,
    )


def summarise_charted(observations: Sequence[Observation], end: float, rules: Sequence[ObservationRule]) -> list[ScaleSummary]:
    """Per charted scale, in the vocabulary's order."""
    ordered = sorted(observations, key=lambda o: o.t)
    return [
        summarise_scale(scale, mine, end, hold_s(scale, rules))
        for scale in SCALES
        if (mine := [o for o in ordered if o.scale == scale])
    ]


def after_dose(observations: Sequence[Observation], first_dose: float | None) -> list[Observation]:
    """The chartings made after the first dose (all of them when none is recorded): what the REMS form's sedation
    and dissociation questions are about; one charted at the dose instant is the pre-dose assessment."""
    return [o for o in observations if first_dose is None or o.t > first_dose]


def charted_answer(summaries: Sequence[ScaleSummary], scale: str) -> bool | None:
    """Whether ``scale`` showed any effect in the session: ``None`` when it was never charted."""
    found = next((s for s in summaries if s.scale == scale), None)
    return None if found is None else found.affected
