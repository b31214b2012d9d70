"""Memory over a long session: a simulated 4-hour KAP session with 75 Hz pleth through hub + store +
alarm engine at full speed, printing the process's resident memory as the session goes on.

    python benchmarks/bench_memory.py [--hours 4] [--every-min 30]

Memory must stay flat: the hub keeps no per-reading state beyond the pending fraction of a second,
the alarm engine and baseline keep bounded windows, and SQLite's page cache is bounded.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

from devices.reading import Condition, size
from devices.source import FastClock
from devices.virtual.simulator import SimSource
from monitor.rules.session_rules import SessionRules
from monitor.session.hub import Hub
from monitor.session.model import Session
from monitor.session.start import build_plan, scheduled_from_metadata
from monitor.session.store import Store

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Current resident set size of this process (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--every-min", type=float, default=30.0, help="print RSS every this many session minutes")
    args = ap.parse_args()
    samples: list[tuple[float, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        start = 1_800_000_000.0
        session = Session("bench", "BENCH-1", start, "iv", 70.0)
        store.create_session(session)
        source = SimSource("typical_iv", seed=1, pleth=True, duration=args.hours * 3600)
        hub = Hub(store, session, [source], FastClock(start), SessionRules(build_plan("kap-iv", "iv", {}), start),
                  scheduled_from_metadata(source.metadata, start))
        state = {"next": start, "n": 0}

        def sample(items, _alarms) -> None:
            state["n"] += sum(size(i) for i in items if not isinstance(i, Condition))  # a chunk holds many readings
            if not items:
                return
            t = items[-1].t
            if t >= state["next"]:
                gc.collect()
                samples.append(((t - start) / 60, rss_mb(), state["n"]))
                state["next"] += args.every_min * 60

        hub.listeners.append(sample)
        gc.collect()
        print(f"start RSS: {rss_mb():.1f} MB (before the session)")
        t0 = time.perf_counter()
        hub.run()
        elapsed = time.perf_counter() - t0
        gc.collect()
        end = rss_mb()
        n = store.count_readings("bench")
    print(f"session: {args.hours:g} h simulated, typical_iv with 75 Hz pleth, {n:,} readings, {elapsed:.0f} s wall")
    print("session min   RSS MB   readings")
    for minute, mb, count in samples:
        print(f"{minute:11.0f} {mb:8.1f} {count:10,}")
    print(f"end RSS: {end:.1f} MB")
    first = samples[1][1] if len(samples) > 1 else samples[0][1]
    print(f"growth from session minute {samples[1][0] if len(samples) > 1 else 0:.0f} to the end: {end - first:+.1f} MB")


if __name__ == "__main__":
    main()
