"""Driving a source's ``stream`` in a test: the source streams in the background into ``items`` while a
scenario acts on it (a fake device, a peer on a socket), then the stream is cancelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from devices.reading import Condition, Item, Reading
from devices.source import Source, WallClock


class Run:
    """A source streaming in the background into ``items``."""

    def __init__(self, src: Source) -> None:
        self.items: list[Item] = []
        self.src = src

    async def pump(self) -> None:
        async for item in self.src.stream(WallClock()):
            self.items.append(item)

    async def until(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; last items: {self.items[-10:]}"
            await asyncio.sleep(0.005)

    def condition_items(self, name: str) -> list[Condition]:
        return [i for i in self.items if isinstance(i, Condition) and i.condition == name]

    def conditions(self, name: str) -> list[bool]:
        return [c.active for c in self.condition_items(name)]

    def reading_items(self, vital: str) -> list[Reading]:
        return [i for i in self.items if isinstance(i, Reading) and i.vital == vital]

    def readings(self, vital: str) -> list[float | None]:
        return [r.value for r in self.reading_items(vital)]


def drive(src: Source, scenario: Callable[[Run], Coroutine[Any, Any, None]]) -> Run:
    """Stream ``src`` while ``scenario`` acts on it, then cancel the stream."""

    async def main() -> Run:
        run = Run(src)
        task = asyncio.create_task(run.pump())
        try:
            await scenario(run)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return run

    return asyncio.run(main())
