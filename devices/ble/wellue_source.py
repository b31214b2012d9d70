"""``wellue://ADDRESS|NAME-PREFIX|any?protocol=o2ring|oxyii|pc60fw``: a Wellue / Viatom oximeter through bleak.

The BLE transport's rules apply unchanged (``devices.ble.source``): find by address, advertised name prefix
or (``any``) advertised service; reconnect with exponential backoff; ``disconnected`` when the link is
lost and ``stale`` (then a reconnect) after ``stale`` seconds without a valid frame. What differs is the
protocol: after subscribing to the device's notify characteristic the source writes its handshake, then
polls it (O2Ring, O2Ring S) every ``period`` seconds, in pieces of at most 20 bytes (the default ATT MTU
leaves 20); the PC-60FW streams on its own. Frames are reassembled across notifications by the protocol's
decoder, whose CRC decides what is data.

Query parameters: ``protocol`` (when omitted: the one whose GATT service the device offers), ``stale``
(seconds, default 5), ``period`` (seconds between polls, default 1), ``adapter`` (BlueZ adapter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bleak import BleakClient
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from devices.ble.profiles import Profile
from devices.ble.source import ANY, LINK_ERRORS, BleSource, Link, Timing
from devices.ble.wellue import PROTOCOLS, WellueProtocol
from devices.errors import DeviceError, URIError
from devices.reading import Item
from devices.serial.decoder import StreamDecoder
from devices.source import Clock
from devices.uri import DeviceURI

DEFAULT_TIMING = Timing()

KNOWN_PARAMS = ("protocol", "stale", "period", "adapter")
WRITE_CHUNK = 20  # bytes per write at the default ATT MTU of 23
STALE_S = 5.0  # design proposal, as the standard pulse-oximeter profile: five polls or frames missed


def profile(protocol: WellueProtocol) -> Profile:
    """A protocol as the BLE transport sees it: a streaming device identified by its service."""
    return Profile(protocol.name, protocol.label, protocol.service, (), continuous=True, stale_after=STALE_S)


class WellueSource(BleSource):
    """A Wellue / Viatom oximeter as a source (see the module docstring)."""

    def __init__(self, uri: DeviceURI, protocols: tuple[WellueProtocol, ...], *, period: float = 1.0, **kwargs) -> None:
        super().__init__(uri, tuple(profile(p) for p in protocols), **kwargs)
        self.protocols = protocols
        self.period = period

    def link(self, clock: Clock, emit: Callable[[Item], None]) -> Link:
        return WellueLink(self, clock, emit)

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if self.target.lower() != ANY:
            return super().matches(device, adv)
        offered = {u.lower() for u in adv.service_uuids}
        name = adv.local_name or device.name or ""
        return any(p.service in offered or name.startswith(p.names) for p in self.protocols)


class WellueLink(Link):
    """One stream's connection to a Wellue device: subscribe, handshake, poll; frames through the decoder."""

    src: WellueSource

    async def subscribe(self, client: BleakClient) -> None:
        protocol = next((p for p in self.src.protocols if client.services.get_service(p.service)), None)
        if protocol is None:
            wanted = ", ".join(p.name for p in self.src.protocols)
            raise DeviceError(f"the device offers no service of protocol {wanted}")
        self.protocol = protocol
        decoder = protocol.decoder(self.src.uri)
        await client.start_notify(protocol.notify, self.on_notify(decoder), bluez={"use_start_notify": True})
        for frame in protocol.handshake(self.clock.now()):
            await self.write(client, frame)

    def on_notify(self, decoder: StreamDecoder) -> Callable[[object, bytearray], None]:
        """The notification callback: bytes into the decoder; a complete, CRC-checked frame is fresh data."""

        def on_value(_char: object, data: bytearray) -> None:
            t = self.clock.now()
            before = decoder.frames
            items = decoder.feed(bytes(data), t)
            if decoder.frames > before:
                self.last_data = t
                self.report("stale", False)
            for item in items:
                self.emit(item)

        return on_value

    async def write(self, client: BleakClient, frame: bytes) -> None:
        for start in range(0, len(frame), WRITE_CHUNK):
            await client.write_gatt_char(self.protocol.write, frame[start : start + WRITE_CHUNK], response=False)

    async def watch(self, client: BleakClient, lost: asyncio.Event) -> str:
        poller = asyncio.create_task(self.poll(client, lost)) if self.protocol.poll else None
        try:
            return await super().watch(client, lost)
        finally:
            if poller is not None:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)

    async def poll(self, client: BleakClient, lost: asyncio.Event) -> None:
        """Ask for a reading every ``period`` seconds; a write that fails is a lost link."""
        while True:
            try:
                await self.write(client, self.protocol.poll)
            except LINK_ERRORS:
                lost.set()
                return
            await self.clock.sleep_until(self.clock.now() + self.src.period)


def open_wellue(
    uri: DeviceURI,
    client_backend: type[BaseBleakClient] | None = None,
    scanner_backend: type[BaseBleakScanner] | None = None,
    timing: Timing = DEFAULT_TIMING,
) -> WellueSource:
    """Open ``wellue://ADDRESS|NAME-PREFIX|any?protocol=...``; the backends let tests inject fakes."""
    unknown = sorted(set(uri.params) - set(KNOWN_PARAMS))
    if unknown:
        raise URIError(f"{uri.text}: unknown parameter {unknown[0]!r} (known: {', '.join(KNOWN_PARAMS)})")
    name = uri.param("protocol")
    if name is not None and name not in PROTOCOLS:
        raise URIError(f"{uri.text}: unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})")
    protocols = (PROTOCOLS[name],) if name else tuple(PROTOCOLS.values())
    return WellueSource(
        uri,
        protocols,
        period=uri.float_param("period", 1.0),
        stale_after=uri.float_param("stale", STALE_S),
        adapter=uri.param("adapter"),
        timing=timing,
        client_backend=client_backend,
        scanner_backend=scanner_backend,
    )
