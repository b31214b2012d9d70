"""The BLE profiles kapmon reads: which service identifies each, which characteristics it
subscribes to, and whether the device streams (so that silence or a disconnect is a fault)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bleak.uuids import normalize_uuid_16

from devices.ble.blood_pressure import decode_bp, decode_icp
from devices.ble.heart_rate import decode_hr
from devices.ble.pulse_oximetry import decode_plx_cont, decode_plx_spot
from devices.reading import Item

Decoder = Callable[[bytes, float, str], list[Item]]


@dataclass(frozen=True, slots=True)
class Subscription:
    """One characteristic to subscribe to (notify or indicate: ``start_notify`` handles both)."""

    uuid: str
    name: str
    decode: Decoder


@dataclass(frozen=True, slots=True)
class Profile:
    """A GATT service kapmon understands.

    ``continuous`` devices stream while connected: silence is stale data and a disconnect is a
    technical alarm. A blood-pressure cuff connects, indicates its measurement and disconnects:
    neither silence nor the disconnect is a fault.
    """

    name: str
    label: str
    service: str
    subscriptions: tuple[Subscription, ...]
    continuous: bool
    stale_after: float  # seconds without a valid value before the data is stale


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "hr",
            "Heart Rate",
            normalize_uuid_16(0x180D),
            (Subscription(normalize_uuid_16(0x2A37), "Heart Rate Measurement", decode_hr),),
            continuous=True,
            stale_after=5.0,
        ),
        Profile(
            "bp",
            "Blood Pressure",
            normalize_uuid_16(0x1810),
            (
                Subscription(normalize_uuid_16(0x2A35), "Blood Pressure Measurement", decode_bp),
                Subscription(normalize_uuid_16(0x2A36), "Intermediate Cuff Pressure", decode_icp),
            ),
            continuous=False,
            stale_after=0.0,
        ),
        Profile(
            "plx",
            "Pulse Oximeter",
            normalize_uuid_16(0x1822),
            (
                Subscription(normalize_uuid_16(0x2A5F), "PLX Continuous Measurement", decode_plx_cont),
                Subscription(normalize_uuid_16(0x2A5E), "PLX Spot-check Measurement", decode_plx_spot),
            ),
            continuous=True,
            stale_after=5.0,
        ),
    )
}


def profiles_for_services(service_uuids: Iterable[str]) -> tuple[Profile, ...]:
    """The profiles whose service is among ``service_uuids`` (any case), in ``PROFILES`` order."""
    offered = {u.lower() for u in service_uuids}
    return tuple(p for p in PROFILES.values() if p.service in offered)
