"""Alarm engine throughput and per-reading latency over a simulated 4-hour KAP session.

    python benchmarks/bench_alarms.py [--hours 4] [--scenario desaturation] [--protocol kap-iv] [--pleth]

Pre-generates the session (so the simulator is not timed), then times ``engine.on_item`` for every
reading and condition, with ``engine.tick`` once per simulated second as the hub does. Prints
readings/s and the p50/p99/max latency of one ``on_item`` call.
"""

from __future__ import annotations

import argparse
import time

from devices.reading import expand
from devices.virtual.scenarios import get_scenario
from devices.virtual.simulator import simulate
from monitor.rules.alarms import AlarmEngine
from monitor.rules.plan import make_plan
from monitor.rules.protocol import load


def percentile(sorted_ns: list[int], q: float) -> float:
    """The ``q`` quantile (0-1) of sorted nanosecond samples, in microseconds."""
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--scenario", default="desaturation")
    ap.add_argument("--protocol", default="kap-iv")
    ap.add_argument("--pleth", action="store_true", help="include the 75 Hz plethysmogram")
    args = ap.parse_args()

    scenario = get_scenario(args.scenario)
    start = 1_800_000_000.0
    items = list(expand(simulate(scenario, seed=0, start=start, duration=args.hours * 3600, pleth=args.pleth)))
    plan = make_plan(load(args.protocol), scenario.screening)
    engine = AlarmEngine(plan, start=start)
    doses = sorted(d.t + start for d in scenario.doses)

    latencies: list[int] = []
    events = 0
    next_tick = start + 1.0
    clock = time.perf_counter_ns
    began = clock()
    for item in items:
        while doses and doses[0] <= item.t:
            events += len(engine.on_dose(doses.pop(0)))
        while next_tick <= item.t:
            events += len(engine.tick(next_tick))
            next_tick += 1.0
        t0 = clock()
        events += len(engine.on_item(item))
        latencies.append(clock() - t0)
    elapsed = (clock() - began) / 1e9

    latencies.sort()
    print(f"alarm engine, {args.protocol} on {args.scenario}, {args.hours:g} h simulated{' with 75 Hz pleth' if args.pleth else ''}")
    print(f"  items: {len(items):,}   alarm transitions: {events}")
    print(f"  throughput: {len(items) / elapsed:,.0f} readings/s (incl. {int(args.hours * 3600):,} ticks; {elapsed:.2f} s total)")
    print(f"  on_item latency: p50 {percentile(latencies, 0.50):.1f} us   p99 {percentile(latencies, 0.99):.1f} us   "
          f"max {latencies[-1] / 1000:.1f} us")


if __name__ == "__main__":
    main()
