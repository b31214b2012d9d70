"""Doses as the store holds them, checked field by field.

Older code stored doses without checking them: NaN, Infinity, 1e308 or ``true`` as the amount, an
infusion that ends before it starts, a route no protocol knows, a drug name of a megabyte. The store
is append-only, so such rows stay. Everything that reads doses back (``Store.doses`` for the summary
and the pages, the exports, the report) goes through :func:`check_dose`: a field is kept when it is
valid and is ``None`` when it is not, with one line saying what was wrong, so one odd row never
stops an export and never shows as a number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from devices.patient import DOSE_MG, dose_problem, lot_problem
from devices.patient import INFUSION_MAX_S as MAX_INFUSION_S
from devices.vocabulary import ROUTES
from monitor.session.model import Dose

MAX_DRUG_CHARS = 80  # design proposal: a drug name, not a note
INVALID_DRUG = "(drug name invalid)"


@dataclass(frozen=True, slots=True)
class DoseRow:
    """One stored dose: each field valid or ``None``; ``problems`` says what was wrong, in words."""

    t: float
    route: str | None
    drug: str | None
    mg: float | None
    end: float | None
    who: str | None
    problems: tuple[str, ...] = ()
    lot: str | None = None

    def dose(self) -> Dose | None:
        """The dose the summary counts: amount and route valid (a bad end makes it a bolus), else None."""
        if self.mg is None or self.route is None:
            return None
        return Dose(self.t, self.route, self.drug or INVALID_DRUG, self.mg, self.end, self.lot)

    def mg_per_kg(self, weight_kg: float | None) -> float | None:
        return None if self.mg is None or not weight_kg else round(self.mg / weight_kg, 3)


def shown(value: object) -> str:
    """A stored value as a short text for a message (a megabyte string is not repeated)."""
    if isinstance(value, str) and len(value) > 40:
        return f"a text of {len(value):,} characters"
    if isinstance(value, float):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN" if value != value else f"{value:g}")
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _mg(value: object) -> tuple[float | None, str | None]:
    mg = _number(value)
    if mg is None:
        return None, f"amount {shown(value)} is not a number of mg"
    if dose_problem(mg) is not None:
        return None, f"amount {shown(value)} mg is outside {DOSE_MG[0]:g}-{DOSE_MG[1]:g} mg"
    return mg, None


def _route(value: object) -> tuple[str | None, str | None]:
    if value in ROUTES:
        return str(value), None
    return None, f"route {shown(value)} is not one of {', '.join(ROUTES)}"


def _drug(value: object) -> tuple[str | None, str | None]:
    if not isinstance(value, str) or not value.strip():
        return None, f"drug name {shown(value)} is not a name"
    if len(value) > MAX_DRUG_CHARS:
        return None, f"drug name is {len(value):,} characters long (at most {MAX_DRUG_CHARS})"
    return value.strip(), None


def _end(value: object, t: float) -> tuple[float | None, str | None]:
    if value is None:
        return None, None
    end = _number(value)
    if end is None:
        return None, f"infusion end {shown(value)} is not a time"
    if not 0 <= end - t <= MAX_INFUSION_S:
        return None, f"infusion of {round((end - t) / 60, 1):g} min is not 0-{MAX_INFUSION_S / 3600:g} h long"
    return end, None


def _lot(value: object) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    problem = lot_problem(value)
    return (None, f"{problem}") if problem else (str(value), None)


def check_dose(t: float, data: object, who: str | None = None) -> DoseRow:
    """A stored dose event (time, JSON data, who) checked field by field."""
    if not isinstance(data, dict):
        return DoseRow(t, None, None, None, None, who, (f"the stored dose {shown(data)} is not a dose record",))
    mg, bad_mg = _mg(data.get("mg"))
    route, bad_route = _route(data.get("route"))
    drug, bad_drug = _drug(data.get("drug"))
    end, bad_end = _end(data.get("end"), t)
    lot, bad_lot = _lot(data.get("lot"))
    problems = tuple(p for p in (bad_mg, bad_route, bad_drug, bad_end, bad_lot) if p)
    return DoseRow(t, route, drug, mg, end, who, problems, lot)


def dose_rows(events: Iterable) -> list[DoseRow]:
    """Every ``dose`` event (``StoredEvent``) checked, in the given order."""
    return [check_dose(e.t, e.data, e.who) for e in events if e.kind == "dose"]
