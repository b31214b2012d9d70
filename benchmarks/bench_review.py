"""The review page on a 4-hour session with 75 Hz pleth (~1.1M readings): open, zoom, bytes sent, beside
plotly-resampler building the same traces from the same store.

    pip install -e '.[bench]'    # plotly-resampler, the anchor
    python benchmarks/bench_review.py [--hours 4] [--db PATH] [--runs 5]

Drives the Dash callbacks through the Flask test client (no browser), in ``--runs`` fresh processes (the
machine may be shared: medians are printed, and each run's cold open and ratio): the time and the JSON size
of opening ``/review/<id>`` (cold: the first open in the process, nothing cached; warm: the numerics cached)
and of zooms to 10-minute and 1-minute windows, each re-sending the downsampled traces as a Patch (also one
with the numerics cache emptied, as in a freshly started server). The anchor, in the same process: what a user
of plotly-resampler does with the store: every trace's whole series into numpy, then
``FigureResampler.add_trace(hf_x=, hf_y=)`` for each and its first figure as JSON; the whole series read
either as the store hands one out (``Store.series``, a row a reading: the target's anchor) or with waveforms
decoded straight into arrays (``Store.waveform``, the read this page uses for a zoom).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

try:
    from plotly_resampler import FigureResampler
except ImportError:
    raise SystemExit("the anchor needs plotly-resampler: pip install -e '.[bench]'") from None

from devices.virtual.simulator import SimSource
from devices.vocabulary import WAVEFORMS
from layouts import review
from layouts.app import create_app
from monitor.session.model import Session
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.store import Store

START = 1_800_000_000.0


def record(store: Store, hours: float) -> None:
    src = SimSource("typical_iv", seed=1, pleth=True, duration=hours * 3600)
    session = Session("bench", "BENCH-1", START, "iv", 70.0, "kap-iv", "demo", src.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, src, build_plan("kap-iv", "iv", {}))


def call(client, output: str, inputs: list[dict], state: list[dict]) -> tuple[float, int, dict, float]:
    """One callback request: (seconds, response bytes, response JSON, CPU seconds of this process)."""
    oid, prop = output.split(".")
    body = {"output": output, "outputs": {"id": oid, "property": prop}, "inputs": inputs, "state": state,
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    t0, cpu = time.perf_counter(), time.process_time()
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu
    if response.status_code != 200:
        raise SystemExit(f"callback {output} failed: {response.status_code} {response.data[:300]!r}")
    return elapsed, len(response.data), response.get_json(), cpu


def component_data(tree: object, component_id: str) -> object:
    """The ``data`` of the component with this id anywhere in a layout's JSON."""
    if isinstance(tree, dict) and isinstance(tree.get("props"), dict) and tree["props"].get("id") == component_id:
        return tree["props"].get("data")
    for item in tree.values() if isinstance(tree, dict) else tree if isinstance(tree, list) else ():
        found = component_data(item, component_id)
        if found is not None:
            return found
    return None


def series_rows(store: Store, session_id: str, vital: str) -> tuple[np.ndarray, np.ndarray]:
    """A whole series the way the store hands one out (``Store.series``: a row a reading), into numpy."""
    arr = np.array(store.series(session_id, vital), dtype=float).reshape(-1, 2)
    return np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])


def series_arrays(store: Store, session_id: str, vital: str) -> tuple[np.ndarray, np.ndarray]:
    """A whole series with waveforms decoded straight into numpy (``Store.waveform``), numerics as above."""
    return store.waveform(session_id, vital) if vital in WAVEFORMS else series_rows(store, session_id, vital)


def anchor(store: Store, session_id: str, read: Callable) -> tuple[float, float, int, float]:
    """plotly-resampler's build of the review's traces from the store: (seconds reading every whole series into
    numpy with ``read``, seconds adding them to a FigureResampler and making its first figure's JSON, bytes, CPU
    seconds of this process for both)."""
    start, cpu = time.perf_counter(), time.process_time()
    t0 = store.session(session_id).started
    arrays = {tr.vital: found for tr in review.TRACES if len((found := read(store, session_id, tr.vital))[0])}
    read_s = time.perf_counter() - start
    panels = [p for p in review.PANELS if any(tr.vital in arrays for tr in p.traces)]
    fig = FigureResampler(make_subplots(rows=len(panels), cols=1, shared_xaxes=True), default_n_shown_samples=review.N_OUT)
    for row, panel in enumerate(panels, start=1):
        for trace in (tr for tr in panel.traces if tr.vital in arrays):
            t, v = arrays[trace.vital]
            fig.add_trace(go.Scattergl(name=trace.label, mode="lines"), hf_x=(t - t0) / 60, hf_y=v, row=row, col=1)
    size = len(fig.to_json())
    return read_s, time.perf_counter() - start - read_s, size, time.process_time() - cpu


