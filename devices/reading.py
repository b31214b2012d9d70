"""Readings, device conditions and the vital vocabulary shared by every source."""

from __future__ import annotations

from dataclasses import dataclass, field

OK = "ok"
NO_VALUE = "no_value"
QUESTIONABLE = "questionable"  # a number kept in the record but not trusted: never alarmed on, summarised or a baseline
STATUSES = (OK, NO_VALUE, QUESTIONABLE)


@dataclass(frozen=True, slots=True)
class VitalSpec:
    """What one vital is: its unit and the physically possible range of its values."""

    name: str
    label: str
    unit: str
    low: float
    high: float


VITALS: dict[str, VitalSpec] = {
    spec.name: spec
    for spec in (
        VitalSpec("sbp", "Systolic BP", "mmHg", 0, 300),
        VitalSpec("dbp", "Diastolic BP", "mmHg", 0, 250),
        VitalSpec("map", "Mean arterial pressure", "mmHg", 0, 300),
        VitalSpec("hr", "Heart rate", "/min", 0, 350),
        VitalSpec("pr", "Pulse rate", "/min", 0, 350),
        VitalSpec("spo2", "SpO2", "%", 0, 100),
        VitalSpec("pi", "Perfusion index", "%", 0, 100),
        VitalSpec("pleth", "Plethysmogram", "au", -1e6, 1e6),
        VitalSpec("rr", "Respiratory rate", "/min", 0, 150),
        VitalSpec("etco2", "End-tidal CO2", "mmHg", 0, 150),
        VitalSpec("cuff", "Cuff pressure", "mmHg", 0, 350),
        VitalSpec("temp", "Temperature", "Cel", 0, 50),  # recorded, not drawn or alarmed on
    )
}

NIBP_VITALS = ("sbp", "dbp", "map")

# Device and technical conditions. Decoders and transports report these by name; the
# alarm engine turns them into technical alarms. A condition is never a physiological value.
CONDITIONS: dict[str, str] = {
    "sensor_off": "sensor off the patient",
    "sensor_disconnected": "sensor disconnected from the device",
    "sensor_displaced": "sensor displaced",
    "sensor_fault": "sensor or cable fault",
    "searching": "searching for a pulse",
    "probe_error": "probe error",
    "low_perfusion": "low perfusion",
    "poor_signal": "poor or inadequate signal",
    "interference": "signal interference",
    "motion": "body movement",
    "cuff_loose": "cuff too loose",
    "irregular_pulse": "irregular pulse",
    "improper_position": "improper measurement position",
    "pulse_rate_out_of_range": "pulse rate outside the cuff's range",
    "questionable": "questionable measurement",
    "invalid": "invalid measurement",
    "unavailable": "measurement unavailable",
    "out_of_range": "value out of the device's range",
    "equipment_malfunction": "equipment malfunction",
    "low_battery": "low battery",
    "nibp_error": "blood-pressure measurement failed",
    "disconnected": "device disconnected",
    "stale": "no data from the device",
    "device_alarm": "the device itself is alarming",
}


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
