"""The pyserial transport: open with exclusive access and the protocol's settings, send start,
keep-alive and periodic commands, reopen with backoff after an unplug, and watch for data silence.

A reader thread per open port does the blocking reads and hands chunks to the event loop; it is
stopped and joined before the port is closed, so reconnecting leaks no threads or descriptors.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import serial

from devices.reading import Condition, Item
from devices.serial.decoder import StreamDecoder
from devices.serial.protocols import SerialProtocol
from devices.source import Clock

READ_TIMEOUT = 0.1
WRITE_TIMEOUT = 1.0
JOIN_TIMEOUT = 2.0
PROBE_FAILED = "probe failed"

log = logging.getLogger(__name__)


class Link:
    """An open port and its reader thread, which puts bytes or the exception that ended it on ``queue``."""

    def __init__(self, port: serial.SerialBase, loop: asyncio.AbstractEventLoop) -> None:
        self.port = port
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self._loop = loop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"serial-reader {port.port}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                data = self.port.read(max(1, self.port.in_waiting))
                if data:
                    self._loop.call_soon_threadsafe(self.queue.put_nowait, data)
        except (serial.SerialException, OSError) as exc:
            if not self._stop.is_set():
                self._loop.call_soon_threadsafe(self.queue.put_nowait, exc)

    def write(self, data: bytes) -> None:
        if data:
            self.port.write(data)

    def close(self) -> None:
        """Stop the reader, then close the port."""
        self._stop.set()
        try:
            self.port.cancel_read()
        except (serial.SerialException, OSError, AttributeError):
            pass
        self._thread.join(JOIN_TIMEOUT)
        self.port.close()


def open_port(path: str, settings: dict[str, object]) -> serial.SerialBase:
    """Open ``path`` exclusively with ``settings``; ``SerialException`` if it cannot be opened."""
    port = serial.serial_for_url(path, do_not_open=True, timeout=READ_TIMEOUT, write_timeout=WRITE_TIMEOUT, **settings)
    port.exclusive = True
    port.open()
    return port


@dataclass
class Backoff:
    """Reconnect delays: ``first``, doubling up to ``most``."""

    first: float = 0.5
    most: float = 5.0
    next: float = field(init=False)

    def __post_init__(self) -> None:
        self.next = self.first

    def take(self) -> float:
        delay, self.next = self.next, min(self.next * 2, self.most)
        return delay

    def reset(self) -> None:
        self.next = self.first


class SerialSource:
    """A serial device as a ``Source``: readings, device conditions, and the technical conditions
    ``disconnected`` (port lost or cannot be opened) and ``stale`` (no valid data for the
    protocol's quiet time). With several candidate protocols (``auto``), each is tried for
    ``probe`` seconds until one decodes; that one is then kept."""

    def __init__(
        self,
        uri: str,
        path: str,
        protocols: Sequence[SerialProtocol],
        *,
        backoff: Backoff | None = None,
        probe: float = 3.0,
    ) -> None:
        self.uri = uri
        self.path = path
        self.candidates = list(protocols)
        self.backoff = backoff or Backoff()
        self.probe = probe
        self.decoders: dict[str, StreamDecoder] = {}
        self.active: dict[str, bool] = {"disconnected": False, "stale": False}
        self._measure = False
        self._link: Link | None = None

    def request_measurement(self) -> bool:
        """Ask the device to measure now (a cuff that accepts a start command); False if it cannot.
        Call it in the thread that runs the stream (the hub's)."""
        if not self.protocol.measure:
            return False
        self._measure = True
        if self._link is not None:
            self._link.queue.put_nowait(b"")  # wake the session loop
        return True

    @property
    def protocol(self) -> SerialProtocol:
        return self.candidates[0]

    def decoder(self) -> StreamDecoder:
        name = self.protocol.name
        if name not in self.decoders:
            self.decoders[name] = self.protocol.decoder(self.uri)
        return self.decoders[name]

    def _edge(self, t: float, name: str, active: bool, detail: str = "") -> list[Condition]:
        if self.active[name] == active:
            return []
        self.active[name] = active
        if active:
            log.warning("%s: %s: %s", self.uri, name, detail)
        else:
            log.info("%s: %s no longer", self.uri, name)
        return [Condition(t, name, self.uri, active, (), detail if active else "")]

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        """Read until cancelled, reconnecting as needed."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                link = Link(open_port(self.path, self.protocol.settings), loop)
            except (serial.SerialException, OSError, ValueError) as exc:
                for c in self._edge(clock.now(), "disconnected", True, f"cannot open {self.path}: {exc}"):
                    yield c
                await self._wait_to_reopen()
                continue
            reason = ""
            try:
                for c in self._edge(clock.now(), "disconnected", False):
                    yield c
                self.backoff.reset()
                async for item in self._session(link, clock):
                    if isinstance(item, str):
                        reason = item
                        break
                    yield item
            finally:
                link.close()
            if reason == PROBE_FAILED:
                self.candidates.append(self.candidates.pop(0))
                continue
            for c in self._edge(clock.now(), "disconnected", True, reason):
                yield c
            await self._wait_to_reopen()

    async def _wait_to_reopen(self) -> None:
        delay = self.backoff.take()
        log.info("%s: reopening in %.1f s", self.uri, delay)
        await asyncio.sleep(delay)

    async def _session(self, link: Link, clock: Clock) -> AsyncIterator[Item | str]:
        """Items from one open port; ends by yielding the reason it ended (a string)."""
        p = self.protocol
        decoder = self.decoder()
        probing = len(self.candidates) > 1
        opened = time.monotonic()
        last_frame = opened
        armed: float | None = opened + p.settle if p.streams else None
        next_periodic = opened + p.period if p.period else float("inf")
        next_negotiate = float("inf")
        self._link = link
        try:
            link.write(p.start)
            if p.start and not p.streams:
                armed = opened
            while True:
                if self._measure:
                    self._measure = False
                    link.write(p.measure)
                now = time.monotonic()
                quiet_until = armed + p.quiet if armed is not None and p.quiet and not self.active["stale"] else float("inf")
                deadline = min(next_periodic, next_negotiate, quiet_until)
                if probing:
                    deadline = min(deadline, opened + self.probe)
                got = await self._next(link, max(0.0, deadline - now))
                now = time.monotonic()
                if isinstance(got, Exception):
                    yield f"{type(got).__name__}: {got}"
                    return
                if got:
                    frames = decoder.frames
                    items = decoder.feed(got, clock.now())
                    link.write(decoder.outgoing())
                    if decoder.frames > frames:
                        last_frame = now
                        armed = now if p.streams else None
                        next_negotiate = float("inf")
                        if probing:
                            del self.candidates[1:]
                            probing = False
                        for c in self._edge(clock.now(), "stale", False):
                            yield c
                    for item in items:
                        yield item
                if probing and now - opened >= self.probe:
                    yield PROBE_FAILED
                    return
                if now >= next_periodic:
                    link.write(p.periodic)
                    next_periodic = now + p.period
                    if not p.streams and armed is None:
                        armed = now
                if armed is not None and p.quiet and not self.active["stale"] and now - armed >= p.quiet:
                    silent = now - last_frame
                    for c in self._edge(clock.now(), "stale", True, f"no valid {p.name} data for {silent:.1f} s"):
                        yield c
                    if p.streams and p.start:
                        next_negotiate = now
                if now >= next_negotiate:
                    link.write(p.start)
                    next_negotiate = now + p.negotiate
        except (serial.SerialException, OSError) as exc:
            yield f"{type(exc).__name__}: {exc}"
        finally:
            self._link = None

    @staticmethod
    async def _next(link: Link, timeout: float) -> bytes | Exception | None:
        """The next chunk or error, or ``None`` after ``timeout`` seconds.

        ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11 ``wait_for`` can swallow a
        cancellation that arrives as the queue delivers, leaving the stream running after cancel.
        """
        try:
            async with asyncio.timeout(None if timeout == float("inf") else timeout):
                return await link.queue.get()
        except TimeoutError:
            return None
