"""What a source is, and the clocks the hub hands to sources."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Protocol

from devices.reading import Item


class Clock(Protocol):
    """Session time in epoch seconds. Only the hub creates clocks; sources are given one."""

    def now(self) -> float: ...

    async def sleep_until(self, t: float) -> None: ...


class Source(Protocol):
    """Anything that yields readings and conditions: a simulator, a replay, a serial or BLE device.

    ``stream`` runs until cancelled (or, for finite sources, until the data ends). Transports
    stamp what they receive with ``clock.now()`` and report faults as conditions, never by raising.
    """

    uri: str

    def stream(self, clock: Clock) -> AsyncIterator[Item]: ...


class WallClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class ScaledClock:
    """Session time that runs ``speed`` times faster than real time from ``start``."""

    def __init__(self, start: float, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start
        self.speed = speed
        self._wall_start = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._wall_start) * self.speed

    async def sleep_until(self, t: float) -> None:
        delay = (t - self.now()) / self.speed
        if delay > 0:
            await asyncio.sleep(delay)


class FastClock:
    """Session time that jumps ahead as fast as it is asked to: runs a whole session at full speed."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    async def sleep_until(self, t: float) -> None:
        if t > self._now:
            self._now = t
        await asyncio.sleep(0)
