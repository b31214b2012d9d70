"""When a structured observation (MOAA/S, dissociation, ...) is due: pure functions of a protocol's
[[observation]] rule, the first dose and the last time the scale was charted. The alarm engine raises
"overdue" from them and the live page shows "due" and "overdue" from them, so the two always agree.

Like "NIBP overdue", which starts with the session's first cuff reading, "overdue" starts with the
session's first charted observation: a session that charts none (a device recording imported after the
fact) raises no reminders, while the live page still shows each scale as due."""

from __future__ import annotations

from monitor.rules.protocol import ObservationRule

NOT_DUE, DUE, OVERDUE = "not_due", "due", "overdue"


def next_due(rule: ObservationRule, first_dose: float | None, last: float | None) -> float | None:
    """When ``rule``'s scale is next to be charted: ``every_min`` after the later of the first dose and its
    last charting (``None`` before any dose: the schedule runs from the first dose)."""
    if first_dose is None:
        return None
    return max(first_dose, last if last is not None else first_dose) + rule.every_s


def overdue_at(rule: ObservationRule, first_dose: float | None, last: float | None) -> float | None:
    """When a charting not made becomes overdue: ``grace_min`` after it was due."""
    due = next_due(rule, first_dose, last)
    return None if due is None else due + rule.grace_s


def status(rule: ObservationRule, first_dose: float | None, last: float | None, now: float, charting: bool) -> str:
    """``not_due``, ``due`` (from its due time) or ``overdue`` (once the grace has passed in a session that
    charts observations, ``charting``: as the engine raises it)."""
    due = next_due(rule, first_dose, last)
    if due is None or now < due:
        return NOT_DUE
    return OVERDUE if charting and now > due + rule.grace_s else DUE
