"""SQLite statements and bytes of one live-page tick, before and after the live read model.

    python benchmarks/bench_tick_queries.py [--before REV] [--ticks N]

For a session running live after 10 min and after 2 h of stored history (1 Hz oximetry, 75 Hz pleth, a
cuff every 5 min, a dose, notes), a page is opened (the first tick, cursor empty; a second tick sends the
rest of a window longer than one tick's row limit) and then N steady ticks are measured, each once the next
second of readings is stored. Each tick's statements on the page's thread are counted
with ``sqlite3.Connection.set_trace_callback`` (``tests/tick_probe.py``). "after" is this tree; "before"
is the tree at REV (default: where this branch left main), extracted to a temporary folder with the same
probe dropped in, and measured the same way in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HISTORIES = (600, 7200)  # seconds of stored session before the page opens


def measure(n: int) -> dict:
    """Run the probe in this process (whatever tree is on the path) and summarise it per history length."""
    from tests.tick_probe import CAUGHT_UP, running, ticks

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in HISTORIES:
            with running(Path(tmp) / f"h{seconds}.db", seconds) as (store, hub):
                measured = ticks(store, hub, CAUGHT_UP + n - 1)
            first, steady = measured[0], measured[CAUGHT_UP:]
            out[str(seconds)] = {
                "first_statements": len(first.statements), "first_bytes": first.bytes, "first_ms": first.seconds * 1000,
                "first_steps": first.steps,
                "statements": max(len(t.statements) for t in steady),
                "steps": statistics.median(t.steps for t in steady),
                "bytes": statistics.median(t.bytes for t in steady),
                "ms": statistics.median(t.seconds for t in steady) * 1000,
            }
    return out


def tree_at(rev: str, into: Path) -> Path:
    """The repository at ``rev`` extracted into ``into``, with this tree's probe added."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    shutil.copy(ROOT / "tests" / "tick_probe.py", into / "tests" / "tick_probe.py")
    return into


def measure_in(tree: Path, n: int) -> dict:
    """:func:`measure` in a fresh process importing kapmon from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, __file__, "--measure", "--ticks", str(n)], env=env, cwd=tree,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="the revision measured as 'before' (default: merge-base with main)")
    parser.add_argument("--ticks", type=int, default=5, help="steady ticks measured after the first")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.ticks)))
        return
    rev = args.before or subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], check=True,
                                        capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        results = {"before": measure_in(tree_at(rev, Path(tmp)), args.ticks), "after": measure_in(ROOT, args.ticks)}
    print(f"live-page tick on a running session (before = {rev[:10]}, after = this tree; {args.ticks} steady ticks)")
    print("SQL = statements on the page's thread; VM steps = SQLite instructions they ran (grows with rows read)")
    print(f"{'':7}{'history':>8} | {'first load: SQL':>15} {'VM steps':>10} {'bytes':>9} {'ms':>6} "
          f"| {'steady: SQL':>11} {'VM steps':>10} {'bytes':>7} {'ms':>6}")
    for label, result in results.items():
        for seconds, r in result.items():
            print(f"{label:7}{int(seconds) // 60:>5} min | {r['first_statements']:>15} {r['first_steps']:>10,} "
                  f"{r['first_bytes']:>9,} {r['first_ms']:>6.0f} | {r['statements']:>11} {r['steps']:>10,.0f} "
                  f"{r['bytes']:>7,.0f} {r['ms']:>6.1f}")


if __name__ == "__main__":
    main()
