"""Throughput of hub + store: a simulated 4-hour KAP session with 75 Hz pleth at full speed.

    python benchmarks/bench_hub.py [--hours 4]

Prints readings/s (items through the hub, written to SQLite, checked by the alarm engine).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from devices.virtual.simulator import SimSource
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.model import Session
from monitor.session.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        start = 1_800_000_000.0
        session = Session("bench", "BENCH-1", start, "iv", 70.0)
        store.create_session(session)
        source = SimSource("typical_iv", seed=1, pleth=True, duration=args.hours * 3600)
        t0 = time.perf_counter()
        record_at_full_speed(store, session, source, build_plan("kap-iv", "iv", {}))
        elapsed = time.perf_counter() - t0
        n = store.count_readings("bench")
        size = (Path(tmp) / "bench.db").stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("bench.db-*"))
    print(f"session: {args.hours:g} h simulated, typical_iv with 75 Hz pleth")
    print(f"readings stored: {n:,}")
    print(f"wall time: {elapsed:.1f} s")
    print(f"throughput: {n / elapsed:,.0f} readings/s ({args.hours * 3600 / elapsed:,.0f}x real time)")
    print(f"store size: {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
