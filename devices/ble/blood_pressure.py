"""Blood Pressure Measurement 0x2A35 (indicate) and Intermediate Cuff Pressure 0x2A36 (notify),
Blood Pressure service 0x1810.

Layout: flags; systolic, diastolic, MAP SFLOAT (mmHg or kPa); then, if flagged, time stamp (7),
pulse rate SFLOAT, user ID uint8, measurement status uint16. In Intermediate Cuff Pressure the
systolic slot is the current cuff pressure and the other two are unused (any value accepted).
Readings are stamped with the receive time ``t``; the cuff's own time stamp is not used.
"""

from __future__ import annotations

from devices.ble.fields import KPA_TO_MMHG, Fields, bit_conditions, value_items
from devices.reading import Condition, Item, Reading, questionable

KPA = 0x01
TIME_STAMP = 0x02
PULSE_RATE = 0x04
USER_ID = 0x08
MEASUREMENT_STATUS = 0x10

STATUS_BITS: dict[int, tuple[str, str]] = {
    0: ("motion", "body movement during measurement"),
    1: ("cuff_loose", "cuff too loose"),
    2: ("irregular_pulse", "irregular pulse detected"),
    5: ("improper_position", "improper measurement position"),
}
PULSE_RANGE = {1: "pulse rate above the cuff's upper limit", 2: "pulse rate below the cuff's lower limit"}


def _decode(data: bytes, what: str, pressure_vitals: tuple[str, ...], t: float, source: str) -> list[Item]:
    """Shared layout of both characteristics; ``pressure_vitals`` names the leading SFLOATs kept."""
    f = Fields(data, what)
    flags = f.uint(1, "flags")
    scale = KPA_TO_MMHG if flags & KPA else 1.0
    pressures = [f.sfloat(name) for name in ("systolic", "diastolic", "mean arterial pressure")]
    pulse = None
    if flags & TIME_STAMP:
        f.take(7, "time stamp")
    if flags & PULSE_RATE:
        pulse = f.sfloat("pulse rate")
    if flags & USER_ID:
        f.uint(1, "user ID")
    status = f.uint(2, "measurement status") if flags & MEASUREMENT_STATUS else 0
    f.finish()

    items: list[Item] = []
    for vital, value in zip(pressure_vitals, pressures):
        items += value_items(t, vital, value, source, scale)
    pulse_range = PULSE_RANGE.get(status >> 3 & 0b11)
    if pulse is not None:
        # A pulse rate the cuff itself says is outside its range is kept, marked questionable.
        pulse_items = value_items(t, "pr", pulse, source)
        items += [questionable(i) if isinstance(i, Reading) else i for i in pulse_items] if pulse_range else pulse_items
    vitals = pressure_vitals + (("pr",) if pulse is not None else ())
    items += bit_conditions(t, status, STATUS_BITS, source, vitals)
    if pulse_range:
        items.append(Condition(t, "pulse_rate_out_of_range", source, True, ("pr",), pulse_range))
    return items


def decode_bp(data: bytes, t: float = 0.0, source: str = "ble") -> list[Item]:
    """Decode a Blood Pressure Measurement into ``sbp``/``dbp``/``map`` (mmHg), ``pr`` and cuff conditions."""
    return _decode(data, "Blood Pressure Measurement", ("sbp", "dbp", "map"), t, source)


def decode_icp(data: bytes, t: float = 0.0, source: str = "ble") -> list[Item]:
    """Decode an Intermediate Cuff Pressure into a ``cuff`` reading (mmHg), ``pr`` and cuff conditions."""
    return _decode(data, "Intermediate Cuff Pressure", ("cuff",), t, source)
