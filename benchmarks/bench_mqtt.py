"""16 rooms through one Mosquitto broker into one central station, on this machine.

Three processes: the broker; one process running 16 simulated bedsides (hub + store + publisher each,
1 Hz numerics and 75 Hz pleth, real time); one central station mirroring them into its store.
Prints end-to-end latency (a reading's timestamp to its commit in the central store) p50/p95/max for
numerics and pleth, throughput, and CPU per room for each process.

    python benchmarks/bench_mqtt.py [--rooms 16] [--seconds 45]

The latency includes the hub's 0.2 s flush interval (readings are published once stored), so
~0.1-0.2 s is the floor by design.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.mqtt_broker import MOSQUITTO, Broker  # noqa: E402

WARMUP_S = 5.0


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def run_central(url: str, db: str, seconds: float, out: mp.Queue, ready: mp.Event) -> None:
    from monitor.central.broker import config_from_args
    from monitor.central.station import Central, CentralStore

    central = Central(CentralStore(db), config_from_args(url, Namespace())).start()
    numerics: list[float] = []
    pleth: list[float] = []
    counts = {"rows": 0, "batches": 0}
    measuring = {"on": False}

    def on_applied(kind: str, _session: str, rows: list, now: float) -> None:
        if kind != "readings" or not measuring["on"]:
            return
        counts["batches"] += 1
        counts["rows"] += len(rows)
        for row in rows:
            (pleth if row[2] == "pleth" else numerics).append(now - row[1])

    central.on_applied.append(on_applied)
    ready.set()
    time.sleep(WARMUP_S)
    measuring["on"] = True
    c0, w0 = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    measuring["on"] = False
    cpu, wall = cpu_seconds() - c0, time.monotonic() - w0
    out.put({"numerics": numerics, "pleth": pleth, "cpu": cpu, "wall": wall, **counts,
             "rooms": len(central.rooms)})
    central.stop()


def run_bedsides(url: str, workdir: str, rooms: int, seconds: float, out: mp.Queue, ready: mp.Event) -> None:
    from devices.registry import open_source
    from monitor.central.broker import config_from_args
    from monitor.central.publisher import Publisher
    from monitor.session.start import start_session
    from monitor.session.store import Store

    cfg = config_from_args(url, Namespace())
    hubs, pubs = [], []
    for i in range(rooms):
        store = Store(Path(workdir) / f"room-{i:02d}.db")
        source = open_source(f"sim://typical_iv?seed={i}&pleth=1")
        meta = source.metadata
        hub = start_session(store, [source], patient=f"BENCH-{i:02d}", route="iv", weight_kg=70.0, kind="demo",
                            metadata=meta, scripted=True)
        hubs.append(hub)
        pubs.append(Publisher(hub, cfg, "bench", f"room-{i:02d}").start())
    ready.set()
    time.sleep(WARMUP_S)
    c0, w0 = cpu_seconds(), time.monotonic()
    p0 = sum(p.published for p in pubs)
    time.sleep(seconds)
    cpu, wall = cpu_seconds() - c0, time.monotonic() - w0
    out.put({"cpu": cpu, "wall": wall, "messages": sum(p.published for p in pubs) - p0})
    for p in pubs:
        p.close()
    for h in hubs:
        h.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rooms", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=45.0)
    args = ap.parse_args()
    if MOSQUITTO is None:
        print("mosquitto is not installed", file=sys.stderr)
        return 2
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = tmp  # the site key that signs commands is made here, not in the user's home
        broker = Broker(Path(tmp) / "broker").start()
        out_c, out_b = ctx.Queue(), ctx.Queue()
        ready_c, ready_b = ctx.Event(), ctx.Event()
        central = ctx.Process(target=run_central, args=(broker.url, f"{tmp}/central.db", args.seconds, out_c, ready_c))
        central.start()
        ready_c.wait(30)
        bedsides = ctx.Process(target=run_bedsides, args=(broker.url, tmp, args.rooms, args.seconds, out_b, ready_b))
        bedsides.start()
        ready_b.wait(60)
        time.sleep(WARMUP_S)
        b0 = proc_cpu(broker.proc.pid)
        c = out_c.get(timeout=args.seconds + 60)
        b = out_b.get(timeout=60)
        broker_cpu = proc_cpu(broker.proc.pid) - b0
        bedsides.join(30)
        central.join(30)
        broker.stop()

    wall = c["wall"]
    n = args.rooms
    print(f"kapmon MQTT benchmark: {n} rooms (1 Hz numerics + 75 Hz pleth each), {wall:.0f} s measured, "
          f"{os.cpu_count()} CPUs")
    print(f"rooms seen at the central station: {c['rooms']}")
    print(f"central: {c['rows'] / wall:,.0f} readings/s in {c['batches'] / wall:,.1f} readings messages/s; "
          f"bedsides published {b['messages'] / b['wall']:,.1f} data messages/s")
    for name, xs in (("numerics", c["numerics"]), ("pleth", c["pleth"])):
        ms = [x * 1000 for x in xs]
        print(f"latency reading -> central store, {name:8s}: p50 {percentile(ms, 0.5):6.0f} ms  "
              f"p95 {percentile(ms, 0.95):6.0f} ms  max {max(ms, default=float('nan')):6.0f} ms  "
              f"(n={len(ms):,}, mean {statistics.fmean(ms) if ms else float('nan'):.0f} ms)")
    print("CPU per room (% of one core):")
    print(f"  bedside (hub + store + publisher) {100 * b['cpu'] / b['wall'] / n:5.2f} %")
    print(f"  broker (mosquitto)                {100 * broker_cpu / wall / n:5.2f} %")
    print(f"  central station (subscriber+store) {100 * c['cpu'] / wall / n:5.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
