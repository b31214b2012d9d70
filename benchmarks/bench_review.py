"""The review page on a 4-hour session with 75 Hz pleth (~1.1M readings): open, zoom, bytes sent.

    python benchmarks/bench_review.py [--hours 4]

Drives the Dash callbacks through the Flask test client (no browser): the time and the JSON size of
opening ``/review/<id>`` (cold: first read of the store; warm: traces cached) and of one zoom to a
10-minute window, which re-sends the downsampled traces as a Patch.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from devices.virtual.simulator import SimSource
from layouts.app import create_app
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.model import Session
from monitor.session.store import Store

START = 1_800_000_000.0


def record(store: Store, hours: float) -> None:
    src = SimSource("typical_iv", seed=1, pleth=True, duration=hours * 3600)
    session = Session("bench", "BENCH-1", START, "iv", 70.0, "kap-iv", "demo", src.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, src, build_plan("kap-iv", "iv", {}))


def call(client, output: str, inputs: list[dict], state: list[dict]) -> tuple[float, int, dict]:
    """One callback request: (seconds, response bytes, response JSON)."""
    oid, prop = output.split(".")
    body = {"output": output, "outputs": {"id": oid, "property": prop}, "inputs": inputs, "state": state,
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    t0 = time.perf_counter()
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise SystemExit(f"callback {output} failed: {response.status_code} {response.data[:300]!r}")
    return elapsed, len(response.data), response.get_json()


def component_data(tree: object, component_id: str) -> object:
    """The ``data`` of the component with this id anywhere in a layout's JSON."""
    if isinstance(tree, dict) and isinstance(tree.get("props"), dict) and tree["props"].get("id") == component_id:
        return tree["props"].get("data")
    for item in tree.values() if isinstance(tree, dict) else tree if isinstance(tree, list) else ():
        found = component_data(item, component_id)
        if found is not None:
            return found
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        record(store, args.hours)
        print(f"session: {args.hours:g} h typical_iv with 75 Hz pleth, {store.count_readings('bench'):,} readings "
              f"(recorded in {time.perf_counter() - t0:.1f} s)")
        client = create_app(store).server.test_client()
        client.get("/")
        route = [{"id": "url", "property": "pathname", "value": "/review/bench"}]
        for label in ("cold", "warm"):
            seconds, size, page = call(client, "page.children", route, [])
            print(f"open /review/bench ({label}): {seconds * 1000:,.0f} ms, {size / 1e3:,.0f} kB sent")
        traces = component_data(page, "review-traces")
        if traces is None:
            raise SystemExit("the review page has no review-traces store")
        state = [{"id": "review-session", "property": "data", "value": "bench"},
                 {"id": "review-traces", "property": "data", "value": traces}]
        for x0 in (40.0, 120.0):
            relayout = [{"id": "review-graph", "property": "relayoutData",
                         "value": {"xaxis.range[0]": x0, "xaxis.range[1]": x0 + 10}}]
            seconds, size, _ = call(client, "review-graph.figure", relayout, state)
            print(f"zoom to T+{x0:g}..{x0 + 10:g} min: {seconds * 1000:,.0f} ms, {size / 1e3:,.0f} kB sent")
        relayout = [{"id": "review-graph", "property": "relayoutData", "value": {"xaxis.autorange": True}}]
        seconds, size, _ = call(client, "review-graph.figure", relayout, state)
        print(f"zoom back out to the whole session: {seconds * 1000:,.0f} ms, {size / 1e3:,.0f} kB sent")


if __name__ == "__main__":
    main()
