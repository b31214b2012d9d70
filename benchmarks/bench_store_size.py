"""Store size and ingest time of a simulated session with 75 Hz pleth: version 1 rows against version 2 blocks.

    python benchmarks/bench_store_size.py [--hours 1] [--flush 0.2]

One run feeds the same writes to two stores: the version 1 store (every pleth sample a row of ``readings``,
its schema and write frozen in ``tests/store_v1.py``) and today's ``Store`` (pleth in blocks). Each write is
what the recorder stores at one flush (``--flush`` seconds of the session, numerics then pleth, as
``monitor.session.backlog`` orders them). Ingest time counts only the writes (the simulator is excluded).
Sizes are the database files after a WAL checkpoint. Then the version 1 store is upgraded by opening it with
today's code: the upgrade's time and the pages it leaves in use (SQLite keeps the freed pages until a VACUUM).
Target (issue: waveform storage): v2 size <= 0.25x v1.
"""

from __future__ import annotations

import argparse
import itertools
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.reading import Reading, expand  # noqa: E402
from devices.virtual.simulator import simulate  # noqa: E402
from devices.vocabulary import WAVEFORMS  # noqa: E402
from monitor.session.model import Session  # noqa: E402
from monitor.session.store import Store  # noqa: E402
from tests.store_v1 import create_session_v1, create_v1, write_v1  # noqa: E402

START = 1_800_000_000.0
SESSION = Session("bench", "BENCH-1", START, "iv", 70.0, "kap-iv", "demo", {})


def flushes(hours: float, flush: float) -> Iterator[list[Reading]]:
    """The simulated session's readings, one list per flush, numerics before pleth."""
    session = simulate("typical_iv", seed=1, start=START, duration=hours * 3600, pleth=True)
    items = (r for r in expand(session) if isinstance(r, Reading))
    for _, group in itertools.groupby(items, key=lambda r: int((r.t - START) / flush)):
        batch = list(group)
        yield [r for r in batch if r.vital not in WAVEFORMS] + [r for r in batch if r.vital in WAVEFORMS]


def size(db: Path) -> tuple[int, int]:
    """``(file bytes, bytes in pages in use)`` after a WAL checkpoint."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, page = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
    return db.stat().st_size, (pages - free) * page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--flush", type=float, default=0.2, help="seconds of session per write (the hub's flush interval)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        v1_path, v2_path = Path(tmp) / "v1.db", Path(tmp) / "v2.db"
        v1, v2 = create_v1(v1_path), Store(v2_path)
        create_session_v1(v1, SESSION)
        v2.create_session(SESSION)
        spent = {"v1": 0.0, "v2": 0.0}
        writes = pleth = numerics = 0
        for batch in flushes(args.hours, args.flush):
            began = time.perf_counter()
            write_v1(v1, SESSION.id, batch)
            middle = time.perf_counter()
            v2.write(SESSION.id, batch)
            spent["v1"] += middle - began
            spent["v2"] += time.perf_counter() - middle
            writes += 1
            waves = sum(r.vital in WAVEFORMS for r in batch)
            pleth, numerics = pleth + waves, numerics + len(batch) - waves
        v1.close()
        v2.close()
        n = pleth + numerics
        (file1, used1), (file2, used2) = size(v1_path), size(v2_path)
        print(f"session: {args.hours:g} h of typical_iv, {pleth:,} pleth samples (75 Hz) + {numerics:,} numerics,")
        print(f"         in {writes:,} writes of {args.flush:g} s each; the same writes to both stores in this run")
        print(f"v1 rows:   {file1 / 1e6:7.1f} MB  ingest {spent['v1']:6.2f} s ({n / spent['v1']:>9,.0f} readings/s)")
        print(
            f"v2 blocks: {file2 / 1e6:7.1f} MB  ingest {spent['v2']:6.2f} s ({n / spent['v2']:>9,.0f} readings/s)"
            f"  -> size {file2 / file1:.3f}x v1 (target <= 0.25x), ingest {spent['v1'] / spent['v2']:.1f}x v1's rate"
        )
        began = time.perf_counter()
        Store(v1_path).close()
        upgrade = time.perf_counter() - began
        file3, used3 = size(v1_path)
        print(
            f"v1 -> v2 upgrade of the v1 store: {upgrade:.2f} s; file {file3 / 1e6:.1f} MB, pages in use"
            f" {used3 / 1e6:.1f} MB ({used3 / file1:.3f}x v1; the rest is free until a VACUUM)"
        )


if __name__ == "__main__":
    main()
