"""Small test doubles shared by the tests."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from devices.io.recording import shift
from devices.reading import Item, reading
from devices.source import Clock, session_start
from devices.virtual.replay import Horizon, paced

ROOT = Path(__file__).resolve().parents[1]  # the repository


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
        async for item in paced([shift(i, t0) for i in self.items], clock, t0, self._horizon, end):
            yield item


class Idle:
    """A device that sends nothing (an SpO2 an hour from now): the session changes only when a test adds readings."""

    uri = "test://idle"

    async def stream(self, clock):
        while True:
            await clock.sleep_until(clock.now() + 3600)
            yield reading(clock.now(), "spo2", 97, "idle")


def dash_callback(client, input_id: str, value: object = 1, state: dict | None = None, headers: dict | None = None,
                  inputs: list | None = None, changed: object = None):
    """POST to ``/_dash-update-component`` as the browser does when the callback whose (first) input is
    ``input_id`` fires with ``value``; ``state`` maps ``"id.property"`` to the state values sent. A forged
    request can give all ``inputs`` and the ``changed`` component id (a pattern id as a dict) itself."""
    deps = client.get("/_dash-dependencies", headers=headers).get_json()
    dep = next(d for d in deps if d["inputs"] and d["inputs"][0]["id"] == input_id)
    output = dep["output"]
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]
    first = dep["inputs"][0]
    body = {
        "output": output,
        "outputs": outputs if output.startswith("..") else outputs[0],
        "inputs": inputs or [{"id": first["id"], "property": first["property"], "value": value}],
        "changedPropIds": [f"{_id_text(changed or first['id'])}.{first['property']}"],
        "state": [{"id": s["id"], "property": s["property"], "value": (state or {}).get(f"{s['id']}.{s['property']}")}
                  for s in dep["state"]],
    }
    return client.post("/_dash-update-component", json=body, headers=headers)


def _id_text(component_id: object) -> str:
    """A component id as Dash writes it in ``changedPropIds`` (a pattern id as sorted, compact JSON)."""
    if isinstance(component_id, dict):
        import json

        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return str(component_id)


class HeldAnswer:
    """A busy server, as a page sees it: once ``arm``ed, the server holds its next answer to a callback whose
    request names ``marker`` (e.g. ``b"ack-result.children"``) for ``seconds``. ``holding`` is set when it starts
    to hold, ``released`` when it lets go (wait for it before the server stops)."""

    def __init__(self, app, marker: bytes, seconds: float) -> None:
        from flask import request

        self.armed, self.holding, self.released = threading.Event(), threading.Event(), threading.Event()

        @app.server.after_request
        def hold(response):
            if self.armed.is_set() and marker in request.get_data():
                self.armed.clear()
                self.holding.set()
                time.sleep(seconds)
                self.released.set()
            return response

    def arm(self) -> None:
        self.armed.set()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it returns something truthy and return that; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def open_files(path: Path) -> int:
    """How many file descriptors of this process are open on ``path`` (SQLite: one per connection to it)."""
    return sum(1 for fd in Path("/proc/self/fd").iterdir() if os.path.realpath(fd) == str(path.resolve()))
