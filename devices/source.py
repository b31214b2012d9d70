"""What a source is, and the clocks the hub hands to sources."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Protocol

from devices.reading import Item


class Clock(Protocol):
    """Session time in epoch seconds. Only the hub creates clocks; sources are given one.

    Clocks that run a replay or simulation (scaled, fast, playback) also have ``start``, the
    session start, from which replayed items are stamped.
    """

    def now(self) -> float: ...

    async def sleep_until(self, t: float) -> None: ...


def session_start(clock: Clock) -> float:
    """Where a replay's time 0 lands: the clock's session start, or now for a wall clock."""
    start = getattr(clock, "start", None)
    return clock.now() if start is None else float(start)


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


# How long (wall time) a sleeper on a FastClock may go on before the other tasks of its event loop run (the hub's
# flush, which stores what has arrived): a session runs at full speed without a turn of the loop per second of it.
FAST_TURN_S = 0.002


class FastClock:
    """Session time that jumps ahead as fast as it is asked to: runs a whole session at full speed.

    With several sleepers (a source and a dose schedule, say) time only moves to the earliest time
    anyone waits for, so no sleeper is woken ahead of data that comes before it. A sleeper that may go on
    lets the event loop's other tasks run every ``FAST_TURN_S`` of wall time.
    """

    def __init__(self, start: float) -> None:
        self.start = start
        self._now = start
        self._waiting: list[float] = []
        self._turned = time.monotonic()

    def now(self) -> float:
        return self._now

    async def sleep_until(self, t: float) -> None:
        if t > self._now:
            self._waiting.append(t)
            try:
                while min(self._waiting) < t:  # an earlier sleeper goes first
                    await self._turn()
                self._now = max(self._now, t)
            finally:
                self._waiting.remove(t)
        if time.monotonic() - self._turned >= FAST_TURN_S:
            await self._turn()

    async def _turn(self) -> None:
        """Let the event loop's other tasks run."""
        await asyncio.sleep(0)
        self._turned = time.monotonic()


class PlaybackClock:
    """Session time for replays and training: can be paused, sped up (1-60x) and skipped forward.

    Controls may be called from any thread; sleepers wake at once to re-read the clock.
    """

    def __init__(self, start: float, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start
        self._base_t = start
        self._base_wall = time.monotonic()
        self._speed = speed
        self._paused = False
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def _now(self) -> float:
        if self._paused:
            return self._base_t
        return self._base_t + (time.monotonic() - self._base_wall) * self._speed

    def now(self) -> float:
        with self._lock:
            return self._now()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def _change(self, paused: bool | None = None, speed: float | None = None, t: float | None = None) -> None:
        with self._lock:
            now = self._now()
            self._base_t = max(now, t) if t is not None else now
            self._base_wall = time.monotonic()
            if paused is not None:
                self._paused = paused
            if speed is not None:
                self._speed = speed
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def pause(self) -> None:
        self._change(paused=True)

    def resume(self) -> None:
        self._change(paused=False)

    def set_speed(self, speed: float) -> None:
        if not 0 < speed <= 1000:
            raise ValueError(f"speed {speed} out of range")
        self._change(speed=speed)

    def skip_to(self, t: float) -> None:
        """Jump forward to session time ``t`` (never backward: what happened stays recorded)."""
        self._change(t=t)

    async def sleep_until(self, t: float) -> None:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
        try:
            while True:
                entry[1].clear()  # before reading the clock, so no change can slip between
                with self._lock:
                    now, paused, speed = self._now(), self._paused, self._speed
                if now >= t:
                    return
                with contextlib.suppress(TimeoutError):  # asyncio.timeout, unlike wait_for, never eats a cancel
                    async with asyncio.timeout(None if paused else (t - now) / speed):
                        await entry[1].wait()
        finally:
            with self._lock:
                self._waiters.discard(entry)
