"""Readings and device conditions: what every source yields (their vocabulary is ``devices.vocabulary``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.vocabulary import CONDITIONS, NO_VALUE, OK, QUESTIONABLE, STATUSES, VITALS


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one vital at one time (epoch seconds), from one source.

    ``value`` is ``None`` exactly when ``status`` is ``NO_VALUE``: a device's "no value" code
    is never turned into a number. A ``QUESTIONABLE`` reading keeps its number for the record (a
    device flagged it, or it is not plausible) but is never treated as the patient's value.
    """

    t: float
    vital: str
    value: float | None
    unit: str
    source: str
    status: str = OK

    def __post_init__(self) -> None:
        if self.vital not in VITALS:
            raise ValueError(f"unknown vital {self.vital!r}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if (self.value is None) != (self.status == NO_VALUE):
            raise ValueError("a reading has no value exactly when its status is no_value")

    @property
    def has_value(self) -> bool:
        """Whether this reading is a trusted value of the patient (not no-value, not questionable)."""
        return self.status == OK


@dataclass(frozen=True, slots=True)
class Condition:
    """A device or technical condition (sensor off, cuff loose, disconnected...) starting or ending."""

    t: float
    condition: str
    source: str
    active: bool = True
    vitals: tuple[str, ...] = field(default=())
    detail: str = ""

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition {self.condition!r}")


Item = Reading | Condition


def reading(t: float, vital: str, value: float | None, source: str, unit: str | None = None) -> Reading:
    """Build a reading in the vital's standard unit; ``None`` makes a no-value reading."""
    return Reading(
        t=t,
        vital=vital,
        value=None if value is None else float(value),
        unit=VITALS[vital].unit if unit is None else unit,
        source=source,
        status=NO_VALUE if value is None else OK,
    )


def questionable(r: Reading) -> Reading:
    """``r`` with its number kept but marked questionable (a no-value reading stays as it is)."""
    return r if r.value is None else Reading(r.t, r.vital, r.value, r.unit, r.source, QUESTIONABLE)


def no_value(t: float, vital: str, source: str) -> Reading:
    """A reading that says the device had no value for ``vital`` at ``t``."""
    return reading(t, vital, None, source)


def in_physical_range(vital: str, value: float) -> bool:
    """Whether ``value`` is physically possible for ``vital``."""
    spec = VITALS[vital]
    return spec.low <= value <= spec.high
