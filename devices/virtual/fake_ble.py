"""In-process fake BLE peripherals behind bleak's own ``backend=`` hooks, for running the
transport without a radio: ``BleakClient(device, backend=FakeClient)`` and
``BleakScanner(backend=FakeScanner.of(peripheral, ...))``.

A ``FakePeripheral`` advertises, accepts connections (optionally failing the first few), keeps
the subscriptions made on the current connection, delivers values only to subscribed
characteristics, records what is written to it (``on_write`` may answer, as a device does) and can
drop the link (which clears subscriptions, as a real link loss does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str


@dataclass(eq=False)
class FakePeripheral:
    """A scripted BLE device. ``gatt`` maps service UUID -> {characteristic UUID: properties}."""

    address: str
    name: str | None
    gatt: dict[str, dict[str, list[str]]]
    advertised: list[str] = field(default_factory=list)
    rssi: int = -60
    advertising: bool = True
    connect_failures: int = 0
    connected: bool = False
    connects: int = 0
    subscribed: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # (connection no., uuid, kwargs)
    callbacks: dict[str, NotifyCallback] = field(default_factory=dict)
    client: FakeClient | None = None
    written: list[tuple[str, bytes]] = field(default_factory=list)  # (characteristic uuid, data)
    on_write: Callable[[str, bytes], None] | None = None

    def send(self, char_uuid: str, data: bytes) -> bool:
        """Notify or indicate ``data`` on a characteristic; whether a subscriber received it."""
        callback = self.callbacks.get(normalize_uuid_str(char_uuid)) if self.connected else None
        if callback is not None:
            callback(bytearray(data))
        return callback is not None

    def drop(self) -> None:
        """Lose the link without being asked to (out of range, powered off, supervision timeout)."""
        self.connected = False
        self.callbacks.clear()
        if self.client is not None and self.client._disconnected_callback is not None:
            self.client._disconnected_callback()

    def services(self) -> BleakGATTServiceCollection:
        """The GATT table as bleak objects."""
        collection = BleakGATTServiceCollection()
        handle = 1
        for service_uuid, chars in self.gatt.items():
            service = BleakGATTService(None, handle, normalize_uuid_str(service_uuid))
            collection.add_service(service)
            for char_uuid, properties in chars.items():
                handle += 2
                char = BleakGATTCharacteristic(
                    None,
                    handle,
                    normalize_uuid_str(char_uuid),
                    properties,  # type: ignore[arg-type]
                    lambda: 20,
                    service,
                )
                collection.add_characteristic(char)  # also adds it to its service
            handle += 1
        return collection


class FakeClient(BaseBleakClient):
    """A bleak client backend talking to the ``FakePeripheral`` carried in a scanned ``BLEDevice``."""

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        if not isinstance(address_or_ble_device, BLEDevice) or not isinstance(address_or_ble_device.details, FakePeripheral):
            raise BleakError("FakeClient connects only to a BLEDevice found by FakeScanner")
        super().__init__(address_or_ble_device, **kwargs)
        self.peripheral: FakePeripheral = address_or_ble_device.details

    @property
    def name(self) -> str:
        return self.peripheral.name or ""

    @property
    def mtu_size(self) -> int:
        return 23

    @property
    def is_connected(self) -> bool:
        return self.peripheral.connected and self.peripheral.client is self

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        p = self.peripheral
        p.connects += 1
        await asyncio.sleep(0)
        if p.connect_failures > 0:
            p.connect_failures -= 1
            raise BleakError("fake connection failure")
        p.connected, p.client = True, self
        p.callbacks.clear()
        self.services = p.services()

    async def disconnect(self) -> None:
        if self.is_connected:
            self.peripheral.connected = False
            self.peripheral.callbacks.clear()

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any) -> None:
        if not self.is_connected:
            raise BleakError("Not connected")
        if not {"notify", "indicate"} & set(characteristic.properties):
            raise BleakError(f"{characteristic.uuid} cannot notify or indicate")
        self.peripheral.subscribed.append((self.peripheral.connects, characteristic.uuid, kwargs))
        self.peripheral.callbacks[characteristic.uuid] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self.peripheral.callbacks.pop(characteristic.uuid, None)

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        raise BleakError("reads are not scripted in the fake")

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        raise BleakError("reads are not scripted in the fake")

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        if not self.is_connected:
            raise BleakError("Not connected")
        if not {"write", "write-without-response"} & set(characteristic.properties):
            raise BleakError(f"{characteristic.uuid} cannot be written")
        self.peripheral.written.append((characteristic.uuid, bytes(data)))
        if self.peripheral.on_write is not None:
            self.peripheral.on_write(characteristic.uuid, bytes(data))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise BleakError("writes are not scripted in the fake")

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None


class FakeScanner(BaseBleakScanner):
    """A bleak scanner backend that hears the advertisements of ``peripherals`` (see ``of``)."""

    peripherals: tuple[FakePeripheral, ...] = ()
    error: Exception | None = None

    @classmethod
    def of(cls, *peripherals: FakePeripheral, error: Exception | None = None) -> type[FakeScanner]:
        """A scanner backend class hearing these peripherals, or failing to start with ``error``."""
        return type("FakeScanner", (cls,), {"peripherals": peripherals, "error": error})

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        if self.error is not None:
            raise self.error
        self.seen_devices = {}
        asyncio.get_running_loop().call_soon(self._advertise)

    async def stop(self) -> None:
        return None

    def _advertise(self) -> None:
        for p in self.peripherals:
            adv = AdvertisementData(p.name, {}, {}, [normalize_uuid_str(u) for u in p.advertised], None, p.rssi, ())
            if p.advertising and self.is_allowed_uuid(adv.service_uuids):
                device = self.create_or_update_device(p.address, p.address, p.name, p, adv)
                self.call_detection_callbacks(device, adv)


def peripheral(profile: str, address: str = "AA:BB:CC:DD:EE:01", name: str | None = None, **kwargs: Any) -> FakePeripheral:
    """A fake device offering one standard profile (``hr``, ``bp`` or ``plx``) with its usual properties."""
    gatt: dict[str, dict[str, dict[str, list[str]]]] = {
        "hr": {"180d": {"2a37": ["notify"], "2a38": ["read"]}},
        "bp": {"1810": {"2a35": ["indicate"], "2a36": ["notify"], "2a49": ["read"]}},
        "plx": {"1822": {"2a5e": ["indicate"], "2a5f": ["notify"], "2a60": ["read"]}},
    }
    kwargs.setdefault("advertised", list(gatt[profile]))
    return FakePeripheral(address, name, gatt[profile], **kwargs)
