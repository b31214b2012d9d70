"""``hl7://HOST:PORT?...``: listen for monitors sending HL7 v2 over MLLP (IHE PCD-01 ``ORU^R01`` results,
PCD-04 ``ORU^R40`` alarms) and answer each message with an acknowledgement.

Every message gets an ACK: ``AA``; ``AE`` when an observation was refused (the rest is recorded); ``AR``
when the message is not one kapmon takes. The reason of a negative one is logged on one line. A peer that
sends garbage, never finishes a message or holds a connection idle is dropped (``mllp.Limits``) and never
holds up another: each connection is its own task, messages are decoded one at a time off the event
loop, and when all ``MAX_CONNECTIONS`` are taken a new connection replaces the oldest that has not sent a
valid message.

Times: an observation is stamped on the monitor's clock, moved onto this computer's by the message's
send time (received - MSH-7), so a monitor whose clock is off or in another zone still lands right; a
time ahead of receipt is the receipt time; one older than ``max_age`` (a backlog from long ago) is
dropped with a logged line. A measurement a monitor repeats in every periodic message (the last NIBP with
its own OBX-14) is recorded once: a reading with the same monitor time and value as the last one of its
source and vital is not recorded again. The first message of each device is logged, so a monitor sending
to the wrong room's listener shows in the terminal (``device=`` refuses it).

Query parameters (all optional):
``device`` (comma-separated equipment or facility ids: messages from any other are refused), ``peer``
(comma-separated addresses or networks that may connect), ``tz`` (zone of timestamps that carry none:
``+HHMM``/``-HHMM``/``local``, default local), ``stale`` (seconds without a valid message before the data
is stale, default 60), ``max_age`` (seconds, default 600).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import tzinfo

import hl7

from devices.errors import URIError
from devices.hl7.ack import ack
from devices.hl7.alarms import AlarmTracker
from devices.hl7.decoder import Decoded, Hl7Error, decode_message
from devices.hl7.dtm import parse_zone
from devices.hl7.message import parse, printable
from devices.hl7.mllp import FrameTooLong, Limits, MllpError, frame, messages
from devices.reading import Condition, Item, Reading
from devices.source import Clock
from devices.uri import DeviceURI

log = logging.getLogger(__name__)

KNOWN_PARAMS = ("device", "peer", "tz", "stale", "max_age")
MAX_DEVICES = 8  # design proposal: one room's monitor, cuff and oximeter with room to spare
MAX_CONNECTIONS = 16  # design proposal
FUTURE_SLACK_S = 2.0  # a time this far past receipt is the monitor's clock running ahead
WRITE_TIMEOUT_S = 10.0  # design proposal: an ACK the peer does not take in this time ends the connection
BACKOFF_S = (1.0, 30.0)  # first and longest wait before listening again after the port was refused
LOG_EVERY_S = 60.0  # the same warning is logged at most once a minute (with how often it recurred)


@dataclass(frozen=True, slots=True)
class Settings:
    """A listener's address and rules (see the module docstring)."""

    host: str
    port: int
    devices: frozenset[str] = frozenset()
    peers: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    zone: tzinfo | None = None
    stale: float = 60.0  # design proposal: periodic results come every 1-60 s
    max_age: float = 600.0  # design proposal: ten minutes of backlog is still the session's
    limits: Limits = field(default_factory=Limits)


@dataclass(eq=False)
class Peer:
    """One connection: who, since when, and whether it has sent a message kapmon took."""

    address: str
    opened: float
    writer: asyncio.StreamWriter
    task: asyncio.Task | None = None
    good: bool = False


