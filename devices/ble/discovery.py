"""Listing nearby BLE devices and the standard services they advertise (``kapmon scan``)."""

from __future__ import annotations

from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.scanner import BaseBleakScanner
from bleak.uuids import uuidstr_to_str

from devices.ble.profiles import profiles_for_services
from devices.ble.wellue import protocol_for

SIG_BASE = "-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True, slots=True)
class Found:
    """One advertising device."""

    address: str
    name: str
    rssi: int
    services: tuple[str, ...]  # advertised service UUIDs

    @property
    def profiles(self) -> tuple[str, ...]:
        """The kapmon profiles (``hr``, ``bp``, ``plx``) its advertised services offer."""
        return tuple(p.name for p in profiles_for_services(self.services))


async def discover(timeout: float, backend: type[BaseBleakScanner] | None = None) -> list[Found]:
    """Scan for ``timeout`` seconds; strongest signal first. Raises bleak's or the OS's error when
    there is no usable adapter."""
    # bleak's keyword types leave out the None that BleakScanner(backend=None) takes as "the platform's"
    seen = await BleakScanner.discover(timeout, return_adv=True, backend=backend)  # type: ignore[call-overload]
    found = [
        Found(device.address, adv.local_name or device.name or "", adv.rssi, tuple(adv.service_uuids))
        for device, adv in seen.values()
    ]
    return sorted(found, key=lambda f: (-f.rssi, f.address))


def service_label(uuid: str) -> str:
    """``Heart Rate (0x180D)`` for a Bluetooth SIG service, the bare UUID for a vendor one."""
    uuid = uuid.lower()
    if uuid.startswith("0000") and uuid.endswith(SIG_BASE):
        name = uuidstr_to_str(uuid)
        return f"{name} (0x{uuid[4:8].upper()})" if name != "Unknown" else f"0x{uuid[4:8].upper()}"
    return uuid


def describe(found: Found) -> str:
    """One line for ``kapmon scan``: address, signal, name, services, and the URI to use if kapmon reads it
    (a standard profile, or a Wellue / Viatom oximeter by its service or name)."""
    services = ", ".join(service_label(u) for u in found.services) or "no services advertised"
    line = f"{found.address}  {found.rssi:>4} dBm  {found.name or '(no name)'}  [{services}]"
    wellue = protocol_for(found.name, found.services)
    if found.profiles:
        line += f"  ->  ble://{found.address}?profile={','.join(found.profiles)}"
    elif wellue is not None:
        line += f"  ->  wellue://{found.address}?protocol={wellue.name}"
    return line
