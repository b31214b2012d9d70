"""The bleak transport: ``ble://ADDRESS?profile=hr|bp|plx``.

Finds the device by scanning (by address, by advertised service with ``ble://any``, or by name
prefix, e.g. ``ble://BLEsmart_?profile=bp``), connects with the scanned ``BLEDevice``, subscribes
to every characteristic of its profiles (notify and indicate alike, through ``start_notify`` with
BlueZ's ``use_start_notify`` so ``AcquireNotify`` is avoided) and re-subscribes after every
reconnect. Link loss is seen by bleak's disconnect callback and, for streaming devices, by a
data-silence watchdog; either leads to a reconnect with exponential backoff. Faults are reported
as ``disconnected`` and ``stale`` conditions, never by raising.

Query parameters: ``profile`` (comma-separated; detected from the advertised or GATT services
when omitted), ``stale`` (seconds of silence before a streaming device is stale), ``adapter``
(BlueZ adapter such as ``hci1``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from devices.ble.profiles import PROFILES, Profile, Subscription, profiles_for_services
from devices.errors import DecodeError, DeviceError, URIError
from devices.reading import Condition, Item
from devices.source import Clock
from devices.uri import DeviceURI

if TYPE_CHECKING:
    from bleak.args.bluez import BlueZScannerArgs

ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")
ANY = "any"
LINK_ERRORS = (BleakError, OSError, TimeoutError, EOFError, DeviceError)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Timing:
    """How long the transport waits for things, in seconds."""

    scan: float = 10.0
    connect: float = 20.0
    backoff_min: float = 1.0
    backoff_max: float = 30.0
    poll: float = 2.0  # how often a quiet link is checked with ``is_connected``


class ConditionTracker:
    """Turns the conditions each decoded value carries into transitions: a condition is reported
    when it first appears and reported ended when a later value no longer carries it."""

    def __init__(self) -> None:
        self._active: dict[tuple[str, tuple[str, ...]], Condition] = {}

    def update(self, t: float, items: list[Item]) -> list[Item]:
        current = {(i.condition, i.vitals): i for i in items if isinstance(i, Condition)}
        out: list[Item] = [i for i in items if not isinstance(i, Condition)]
        out += [c for key, c in current.items() if key not in self._active]
        out += [replace(c, t=t, active=False) for key, c in self._active.items() if key not in current]
        self._active = current
        return out


class BleSource:
    """A BLE device as a source of readings and conditions (see the module docstring)."""

    def __init__(
        self,
        uri: DeviceURI,
        profiles: tuple[Profile, ...] = (),
        *,
        stale_after: float | None = None,
        adapter: str | None = None,
        timing: Timing = Timing(),
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
    ) -> None:
        self.uri = uri.text
        self.target = uri.target
        self.profiles = profiles
        self.stale_after = stale_after
        self.timing = timing
        self.bluez: BlueZScannerArgs = {"adapter": adapter} if adapter else {}  # the client takes it too
        self.client_backend = client_backend
        self.scanner_backend = scanner_backend

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        """Readings and conditions until cancelled; the link is kept up in a background task."""
        queue: asyncio.Queue[Item] = asyncio.Queue()
        link = self.link(clock, queue.put_nowait)
        runner = asyncio.create_task(link.run())
        getter: asyncio.Future[Item] | None = None
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, runner}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    runner.result()  # the link never ends by itself: surface its failure
                yield getter.result()
        finally:
            for task in (runner, getter):
                if task is not None:
                    task.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    def link(self, clock: Clock, emit: Callable[[Item], None]) -> Link:
        """The connection state one ``stream`` call keeps (a device family with its own protocol has its own)."""
        return Link(self, clock, emit)

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        """Whether a scanned device is the one this URI names."""
        if ADDRESS.match(self.target):
            return device.address.lower() == self.target.lower()
        if self.target.lower() == ANY:
            offered = profiles_for_services(adv.service_uuids)
            return any(p in offered for p in self.profiles) if self.profiles else bool(offered)
        name = adv.local_name or device.name or ""
        return name.startswith(self.target)


class Link:
    """One ``stream`` call's connection state: connects, subscribes, watches and reconnects."""

    def __init__(self, source: BleSource, clock: Clock, emit: Callable[[Item], None]) -> None:
        self.src = source
        self.clock = clock
        self.emit = emit
        self.profiles = source.profiles
        self.trackers: dict[str, ConditionTracker] = {}
        self.flags = {"disconnected": False, "stale": False}
        self.last_data = 0.0

    @property
    def continuous(self) -> bool:
        """Whether silence and disconnects are faults (assumed until the profiles are known)."""
        return any(p.continuous for p in self.profiles) if self.profiles else True

    @property
    def stale_after(self) -> float:
        if self.src.stale_after is not None:
            return self.src.stale_after
        return max((p.stale_after for p in self.profiles if p.continuous), default=5.0)

    def report(self, condition: str, active: bool, detail: str = "") -> None:
        """Emit a link condition when it changes; only streaming devices report them."""
        if self.flags[condition] != active and (self.continuous or not active):
            self.flags[condition] = active
            if active:
                log.warning("%s: %s: %s", self.src.uri, condition, detail)
            else:
                log.info("%s: %s no longer", self.src.uri, condition)
            self.emit(Condition(self.clock.now(), condition, self.src.uri, active, detail=detail))

    async def run(self) -> None:
        timing = self.src.timing
        delay = timing.backoff_min
        while True:
            try:
                outcome = await self.session()
            except LINK_ERRORS as exc:
                self.report("disconnected", True, f"{type(exc).__name__}: {exc}")
                log.info("%s: reconnecting in %.1f s", self.src.uri, delay)
                await self.clock.sleep_until(self.clock.now() + delay)
                delay = min(delay * 2, timing.backoff_max)
                continue
            delay = timing.backoff_min
            if outcome == "lost":
                self.report("disconnected", True, "connection lost")

    async def session(self) -> str:
        """Find, connect, subscribe and watch until the link is lost ("lost") or silent ("stale")."""
        device = await self.find()
        lost = asyncio.Event()
        client = BleakClient(
            device,
            disconnected_callback=lambda _client: lost.set(),
            bluez=self.src.bluez,
            backend=self.src.client_backend,
        )
        try:
            async with asyncio.timeout(self.src.timing.connect):
                await client.connect()
            if not self.src.profiles:
                self.profiles = profiles_for_services(s.uuid for s in client.services)
            await self.subscribe(client)
            self.report("disconnected", False)
            self.last_data = self.clock.now()
            return await self.watch(client, lost)
        finally:
            if client.is_connected:
                with suppress(*LINK_ERRORS):
                    async with asyncio.timeout(self.src.timing.connect):
                        await client.disconnect()

    async def find(self) -> BLEDevice:
        """Scan for the device; profiles the URI leaves open are taken from its advertisement."""
        services = [p.service for p in self.src.profiles or PROFILES.values()] if self.src.target.lower() == ANY else None
        scanner = BleakScanner(service_uuids=services, bluez=self.src.bluez, backend=self.src.scanner_backend)
        try:
            async with asyncio.timeout(self.src.timing.scan), scanner:
                async for device, adv in scanner.advertisement_data():
                    if self.src.matches(device, adv):
                        if not self.src.profiles:
                            self.profiles = profiles_for_services(adv.service_uuids) or self.profiles
                        return device
        except TimeoutError:
            raise DeviceError(f"{self.src.target} not found in a {self.src.timing.scan:g} s scan") from None
        raise AssertionError("advertisement_data() never ends")

    async def subscribe(self, client: BleakClient) -> None:
        """Subscribe to every characteristic the device has of its profiles."""
        subs = [s for p in self.profiles for s in p.subscriptions if client.services.get_characteristic(s.uuid)]
        if not subs:
            wanted = ", ".join(p.name for p in self.profiles) or "hr, bp or plx"
            raise DeviceError(f"the device offers no characteristic of profile {wanted}")
        for sub in subs:
            await client.start_notify(sub.uuid, self.handler(sub), bluez={"use_start_notify": True})

    def handler(self, sub: Subscription) -> Callable[[object, bytearray], None]:
        """The notification callback for one characteristic."""
        tracker = self.trackers.setdefault(sub.uuid, ConditionTracker())

        def on_value(_char: object, data: bytearray) -> None:
            t = self.clock.now()
            try:
                items = sub.decode(bytes(data), t, self.src.uri)
            except DecodeError as exc:
                items = [Condition(t, "invalid", self.src.uri, True, detail=f"malformed value: {exc}")]
            else:
                self.last_data = t
                self.report("stale", False)
            for item in tracker.update(t, items):
                self.emit(item)

        return on_value

    async def watch(self, client: BleakClient, lost: asyncio.Event) -> str:
        """Wait until the disconnect callback fires, the link is found down, or (streaming devices)
        data stops, which is reported stale at once."""
        while True:
            deadline = self.clock.now() + self.src.timing.poll
            if self.continuous:
                deadline = min(deadline, self.last_data + self.stale_after)
            await _first(lost.wait(), self.clock.sleep_until(deadline))
            if lost.is_set() or not client.is_connected:
                return "lost"
            if self.continuous and self.clock.now() - self.last_data >= self.stale_after:
                self.report("stale", True, f"no data for {self.stale_after:g} s; reconnecting")
                return "stale"


async def _first(*coroutines: Coroutine[Any, Any, Any]) -> None:
    """Run the coroutines until the first one finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def open_ble(
    uri: DeviceURI,
    client_backend: type[BaseBleakClient] | None = None,
    scanner_backend: type[BaseBleakScanner] | None = None,
    timing: Timing = Timing(),
) -> BleSource:
    """Open ``ble://ADDRESS|any|NAME-PREFIX?profile=hr|bp|plx``; the backends let tests inject fakes."""
    names = [n for n in (uri.param("profile") or "").split(",") if n]
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise URIError(f"{uri.text}: unknown profile {unknown[0]!r} (known: {', '.join(PROFILES)})")
    stale = uri.float_param("stale", 0.0) or None
    return BleSource(
        uri,
        tuple(PROFILES[n] for n in names),
        stale_after=stale,
        adapter=uri.param("adapter"),
        timing=timing,
        client_backend=client_backend,
        scanner_backend=scanner_backend,
    )
