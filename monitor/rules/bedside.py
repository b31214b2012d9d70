"""What the nurse needs to know next, computed from the plan, the doses and the NIBP times, and what the
nurse enters, checked (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devices.patient import INFUSION_MAX_S, person
from monitor.rules.protocol import Checkpoint, Plausible
from monitor.session.dose_rows import check_dose, shown
from monitor.session.model import Dose

# Names and reasons typed on a page. Design proposal: a person's name or initials fits in 64 characters
# (the bound the bedside publisher puts on who acted); a reason is a sentence or two, at most 500 (the
# central station's bound for a message).
NAME_MAX = 64
REASON_MAX = 500
# Remind the nurse to take a BP before discharge when none was taken this long ago. Design proposal: the
# REMS monitoring form asks for a blood pressure before discharge; a reading within 15 min is "before
# discharge", and the 15 min before the minimum observation ends are when to take it.
PREDISCHARGE_BP_S = 15 * 60.0

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


def mg_per_kg_text(mg: object, weight_kg: float | None) -> str:
    """``0.50 mg/kg`` for the dose being entered, or why it can't be computed."""
    if isinstance(mg, bool) or not isinstance(mg, (int, float)) or not math.isfinite(mg) or mg <= 0:
        return "enter the dose in mg"
    if not weight_kg:
        return "weight unknown: mg/kg not computed"
    return f"= {mg / weight_kg:.2f} mg/kg ({weight_kg:g} kg)"


def typed_text(value: object, what: str, limit: int) -> str:
    """A text typed on a page, stripped ('' when blank); ``ValueError`` when it is not a text or is too long."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} {shown(value)} is not a text")
    if len(value) > limit:
        raise ValueError(f"{what} is {len(value):,} characters long (at most {limit})")
    return value.strip()


def typed_name(value: object, what: str) -> str | None:
    """A person's name typed on a page as it is recorded (``devices.patient.person``: one line, no control
    characters; None when blank); ``ValueError`` when it is not a text or longer than ``NAME_MAX``."""
    return person(typed_text(value, what, NAME_MAX))


def physician_order(physician: object, reason: object) -> tuple[str, str] | None:
    """A physician's order as typed (name, reason), or None when neither was given; ``ValueError`` when
    only one was, or either is not a short text."""
    name = typed_name(physician, "the physician's name") or ""
    why = typed_text(reason, "the reason", REASON_MAX)
    if not name and not why:
        return None
    if not name or not why:
        raise ValueError("a physician's order needs the physician's name and a reason")
    return name, why


def dose_entry(
    t: float, route: object, drug: object, mg: object, minutes: object, session_route: str, lot: object = None
) -> Dose:
    """The dose a nurse entered at ``t``, checked as the store checks stored doses (``monitor.session.dose_rows``:
    a finite amount within bounds, a drug name of at most 80 characters, a lot number if one is typed) and
    against the session (its route; an infusion of more than 0 min, at most a day; none for a bolus).
    ``ValueError`` says what is wrong."""
    if mg is None or mg == "":
        raise ValueError("enter the dose in mg")
    if route != session_route:
        raise ValueError(f"route {shown(route)} is not this session's route ({session_route.upper()})")
    if drug is None or (isinstance(drug, str) and not drug.strip()):
        raise ValueError("enter the drug")
    end = None
    if minutes is not None and minutes != "":
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes):
            raise ValueError(f"infusion {shown(minutes)} is not a number of minutes")
        if not 0 < minutes <= INFUSION_MAX_S / 60:
            raise ValueError(
                f"an infusion of {minutes:g} min is not possible (more than 0, at most "
                f"{INFUSION_MAX_S / 60:g} min; leave it empty for a bolus)"
            )
        end = t + minutes * 60
    typed_lot = lot.strip() if isinstance(lot, str) else lot
    row = check_dose(t, {"route": route, "drug": drug, "mg": mg, "end": end, "lot": typed_lot or None})
    dose = row.dose()
    if row.problems or dose is None:
        raise ValueError("; ".join(row.problems))
    return dose


def predischarge_bp_due(now: float, left_s: float, last_bp: float | None, discharged: bool, dosed: bool) -> bool:
    """Whether to remind the nurse to take a BP before discharge: a dose was given, the patient is not yet
    discharged, the minimum observation ends within PREDISCHARGE_BP_S (``left_s`` to go) and no BP was
    taken in the last PREDISCHARGE_BP_S."""
    near = left_s <= PREDISCHARGE_BP_S
    return dosed and not discharged and near and (last_bp is None or now - last_bp > PREDISCHARGE_BP_S)
