"""What one live-page tick costs: the SQLite statements it runs on the page's thread (counted with the
connection's trace callback) and the bytes it answers, on a session running live after a given length of
history. Shared by ``tests/integration/test_live_view.py`` and ``benchmarks/bench_tick_queries.py``.

Only APIs the live page has had since before its read model are used here, so the benchmark can drop this
file into an older tree and measure the code as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devices.reading import Item, reading
from devices.source import Clock, WallClock
from devices.virtual.scenarios import screening
from layouts.app import create_app
from monitor.session.hub import Hub
from monitor.session.model import Session
from monitor.session.start import build_plan, session_rules
from monitor.session.store import Store

PLETH_HZ = 75
CUFF_EVERY_S = 300  # the plan's NIBP cycle
NOTE_EVERY_S = 600
FEED_STEP_S = 0.2
STEP = 100  # SQLite VM instructions per progress callback
CAUGHT_UP = 2  # ticks a page takes to load its window (one sends at most the tick's row limit, the next the rest)


class LiveFeed:
    """An oximeter sending HR, PR and SpO2 each second (and pleth at 75 Hz), stamped with the clock's now."""

    uri = "probe://live"

    def __init__(self, pleth: bool = True) -> None:
        self.pleth = pleth

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        start = clock.now()
        per_second = round(1 / FEED_STEP_S)
        step = 0
        while True:
            step += 1
            t = start + step * FEED_STEP_S
            await clock.sleep_until(t)
            if self.pleth:
                for i in range(round(PLETH_HZ * FEED_STEP_S)):
                    yield reading(t + i / PLETH_HZ, "pleth", 50.0 + 40.0 * ((i % 15) / 15), "ox")
            if step % per_second == 0:
                for vital, value in (("hr", 74), ("pr", 74), ("spo2", 97), ("pi", 3.1)):
                    yield reading(t, vital, value, "ox")


def history(store: Store, session_id: str, start: float, seconds: int, pleth: bool) -> None:
    """``seconds`` of a stored past: 1 Hz oximetry (75 Hz pleth), a cuff every 5 min, a dose, a note every 10 min."""
    for chunk in range(0, seconds, 600):
        rows = []
        for s in range(chunk, min(seconds, chunk + 600)):
            t = start + s
            rows += [reading(t, v, x, "ox") for v, x in (("hr", 72), ("pr", 72), ("spo2", 98), ("pi", 3.0))]
            if s % CUFF_EVERY_S == 0:
                rows += [reading(t, v, x, "cuff") for v, x in (("sbp", 124), ("dbp", 78), ("map", 93))]
            if pleth:
                rows += [reading(t + i / PLETH_HZ, "pleth", 60.0, "ox") for i in range(PLETH_HZ)]
        events = [(start + s, "note", {"text": "calm"}, "RN Li") for s in range(chunk, min(seconds, chunk + 600))
                  if s and s % NOTE_EVERY_S == 0]
        store.write(session_id, readings=rows, events=events)
    store.write(session_id, events=[(start + 60, "dose", {"route": "iv", "drug": "ketamine", "mg": 35.0,
                                                          "end": start + 60 + 2400}, "RN Li")])


@contextmanager
def running(path: Path, history_s: int, pleth: bool = True) -> Iterator[tuple[Store, Hub]]:
    """A session that started ``history_s`` ago (its past stored) and is now recorded live by a hub."""
    store = Store(path)
    started = time.time() - history_s
    plan = build_plan(None, "iv", screening(age=45))
    session = Session(f"probe-{history_s}", "PROBE-1", started, "iv", 70.0, metadata={"screening": dict(plan.screening)})
    store.create_session(session)
    history(store, session.id, started, history_s, pleth)
    hub = Hub(store, session, [LiveFeed(pleth)], WallClock(), session_rules(plan, started, {}, 70.0)).start()
    try:
        yield store, hub
    finally:
        hub.stop()


@dataclass(frozen=True)
class Tick:
    statements: list[str]  # the SQL the tick ran on the page's thread
    steps: int  # SQLite virtual machine steps they took (to the nearest STEP): grows with the rows they read
    bytes: int  # the size of its answer
    seconds: float  # how long it took


def tick_request(client) -> dict:
    """The request the browser sends for the live page's tick, without its state."""
    deps = json.loads(client.get("/_dash-dependencies").data)
    tick = next(d for d in deps if any(i["id"] == "tick" for i in d["inputs"]))
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in tick["output"].strip(".").split("...")]
    return {"output": tick["output"], "outputs": outputs, "changedPropIds": ["tick.n_intervals"],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}]}


def wait_for_second(store: Store, session_id: str, timeout: float) -> None:
    """Wait until the next second of readings is stored (a new HR): what a tick a second later finds."""
    before = store.latest(session_id, "hr")
    deadline = time.time() + timeout
    while store.latest(session_id, "hr") == before:
        if time.time() > deadline:
            raise TimeoutError("the live session stored nothing new")
        time.sleep(0.05)


def ticks(store: Store, hub: Hub, n: int, timeout: float = 30.0) -> list[Tick]:
    """The first tick of a freshly opened page (empty cursor), then ``n`` more, each once new readings are stored."""
    app = create_app(store, {hub.session.id: hub})
    client = app.server.test_client()
    body = tick_request(client)
    conn = store._conn()  # the Flask test client answers on this thread: its connection is the page's
    seen: list[str] = []
    cursor: dict = {"session": hub.session.id}
    out = []
    for i in range(n + 1):
        if i:
            wait_for_second(store, hub.session.id, timeout)
        seen.clear()
        steps = [0]

        def step() -> int:
            steps[0] += 1
            return 0  # carry on

        conn.set_trace_callback(seen.append)
        conn.set_progress_handler(step, STEP)
        began = time.perf_counter()
        response = client.post("/_dash-update-component", json={**body, "state": [
            {"id": "cursor", "property": "data", "value": cursor}]})
        took = time.perf_counter() - began
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, STEP)
        assert response.status_code == 200, response.data[:300]
        cursor = json.loads(response.data)["response"]["cursor"]["data"]
        out.append(Tick(list(seen), steps[0] * STEP, len(response.data), took))
    return out
