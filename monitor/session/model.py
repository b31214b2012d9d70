"""A KAP session: who (pseudonymously), how much medicine, by which route, and what happened."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from devices.patient import observation_level, weight_problem
from devices.vocabulary import ROUTES, SESSION_KINDS


@dataclass(frozen=True, slots=True)
class Dose:
    """One administration. ``end`` is set for infusions (IV over 40 min) and ``None`` for boluses; ``lot`` is the
    medicine's lot number when it was entered."""

    t: float
    route: str
    drug: str
    mg: float
    end: float | None = None
    lot: str | None = None

    def mg_per_kg(self, weight_kg: float | None) -> float | None:
        """Dose per body weight, or ``None`` when the weight is unknown."""
        return round(self.mg / weight_kg, 3) if weight_kg else None


@dataclass(frozen=True, slots=True)
class Observation:
    """A level of an observation scale (MOAA/S, dissociation, ...) charted at ``t``, and who charted it."""

    t: float
    scale: str
    level: int
    who: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", observation_level(self.scale, self.level))  # 2.0 from JSON is level 2

    def data(self) -> dict:
        """What the store keeps of it as an ``observation`` event (who is the event's own field)."""
        return {"scale": self.scale, "level": int(self.level)}


@dataclass(frozen=True, slots=True)
class Session:
    """One monitored session. ``patient`` is a pseudonym; no name is ever required."""

    id: str
    patient: str
    started: float
    route: str
    weight_kg: float | None = None
    protocol: str = ""
    kind: str = "clinical"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}, not {self.route!r}")
        if self.kind not in SESSION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SESSION_KINDS)}, not {self.kind!r}")
        if self.weight_kg is not None and (problem := weight_problem(self.weight_kg)):
            raise ValueError(problem)
        if not self.patient.strip():
            raise ValueError("a session needs a patient pseudonym")


def new_session_id(started: float | None = None) -> str:
    """A sortable, unique session id such as ``20261121-0907-a1b2``."""
    stamp = time.strftime("%Y%m%d-%H%M", time.gmtime(time.time() if started is None else started))
    return f"{stamp}-{secrets.token_hex(2)}"