class Throttle:
    """Logs a warning at most once per ``LOG_EVERY_S`` per key, saying how often it recurred meanwhile."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def warn(self, key: str, text: str) -> None:
        now = time.monotonic()
        last, count = self._last.get(key, (float("-inf"), 0))
        if now - last < LOG_EVERY_S:
            self._last[key] = (last, count + 1)
            return
        self._last[key] = (now, 0)
        log.warning("%s%s", printable(text), f" (and {count} more like it)" if count else "")


class Hl7Source:
    """A listening socket as a source (see the module docstring). ``address`` is where it listens once it
    does (the port chosen when 0 was asked for)."""

    def __init__(self, uri: str, settings: Settings) -> None:
        self.uri = uri
        self.settings = settings
        self.address: tuple[str, int] | None = None
        self.peers: list[Peer] = []
        self.devices: set[str] = set()
        self.tracker = AlarmTracker()
        self.throttle = Throttle()
        self._last: dict[tuple[str, str], tuple[float, float | None]] = {}  # (source, vital) -> (monitor t, value)
        self._last_valid = 0.0
        self._flags = {"disconnected": False, "stale": False}
        self._clock: Clock | None = None

    def _edge(self, name: str, active: bool, detail: str = "") -> list[Condition]:
        if self._flags[name] == active or self._clock is None:
            return []
        self._flags[name] = active
        return [Condition(self._clock.now(), name, self.uri, active, detail=detail if active else "")]

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        """Readings and conditions until cancelled; listens again (with backoff) if the port is refused."""
        self._clock = clock
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._decoding = asyncio.Semaphore(1)  # one decode at a time: a flood of large messages takes one thread
        self._last_valid = clock.now()
        server: asyncio.Server | None = None
        wait = BACKOFF_S[0]
        try:
            while True:
                if server is None:
                    try:
                        server = await asyncio.start_server(self._connected, self.settings.host, self.settings.port)
                    except OSError as exc:
                        where = f"{self.settings.host}:{self.settings.port}"
                        for c in self._edge("disconnected", True, f"cannot listen on {where}: {exc.strerror or exc}"):
                            yield c
                        await asyncio.sleep(wait)
                        wait = min(wait * 2, BACKOFF_S[1])
                        continue
                    self.address = server.sockets[0].getsockname()[:2]
                    log.info("%s: listening on %s:%s", self.uri, *self.address)
                    for c in self._edge("disconnected", False):
                        yield c
                try:
                    async with asyncio.timeout(max(0.0, self._last_valid + self.settings.stale - clock.now())):
                        item = await self._queue.get()
                except TimeoutError:
                    for c in self._edge("stale", True, f"no valid message for {self.settings.stale:g} s"):
                        yield c
                    self._last_valid = clock.now()  # look again after another quiet period
                    continue
                yield item
        finally:
            tasks = [p.task for p in self.peers if p.task is not None]
            for peer in self.peers:
                peer.writer.transport.abort()  # its handler sees the end of the stream and returns
            if server is not None:
                server.close()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ---------------------------------------------------------------- connections

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = str((writer.get_extra_info("peername") or ("?",))[0])
        if not self._allowed(address):
            self.throttle.warn(f"peer:{address}", f"{self.uri}: connection from {address} refused (not in peer=)")
            writer.close()
            return
        if not self._make_room():
            self.throttle.warn(
                "full",
                f"{self.uri}: connection from {address} refused: {MAX_CONNECTIONS} connections "
                "are open and all have sent valid messages",
            )
            writer.close()
            return
        peer = Peer(address, time.monotonic(), writer, asyncio.current_task())
        self.peers.append(peer)
        try:
            async for payload in messages(reader, self.settings.limits):
                await self._answer(peer, await self._take(payload, peer))
        except MllpError as exc:
            self.throttle.warn(f"mllp:{address}:{exc}", f"{self.uri}: {address} dropped: {exc}")
            if isinstance(exc, FrameTooLong):
                await self._answer(peer, ack(None, "AR", str(exc)), quiet=True)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.info("%s: connection from %s ended: %s", self.uri, address, exc)
        finally:
            if peer in self.peers:
                self.peers.remove(peer)
            writer.close()

    def _allowed(self, address: str) -> bool:
        if not self.settings.peers:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # an IPv4 peer of a dual-stack listener ([::])
        return any(ip in net for net in self.settings.peers if net.version == ip.version)

    def _make_room(self) -> bool:
        """Whether a new connection fits, closing the oldest one that never sent a valid message if need be."""
        if len(self.peers) < MAX_CONNECTIONS:
            return True
        idle = [p for p in self.peers if not p.good]
        if not idle:
            return False
        oldest = min(idle, key=lambda p: p.opened)
        self.throttle.warn(
            "evict", f"{self.uri}: closed the connection from {oldest.address}, which sent no valid message, to make room"
        )
        oldest.writer.transport.abort()
        self.peers.remove(oldest)
        return True

    async def _answer(self, peer: Peer, reply: str, quiet: bool = False) -> None:
        try:
            peer.writer.write(frame(reply.encode("ascii", "replace")))
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await peer.writer.drain()
        except (ConnectionError, OSError, TimeoutError):
            if not quiet:
                raise

    # ---------------------------------------------------------------- messages

    async def _take(self, payload: bytes, peer: Peer) -> str:
        """Decode one message (in a worker thread, one at a time, so a large one never holds up the recorder's
        loop), hand over what it holds and return its ACK."""
        assert self._clock is not None
        received = self._clock.now()
        async with self._decoding:
            message, outcome = await asyncio.to_thread(_decode, payload, received, self.settings.zone)
        if isinstance(outcome, Decoded):
            try:
                self._check_devices(outcome)
            except Hl7Error as exc:
                outcome = exc
        if isinstance(outcome, Hl7Error):
            self.throttle.warn(
                f"{peer.address}:{outcome.ack}:{outcome}", f"{self.uri}: {outcome.ack} to {peer.address}: {outcome}"
            )
            return ack(message, outcome.ack, str(outcome))
        if isinstance(outcome, BaseException):  # a fault in decoding one message must not end the connection
            log.error("%s: message from %s could not be decoded", self.uri, peer.address, exc_info=outcome)
            return ack(message, "AE", "kapmon could not decode this message (internal error, logged)")
        peer.good = True
        self._deliver(outcome, received)
        for note in outcome.notes:
            log.debug("%s: %s", self.uri, note)
        if outcome.problems:
            more = f" (and {len(outcome.problems) - 1} more)" if len(outcome.problems) > 1 else ""
            reason = outcome.problems[0] + more
            self.throttle.warn(f"{peer.address}:AE:{outcome.problems[0]}", f"{self.uri}: AE to {peer.address}: {reason}")
            return ack(message, "AE", reason)
        return ack(message, "AA")

    def _check_devices(self, decoded: Decoded) -> None:
        allowed = self.settings.devices
        stranger = sorted(d for d in decoded.devices if allowed and d not in allowed)
        if stranger:
            raise Hl7Error(f"device {stranger[0]} is not one this listener takes (device={','.join(sorted(allowed))})")
        new = decoded.devices - self.devices
        if len(self.devices) + len(new) > MAX_DEVICES:
            raise Hl7Error(f"more than {MAX_DEVICES} devices on one listener; refusing {sorted(new)[0]}")
        for device in sorted(new):
            log.warning("%s: first message from device %s", self.uri, device)
        self.devices |= new

    def _on_this_clock(self, t: float, offset: float, received: float) -> float | None:
        """A monitor time on this computer's clock; ``None`` when older than ``max_age``."""
        t += offset
        if t > received + FUTURE_SLACK_S:
            return received
        return None if t < received - self.settings.max_age else t

    def _deliver(self, decoded: Decoded, received: float) -> None:
        """Items onto this computer's clock, then to the stream; the data is no longer stale."""
        offset = received - decoded.sent if decoded.sent is not None else 0.0
        items: list[Item] = []
        if decoded.kind == "R40":  # an alarm is never dropped: one whose end is lost would stay on
            alarms = [
                replace(a, condition=replace(a.condition, t=self._on_this_clock(a.condition.t, offset, received) or received))
                for a in decoded.alarms
            ]
            items += self.tracker.update(alarms)
        for item in decoded.items if decoded.kind == "R01" else ():
            if not isinstance(item, Reading):  # an ORU^R01 holds readings only
                continue
            key, seen = (item.source, item.vital), (item.t, item.value)
            if self._last.get(key) == seen:
                continue  # the same measurement again
            self._last[key] = seen
            t = self._on_this_clock(item.t, offset, received)
            if t is None:
                self.throttle.warn("old", f"{self.uri}: an observation older than {self.settings.max_age:g} s dropped")
            else:
                items.append(replace(item, t=t))
        self._last_valid = received
        for item in self._edge("stale", False) + items:
            self._queue.put_nowait(item)


