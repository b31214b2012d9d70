"""Faults a recorder must survive, on this machine: ``kapmon monitor --resume`` killed with SIGKILL
again and again, and a serial oximeter unplugged and replugged through the pty emulator.

Prints kills survived (the restarted recorder continued the same session) with the seconds of
readings lost at each kill (max / median) and the gap until recording resumed; replug cycles after
which data came back; and open file descriptors and threads before and after (this process for the
replugs, the recorder processes for the kills). The same fault drivers run in tests/integration/test_crash.py
and tests/integration/test_serial_transport.py.

    python benchmarks/bench_faults.py [--kills 5] [--replugs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devices.reading import reading  # noqa: E402
from devices.virtual.serial_emulator import Emulator  # noqa: E402
from devices.serial.protocols import PROTOCOLS  # noqa: E402
from devices.serial.transport import Backoff, SerialSource  # noqa: E402
from tests.faults import (fd_count, kill_recorder, query, replug_cycles, start_recorder, stored,  # noqa: E402
                          thread_count, wait_for)


def recorder_counts(pid: int) -> str:
    return f"{fd_count(pid)} fds, {thread_count(pid)} threads"


def kills(n: int, seed: int = 0) -> None:
    """Kill the recorder ``n`` times at a random moment 0.5-2.5 s after it stores again, resuming each time."""
    rng = random.Random(seed)
    lost: list[float] = []
    gaps: list[float] = []
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "faults.db"
        proc = start_recorder(db)
        try:
            wait_for(lambda: stored(db) > 0, timeout=60)
            first_counts = recorder_counts(proc.pid)
            after = 0.0
            for _ in range(n):
                time.sleep(rng.uniform(0.5, 2.5))
                after, seconds = kill_recorder(db, proc)
                lost.append(seconds)
                proc = start_recorder(db)
                first_new = wait_for(lambda: query(db, "SELECT MIN(t) FROM readings WHERE t > ?", after)[0][0], 60)
                gaps.append(first_new - after)
                one_session = query(db, "SELECT COUNT(*) FROM sessions") == [(1,)]
                survived += one_session and not query(db, "SELECT 1 FROM events WHERE kind='end'")
            last_counts = recorder_counts(proc.pid)
        finally:
            proc.kill()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
        resumed = query(db, "SELECT COUNT(*) FROM events WHERE kind='resumed'")[0][0]
    print(f"kill -9: {survived}/{n} kills survived ({resumed} resumes into the same session)")
    print(f"  seconds of readings lost per kill: max {max(lost):.3f}, median {statistics.median(lost):.3f}")
    print(f"  gap until recording resumed: max {max(gaps):.1f} s, median {statistics.median(gaps):.1f} s (process restart)")
    print(f"  recorder: first {first_counts}; after {n} resumes {last_counts}")


def steady():
    """An oximeter's items: numerics at 1 Hz, pleth at 75 Hz, for as long as asked."""
    s = 0
    while True:
        yield reading(s, "spo2", 96, "bench")
        yield reading(s, "pr", 66, "bench")
        for k in range(75):
            yield reading(s + k / 75, "pleth", 50 + 40 * ((k % 25) / 25), "bench")
        s += 1


def replugs(n: int) -> None:
    """Unplug and replug a CMS50 V7.0 emulator ``n`` times under the serial transport."""
    gc.collect()
    fds, threads = fd_count(), thread_count()
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "usb-Contec_CMS50D-if00-port0"
        emulator = Emulator("cms50d-v7", steady(), link=link)
        emulator.start()
        source = SerialSource(f"serial://{link}", str(link), [PROTOCOLS["cms50d-v7"]], backoff=Backoff(0.005, 0.02))
        start = time.monotonic()
        try:
            recovered, _ = asyncio.run(replug_cycles(source, emulator, n))
        finally:
            emulator.close()
        seconds = time.monotonic() - start
    gc.collect()
    print(f"serial replug: {recovered}/{n} cycles recovered ({seconds / max(n, 1):.2f} s per cycle,"
          " unplug to data again including the frame lock)")
    print(f"  this process: fds {fds} before, {fd_count()} after; threads {threads} before, {thread_count()} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5, help="kill -9 cycles of the recorder (default 5)")
    parser.add_argument("--replugs", type=int, default=20, help="serial unplug/replug cycles (default 20)")
    args = parser.parse_args()
    if args.kills > 0:
        kills(args.kills)
    if args.replugs > 0:
        replugs(args.replugs)


if __name__ == "__main__":
    main()
