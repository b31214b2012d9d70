"""What the nurse needs to know next, computed from the plan, the doses and the NIBP times (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.protocol import Checkpoint

# A manual NIBP entry must be physically possible and make sense as a blood pressure.
SBP_RANGE = (40.0, 300.0)
DBP_RANGE = (20.0, 200.0)


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


def manual_bp(sbp: float | None, dbp: float | None) -> tuple[float, float, float]:
    """Validate a hand-entered BP and return (sbp, dbp, map); raise ``ValueError`` saying what is wrong."""
    if sbp is None or dbp is None:
        raise ValueError("enter both systolic and diastolic")
    if not SBP_RANGE[0] <= sbp <= SBP_RANGE[1]:
        raise ValueError(f"systolic {sbp:g} is outside {SBP_RANGE[0]:g}-{SBP_RANGE[1]:g} mmHg")
    if not DBP_RANGE[0] <= dbp <= DBP_RANGE[1]:
        raise ValueError(f"diastolic {dbp:g} is outside {DBP_RANGE[0]:g}-{DBP_RANGE[1]:g} mmHg")
    if dbp >= sbp:
        raise ValueError(f"diastolic {dbp:g} must be below systolic {sbp:g}")
    return sbp, dbp, round((sbp + 2 * dbp) / 3)


def mg_per_kg_text(mg: float | None, weight_kg: float | None) -> str:
    """``0.50 mg/kg`` for the dose being entered, or why it can't be computed."""
    if mg is None or mg <= 0:
        return "enter the dose in mg"
    if not weight_kg:
        return "weight unknown: mg/kg not computed"
    return f"= {mg / weight_kg:.2f} mg/kg ({weight_kg:g} kg)"
