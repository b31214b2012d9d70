"""Small test doubles shared by the tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence

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


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it returns something truthy and return that; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
