"""Small test doubles shared by the tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from devices.reading import Item
from devices.replay import Horizon, paced
from devices.source import Clock, session_start


class ListSource:
    """A finite source that replays items whose t is seconds from the session start (reporting its
    horizon, as recordings and simulations do)."""

    def __init__(self, items: Sequence[Item], uri: str = "test://list") -> None:
        self.items = list(items)
        self.uri = uri
        self.metadata: dict = {}
        self._horizon = Horizon()

    @property
    def horizon(self) -> float | None:
        return self._horizon.t

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        t0 = session_start(clock)
        end = t0 + max((i.t for i in self.items), default=0.0)
        async for item in paced([replace(i, t=t0 + i.t) for i in self.items], clock, t0, self._horizon, end):
            yield item
