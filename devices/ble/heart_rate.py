"""Heart Rate Measurement 0x2A37 (Heart Rate service 0x180D, notify).

Layout: flags; heart rate uint8 or uint16; energy expended uint16 if flagged; RR intervals
(uint16, 1/1024 s) filling the rest if flagged. Energy and RR intervals are validated but not
reported (kapmon has no vital for them).

A value whose RR flag is set but that carries no RR bytes (``17 01 01``) is rejected as a
flag/length mismatch, as Nordic's parser does: the flags and the length disagree, so the
heart rate in it is not trusted either.
"""

from __future__ import annotations

from devices.ble.fields import Fields, value_items
from devices.reading import Condition, Item, no_value

HR_UINT16 = 0x01
CONTACT_DETECTED = 0x02
CONTACT_SUPPORTED = 0x04
ENERGY_EXPENDED = 0x08
RR_INTERVALS = 0x10


def decode_hr(data: bytes, t: float = 0.0, source: str = "ble") -> list[Item]:
    """Decode a Heart Rate Measurement into an ``hr`` reading (no value when the sensor has no skin contact)."""
    f = Fields(data, "Heart Rate Measurement")
    flags = f.uint(1, "flags")
    rate = f.uint(2 if flags & HR_UINT16 else 1, "heart rate")
    if flags & ENERGY_EXPENDED:
        f.uint(2, "energy expended")
    if flags & RR_INTERVALS:
        if f.remaining == 0:
            raise f.fail("RR-interval flag set but no RR-interval bytes (flag/length mismatch)")
        if f.remaining % 2:
            raise f.fail(f"RR intervals take 2 bytes each, {f.remaining} byte(s) left (truncated)")
        f.take(f.remaining, "RR intervals")
    f.finish()
    if flags & CONTACT_SUPPORTED and not flags & CONTACT_DETECTED:
        return [no_value(t, "hr", source), Condition(t, "sensor_off", source, True, ("hr",), "no skin contact")]
    return value_items(t, "hr", rate, source)
