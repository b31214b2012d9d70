"""An emulated HL7 monitor: plays a simulated scenario or a recording to a listener as a monitor would,
over MLLP, so a clinic can try ``kapmon monitor hl7://...`` without one.

Every ``every`` seconds of the session it sends an ``ORU^R01`` with the latest continuous values (SpO2,
pulse rate, heart rate...), each cuff measurement as its own ``ORU^R01`` when it is taken, and an
``ORU^R40`` when a technical condition (probe off...) starts or ends. Times are the emulated monitor's
clock, i.e. this computer's when the message is sent. Each message waits for its acknowledgement; one
that does not come (or a listener that goes away) is sent again after reconnecting, with backoff. A
negative acknowledgement is reported and the next message goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import TypeVar

from devices.hl7.ack import ack_code
from devices.hl7.encoder import ALARMED, alarm_report, observation_report
from devices.hl7.mllp import Framer, frame
from devices.reading import Condition, Item, Reading, expand
from devices.vocabulary import NIBP_VITALS

CONTINUOUS = ("spo2", "pr", "hr", "rr", "temp")
DEVICE = "0012345678ABCDEF"  # the emulated monitor's EUI-64 (OBX-18)


@dataclass
class Tally:
    """What happened to the messages sent."""

    sent: int = 0
    acks: dict[str, int] = field(default_factory=dict)
    resent: int = 0
    reconnects: int = 0


@dataclass
class Link:
    """One MLLP connection to the listener, made again whenever it is lost."""

    host: str
    port: int
    ack_timeout: float = 10.0
    backoff: tuple[float, float] = (0.5, 10.0)
    say: Callable[[str], None] = lambda _line: None
    tally: Tally = field(default_factory=Tally)
    _streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    _framer: Framer = field(default_factory=lambda: Framer(1 << 20))

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        wait = self.backoff[0]
        while self._streams is None:
            try:
                self._streams = await asyncio.open_connection(self.host, self.port)
                self._framer = Framer(1 << 20)
            except OSError as exc:
                self.say(f"cannot connect to {self.host}:{self.port} ({exc.strerror or exc}); again in {wait:g} s")
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.backoff[1])
        return self._streams

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def send(self, message: str) -> tuple[str, str]:
        """Send until acknowledged; (MSA-1, MSA-3) of the acknowledgement."""
        self.tally.sent += 1
        while True:
            reader, writer = await self.connect()
            try:
                writer.write(frame(message.encode("utf-8")))
                async with asyncio.timeout(self.ack_timeout):
                    await writer.drain()
                    reply = await self._reply(reader)
                code, text = ack_code(reply)
            except (OSError, TimeoutError, EOFError, ValueError) as exc:
                self.say(f"no acknowledgement ({type(exc).__name__}: {exc}); reconnecting to send it again")
                self.close()
                self.tally.reconnects += 1
                self.tally.resent += 1
                continue
            self.tally.acks[code] = self.tally.acks.get(code, 0) + 1
            return code, text

    async def _reply(self, reader: asyncio.StreamReader) -> str:
        while True:
            data = await reader.read(65536)
            if not data:
                raise EOFError("the listener closed the connection")
            replies = self._framer.feed(data)
            if replies:
                return replies[0].decode("utf-8", "replace")


class Hl7Monitor:
    """Plays items (``t`` in seconds from the session start) to a listener at ``speed`` times real time."""

    def __init__(self, link: Link, every: float = 5.0, speed: float = 1.0, device: str = DEVICE) -> None:
        if not every > 0 or not speed > 0:
            raise ValueError("every and speed must be greater than 0")
        self.link = link
        self.every = every
        self.speed = speed
        self.device = device
        self.latest: dict[str, Reading] = {}
        self._count = 0

    def _control_id(self) -> str:
        self._count += 1
        return f"EMU{self._count:08d}"

    async def _send(self, build: Callable[[str, float], str]) -> None:
        code, text = await self.link.send(build(self._control_id(), time.time()))
        if code not in ("AA", "CA"):
            self.link.say(f"{code}: {text}")

    async def play(self, items: Iterable[Item]) -> Tally:
        """Send the items' messages, paced; returns the tally when the items end."""
        start_wall = time.monotonic()
        start_t: float | None = None
        next_periodic = float("-inf")
        for t, group in groupby(expand(items), key=lambda i: i.t):
            start_t = t if start_t is None else start_t
            delay = start_wall + (t - start_t) / self.speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now_items = list(group)
            cuffs = {i.source for i in now_items if isinstance(i, Reading) and i.vital in NIBP_VITALS}
            cuff: list[Reading] = []
            for item in now_items:
                if isinstance(item, Condition):
                    if item.condition in ALARMED:
                        await self._send(lambda c, now: alarm_report(_now(item, now), self.device, c, now))  # noqa: B023 (awaited at once)
                elif item.source in cuffs and (item.vital in NIBP_VITALS or item.vital == "pr"):
                    cuff.append(item)  # the pulse rate a cuff measured with its pressures
                elif item.vital in CONTINUOUS:
                    self.latest[item.vital] = item
            if cuff:
                await self._send(
                    lambda c, now: observation_report([(_now(r, now), True) for r in cuff], self.device, c, now)  # noqa: B023 (awaited at once)
                )
            if t >= next_periodic and self.latest:
                latest = list(self.latest.values())
                await self._send(
                    lambda c, now: observation_report([(_now(r, now), False) for r in latest], self.device, c, now)  # noqa: B023 (awaited at once)
                )
                next_periodic = t + self.every
        self.link.close()
        return self.link.tally


_Stamped = TypeVar("_Stamped", Reading, Condition)


def _now(item: _Stamped, now: float) -> _Stamped:
    """The item as the emulated monitor stamps it: at the time it is sent."""
    return replace(item, t=now)


def run(
    items: Iterable[Item], host: str, port: int, *, every: float = 5.0, speed: float = 1.0, say: Callable[[str], None] = print
) -> Tally:
    """Play ``items`` to ``host:port`` until they end (``kapmon emulate hl7-monitor``)."""
    return asyncio.run(Hl7Monitor(Link(host, port, say=say), every=every, speed=speed).play(items))
