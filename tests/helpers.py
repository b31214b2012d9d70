"""Small test doubles shared by the tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from devices.reading import Item
from devices.source import Clock


class ListSource:
    """A finite source that plays items whose t is seconds from the stream's start."""

    def __init__(self, items: Sequence[Item], uri: str = "test://list") -> None:
        self.items = list(items)
        self.uri = uri
        self.metadata: dict = {}

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        from dataclasses import replace

        t0 = clock.now()
        for item in self.items:
            await clock.sleep_until(t0 + item.t)
            yield replace(item, t=t0 + item.t)
