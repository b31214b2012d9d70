"""Bytes of one live-page update at session minute 1 vs minute 240 (they should be about equal).

    python benchmarks/bench_tick_bytes.py

Records two simulated sessions (1 minute and 240 minutes, 75 Hz pleth included) and asks the
live page's tick callback, over HTTP as the browser does, for the last second of new data.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from devices.virtual.simulator import SimSource
from layouts.app import create_app
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.model import Session
from monitor.session.store import Store

START = 1_800_000_000.0


def record(store: Store, sid: str, minutes: float) -> None:
    session = Session(sid, "BENCH-1", START, "iv", 70.0)
    store.create_session(session)
    source = SimSource("typical_iv", seed=1, pleth=True, duration=minutes * 60)
    record_at_full_speed(store, session, source, build_plan("kap-iv", "iv", {}))


def tick_request(app, client) -> dict:
    """The request body the browser sends for the tick callback, minus the state."""
    deps = json.loads(client.get("/_dash-dependencies").data)
    tick = next(d for d in deps if any(i["id"] == "tick" for i in d["inputs"]))
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in tick["output"].strip(".").split("...")]
    return {"output": tick["output"], "outputs": outputs, "changedPropIds": ["tick.n_intervals"],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}]}


def tick_bytes(store: Store, sid: str) -> tuple[int, int]:
    """Response size of a tick whose cursors are one second behind the end of the session (pleth included)."""
    end = max(r.t for r in store.readings(sid, vitals=["hr"]))
    trend = max(r.id for r in store.readings(sid, vitals=["hr", "pr", "spo2", "sbp", "dbp", "map"]) if r.t <= end - 1)
    pleth = max(r.id for r in store.recent(sid, "pleth", 0, 200) if r.t <= end - 1)
    events = max(e.id for e in store.events(sid))
    cursor = {"session": sid, "id": trend, "pleth": pleth, "dose": events, "event": events, "marks": 0, "alarms": ""}
    app = create_app(store, {})
    client = app.server.test_client()
    body = tick_request(app, client)
    body["state"] = [{"id": "cursor", "property": "data", "value": cursor}]
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:300]
    return len(response.data), store.count_readings(sid)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        rows = []
        for sid, minutes in (("minute-1", 1), ("minute-240", 240)):
            record(store, sid, minutes)
            size, stored = tick_bytes(store, sid)
            rows.append((minutes, size, stored))
    for minutes, size, stored in rows:
        print(f"session minute {minutes:>3}: {stored:>9,} readings stored, live update {size:,} bytes")
    print(f"ratio minute 240 / minute 1: {rows[1][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