def _decode(payload: bytes, received: float, zone: tzinfo | None) -> tuple[hl7.Message | None, Decoded | Exception]:
    """A message's bytes decoded (pure; run in a worker thread): the parsed message if it could be parsed,
    and what it holds or why kapmon cannot take it."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("latin-1")
    message: hl7.Message | None = None
    try:
        message = parse(text)
        return message, decode_message(message, received, zone)
    except Exception as exc:  # returned, not raised: the caller answers every message
        return message, exc


def _networks(uri: DeviceURI) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in (uri.param("peer") or "").split(",") if p.strip())
    except ValueError as exc:
        raise URIError(f"{uri.text}: peer: {exc}") from None


def _address(uri: DeviceURI) -> tuple[str, int]:
    host, sep, port = uri.target.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise URIError(f"{uri.text}: expected hl7://HOST:PORT (e.g. hl7://0.0.0.0:2575)")
    return host.strip("[]") or "0.0.0.0", int(port)


def open_hl7(uri: DeviceURI) -> Hl7Source:
    """A source listening where ``uri`` says; ``URIError`` naming what is wrong."""
    unknown = sorted(set(uri.params) - set(KNOWN_PARAMS))
    if unknown:
        raise URIError(f"{uri.text}: unknown parameter {unknown[0]!r} (known: {', '.join(KNOWN_PARAMS)})")
    host, port = _address(uri)
    try:
        zone = parse_zone(uri.param("tz") or "")
    except ValueError as exc:
        raise URIError(f"{uri.text}: tz: {exc}") from None
    devices = frozenset(d.strip() for d in (uri.param("device") or "").split(",") if d.strip())
    settings = Settings(
        host, port, devices, _networks(uri), zone, uri.float_param("stale", 60.0), uri.float_param("max_age", 600.0)
    )
    return Hl7Source(uri.text, settings)