ZOOMS = (  # (label, relayoutData, empty the numerics cache first)
    ("zoom to T+40..50 min", {"xaxis.range[0]": 40.0, "xaxis.range[1]": 50.0}, False),
    ("zoom to T+120..130 min", {"xaxis.range[0]": 120.0, "xaxis.range[1]": 130.0}, False),
    ("zoom to T+200..201 min", {"xaxis.range[0]": 200.0, "xaxis.range[1]": 201.0}, False),
    ("zoom to T+90..100 min, numerics cache emptied", {"xaxis.range[0]": 90.0, "xaxis.range[1]": 100.0}, True),
    ("zoom back out to the whole session", {"xaxis.autorange": True}, False),
)
ANCHORS = (("Store.series, a row a reading", series_rows), ("Store.waveform, decoded arrays", series_arrays))


def one_run(db: Path) -> dict[str, list[float]]:
    """Every figure of one fresh process: {label: [seconds, bytes, CPU seconds]} (anchors: [seconds, read s, build s,
    bytes, CPU seconds])."""
    store = Store(db)
    client = create_app(store).server.test_client()
    client.get("/")
    route = [{"id": "url", "property": "pathname", "value": "/review/bench"}]
    out: dict[str, list[float]] = {}
    for label in ("open cold", "open warm"):
        seconds, size, page, cpu = call(client, "page.children", route, [])
        out[label] = [seconds, size, cpu]
    for name, read in ANCHORS:
        read_s, build_s, size, cpu = anchor(store, "bench", read)
        out[f"anchor ({name})"] = [read_s + build_s, read_s, build_s, size, cpu]
    traces = component_data(page, "review-traces")
    if traces is None:
        raise SystemExit("the review page has no review-traces store")
    state = [{"id": "review-session", "property": "data", "value": "bench"},
             {"id": "review-traces", "property": "data", "value": traces}]
    for label, relayout, empty in ZOOMS:
        if empty:
            review._cache.clear()
        inputs = [{"id": "review-graph", "property": "relayoutData", "value": relayout}]
        seconds, size, _, cpu = call(client, "review-graph.figure", inputs, state)
        out[label] = [seconds, size, cpu]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--db", type=Path, help="a store to record the session in once and read it from on later runs")
    ap.add_argument("--runs", type=int, default=5, help="fresh processes to measure in (medians are printed)")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a single measuring process
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.db)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        store = Store(db)
        t0 = time.perf_counter()
        recorded = store.session("bench") is None
        if recorded:
            record(store, args.hours)
        print(f"session: typical_iv with 75 Hz pleth, {store.count_readings('bench'):,} readings "
              + (f"(recorded in {time.perf_counter() - t0:.1f} s)" if recorded else f"(read from {db})"))
        store.close()
        command = [sys.executable, __file__, "--one", "--db", str(db)]
        runs = [json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout) for _ in range(args.runs)]
    median = {label: [statistics.median(run[label][i] for run in runs) for i in range(len(runs[0][label]))] for label in runs[0]}
    load = os.getloadavg()[0]
    print(f"medians of {args.runs} fresh processes (cold: the first open in each, nothing cached); wall-clock ms, and "
          f"the process's CPU ms, which other work on a shared machine (load now {load:.1f}) inflates far less")
    for label in ("open cold", "open warm"):
        seconds, size, cpu = median[label]
        print(f"{label}: {seconds * 1000:,.0f} ms (CPU {cpu * 1000:,.0f} ms), {size / 1e3:,.0f} kB sent "
              f"(each run: {', '.join(f'{run[label][0] * 1000:,.0f}' for run in runs)} ms)")
    for name, _ in ANCHORS:
        whole, read_s, build_s, size, cpu = median[f"anchor ({name})"]
        ratios = [run["open cold"][0] / run[f"anchor ({name})"][0] for run in runs]
        cpu_ratios = [run["open cold"][2] / run[f"anchor ({name})"][4] for run in runs]
        print(f"anchor: plotly-resampler from the store ({name}): {whole * 1000:,.0f} ms (CPU {cpu * 1000:,.0f} ms; "
              f"whole series into numpy {read_s * 1000:,.0f} ms, FigureResampler traces and first figure "
              f"{build_s * 1000:,.0f} ms), {size / 1e3:,.0f} kB; cold open / anchor {statistics.median(ratios):.2f} "
              f"(each run: {', '.join(f'{r:.2f}' for r in ratios)}), in CPU {statistics.median(cpu_ratios):.2f}")
    for label, _, _ in ZOOMS:
        seconds, size, cpu = median[label]
        print(f"{label}: {seconds * 1000:,.0f} ms (CPU {cpu * 1000:,.0f} ms), {size / 1e3:,.0f} kB sent")
    slowest = [max(run[label][0] for label, _, _ in ZOOMS) for run in runs]
    print(f"slowest zoom of each run: {', '.join(f'{z * 1000:,.0f}' for z in slowest)} ms (target <= 100 ms)")
    print("target: cold open <= 0.25 x the anchor read through Store.series")


if __name__ == "__main__":
    main()
