"""Pulse Oximeter service 0x1822: PLX Spot-check Measurement 0x2A5E (indicate), PLX Continuous
Measurement 0x2A5F (notify) and PLX Features 0x2A60 (read).

SpO2 becomes ``spo2`` (%), pulse rate ``pr`` (/min) and the pulse amplitude index ``pi`` (%).
A measurement the device marks unavailable or invalid, or demonstration or testing data, or one
taken while the sensor is off the patient, displaced or disconnected, is not a reading: it becomes
no-value readings plus the conditions that explain why. A measurement the device calls
questionable (or a pulse it calls questionable) keeps its numbers with the ``questionable``
status: recorded and shown with "?", never alarmed on.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.ble.fields import Fields, bit_conditions, value_items
from devices.ble.sfloat import Special
from devices.reading import Item, Reading, no_value, questionable

MEASUREMENT_STATUS_BITS: dict[int, tuple[str, str]] = {
    10: ("invalid", "demonstration data, not from a patient"),
    11: ("invalid", "testing data, not from a patient"),
    13: ("unavailable", "measurement unavailable"),
    14: ("questionable", "questionable measurement"),
    15: ("invalid", "invalid measurement"),
}
QUESTIONABLE_MEASUREMENT = 1 << 14
MEASUREMENT_NOT_DISPLAYABLE = sum(1 << bit for bit in MEASUREMENT_STATUS_BITS) & ~QUESTIONABLE_MEASUREMENT

SENSOR_STATUS_BITS: dict[int, tuple[str, str]] = {
    1: ("equipment_malfunction", "equipment malfunction"),
    2: ("poor_signal", "signal processing irregularity"),
    3: ("poor_signal", "inadequate signal"),
    4: ("poor_signal", "poor signal"),
    5: ("low_perfusion", "low perfusion"),
    6: ("poor_signal", "erratic signal"),
    7: ("poor_signal", "non-pulsatile signal"),
    8: ("questionable", "questionable pulse"),
    10: ("interference", "sensor interference"),
    11: ("sensor_off", "sensor unconnected to the patient"),
    12: ("sensor_fault", "unknown sensor connected"),
    13: ("sensor_displaced", "sensor displaced"),
    14: ("sensor_fault", "sensor malfunctioning"),
    15: ("sensor_disconnected", "sensor disconnected"),
}
SENSOR_NOT_DISPLAYABLE = (1 << 11) | (1 << 13) | (1 << 15)
QUESTIONABLE_PULSE = 1 << 8


def _items(values: dict[str, float | Special], measurement_status: int, sensor_status: int, t: float, source: str) -> list[Item]:
    """Readings (or no-value readings when the status bits forbid showing them) and conditions."""
    vitals = tuple(values)
    conditions = bit_conditions(t, measurement_status, MEASUREMENT_STATUS_BITS, source, vitals)
    conditions += bit_conditions(t, sensor_status, SENSOR_STATUS_BITS, source, vitals)
    items: list[Item] = []
    if measurement_status & MEASUREMENT_NOT_DISPLAYABLE or sensor_status & SENSOR_NOT_DISPLAYABLE:
        items += [no_value(t, vital, source) for vital in vitals]
    else:
        for vital, value in values.items():
            items += value_items(t, vital, value, source)
        doubtful = set(vitals) if measurement_status & QUESTIONABLE_MEASUREMENT else set()
        if sensor_status & QUESTIONABLE_PULSE:
            doubtful.add("pr")
        items = [questionable(i) if isinstance(i, Reading) and i.vital in doubtful else i for i in items]
    return items + conditions


def decode_plx_spot(data: bytes, t: float = 0.0, source: str = "ble") -> list[Item]:
    """Decode a PLX Spot-check Measurement into ``spo2``, ``pr``, optional ``pi`` and conditions."""
    f = Fields(data, "PLX Spot-check Measurement")
    flags = f.uint(1, "flags")
    values = {"spo2": f.sfloat("SpO2"), "pr": f.sfloat("pulse rate")}
    if flags & 0x01:
        f.take(7, "timestamp")
    measurement_status = f.uint(2, "measurement status") if flags & 0x02 else 0
    sensor_status = f.uint(3, "device and sensor status") if flags & 0x04 else 0
    if flags & 0x08:
        values["pi"] = f.sfloat("pulse amplitude index")
    f.finish()
    return _items(values, measurement_status, sensor_status, t, source)


def decode_plx_cont(data: bytes, t: float = 0.0, source: str = "ble") -> list[Item]:
    """Decode a PLX Continuous Measurement (its SpO2PR-Normal values) into ``spo2``, ``pr``, optional ``pi``
    and conditions; the fast and slow averages are validated but not reported."""
    f = Fields(data, "PLX Continuous Measurement")
    flags = f.uint(1, "flags")
    values = {"spo2": f.sfloat("SpO2"), "pr": f.sfloat("pulse rate")}
    if flags & 0x01:
        f.take(4, "SpO2PR-Fast")
    if flags & 0x02:
        f.take(4, "SpO2PR-Slow")
    measurement_status = f.uint(2, "measurement status") if flags & 0x04 else 0
    sensor_status = f.uint(3, "device and sensor status") if flags & 0x08 else 0
    if flags & 0x10:
        values["pi"] = f.sfloat("pulse amplitude index")
    f.finish()
    return _items(values, measurement_status, sensor_status, t, source)


FEATURE_BITS = (
    "measurement_status",
    "device_sensor_status",
    "measurement_storage",
    "timestamp",
    "spo2pr_fast",
    "spo2pr_slow",
    "pulse_amplitude_index",
    "multiple_bonds",
)
MEASUREMENT_STATUS_NAMES = {
    5: "measurement_ongoing",
    6: "early_estimated_data",
    7: "validated_data",
    8: "fully_qualified_data",
    9: "from_measurement_storage",
    10: "demonstration_data",
    11: "testing_data",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable_measurement",
    15: "invalid_measurement",
}
SENSOR_STATUS_NAMES = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "inadequate_signal",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "non_pulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected_to_user",
    12: "unknown_sensor_connected",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}


def _names(bits: int, names: dict[int, str]) -> list[str]:
    return [name for bit, name in names.items() if bits >> bit & 1]


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """What a pulse oximeter supports: feature names and the status bits it can report
    (``None`` when it does not report that status field at all)."""

    features: tuple[str, ...]
    measurement_status: tuple[str, ...] | None
    sensor_status: tuple[str, ...] | None

    def as_json(self) -> dict:
        return {
            "plx_features": list(self.features),
            "measurement_status_support": None if self.measurement_status is None else list(self.measurement_status),
            "device_sensor_status_support": None if self.sensor_status is None else list(self.sensor_status),
        }


def decode_plx_features(data: bytes) -> PlxFeatures:
    """Decode PLX Features: uint16 feature bits, then the supported status bits they announce."""
    f = Fields(data, "PLX Features")
    bits = f.uint(2, "supported features")
    measurement = f.uint(2, "measurement status support") if bits & 0x01 else None
    sensor = f.uint(3, "device and sensor status support") if bits & 0x02 else None
    f.finish()
    return PlxFeatures(
        features=tuple(name for bit, name in enumerate(FEATURE_BITS) if bits >> bit & 1),
        measurement_status=None if measurement is None else tuple(_names(measurement, MEASUREMENT_STATUS_NAMES)),
        sensor_status=None if sensor is None else tuple(_names(sensor, SENSOR_STATUS_NAMES)),
    )
