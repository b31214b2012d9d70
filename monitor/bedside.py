"""What the nurse needs to know next, computed from the plan, the doses and the NIBP times (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.protocol import Checkpoint, Plausible

# A hand-entered BP must be a plausible blood pressure. The ranges are the protocol's plausible ranges
# for sbp and dbp (Mindray NIBP ranges); the pulse pressure bounds are a design proposal: below 10 mmHg
# or above 150 mmHg a seated adult's cuff reading is a typing error (300/20), not a measurement.
PULSE_PRESSURE = (10.0, 150.0)


@dataclass(frozen=True, slots=True)
class DueCheck:
    """One key time point: when it is due, and whether a BP was taken in its window."""

    id: str
    message: str
    due: float
    window_s: float
    done_at: float | None

    def state(self, now: float) -> str:
        if self.done_at is not None:
            return "done"
        if now > self.due + self.window_s:
            return "missed"
        if now >= self.due - self.window_s:
            return "due now"
        return "upcoming"


def due_checks(checkpoints: Sequence[Checkpoint], first_dose: float | None, nibp_times: Sequence[float]) -> list[DueCheck]:
    """Key time points after the first dose, each marked done by any NIBP reading in its window."""
    if first_dose is None:
        return []
    out = []
    for c in checkpoints:
        due = first_dose + c.after_dose_min * 60
        window = c.window_min * 60
        done = next((t for t in nibp_times if due - window <= t <= due + window), None)
        out.append(DueCheck(c.id, c.message, due, window, done))
    return out


def next_nibp_due(last_nibp: float | None, interval_s: float) -> float | None:
    """When the next cuff reading is due on the plan's NIBP cycle."""
    return None if last_nibp is None else last_nibp + interval_s


def manual_bp(sbp: object, dbp: object, plausible: Mapping[str, Plausible]) -> tuple[float, float, float]:
    """Validate a hand-entered BP against the protocol's plausible ranges and return (sbp, dbp, map);
    raise ``ValueError`` saying what is wrong."""
    if sbp is None or dbp is None:
        raise ValueError("enter both systolic and diastolic")
    values = []
    for name, vital, value in (("systolic", "sbp", sbp), ("diastolic", "dbp", dbp)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} {value!r} is not a number")
        rule = plausible.get(vital)
        if rule is not None and not rule.low <= value <= rule.high:
            raise ValueError(f"{name} {value:g} is outside {rule.low:g}-{rule.high:g} mmHg")
        values.append(float(value))
    s, d = values
    if d >= s:
        raise ValueError(f"diastolic {d:g} must be below systolic {s:g}")
    if not PULSE_PRESSURE[0] <= s - d <= PULSE_PRESSURE[1]:
        raise ValueError(f"{s:g}/{d:g} has a pulse pressure of {s - d:g} mmHg: not a plausible reading (check the numbers)")
    return s, d, round((s + 2 * d) / 3)


def mg_per_kg_text(mg: float | None, weight_kg: float | None) -> str:
    """``0.50 mg/kg`` for the dose being entered, or why it can't be computed."""
    if mg is None or mg <= 0:
        return "enter the dose in mg"
    if not weight_kg:
        return "weight unknown: mg/kg not computed"
    return f"= {mg / weight_kg:.2f} mg/kg ({weight_kg:g} kg)"
