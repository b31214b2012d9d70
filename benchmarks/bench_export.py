"""Long-form CSV and Parquet export of a 4-hour session with 75 Hz pleth (~1.1M readings), against its anchor.

    python benchmarks/bench_export.py [--hours 4] [--db PATH]

Builds the session once (cached in ``--db``, default under the temp folder) and prints, in the same run: the
export through ``monitor.exports`` (the streamed SQL -> Arrow path), the former path through one Python object
per reading (kept in ``tests/unit/old_export.py``), and the anchor ``pandas.read_sql`` of the same rows in the
schema-1 row table (one row per reading, pleth included, as the store kept them before waveform blocks; written
once beside the store with ``tests/store_v1.py``) followed by ``to_csv`` / ``to_parquet``. Each with its peak
RSS, measured in a fresh process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = 1_800_000_000.0
SESSION = "bench"


def build(db: Path, hours: float) -> None:
    """Record the simulated session into ``db`` unless it is already there."""
    from devices.virtual.simulator import SimSource
    from monitor.session.model import Session
    from monitor.session.start import build_plan, record_at_full_speed
    from monitor.session.store import Store

    store = Store(db)
    if store.session(SESSION) is not None:
        return
    src = SimSource("typical_iv", seed=1, pleth=True, duration=hours * 3600)
    session = Session(SESSION, "BENCH-1", START, "iv", 70.0, "kap-iv", "demo", src.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, src, build_plan("kap-iv", "iv", {}))


def build_rows(db: Path, rows_db: Path) -> None:
    """The session's readings as schema-1 rows in ``rows_db`` (the anchor's table), unless already there."""
    sys.path.insert(0, str(ROOT))
    from monitor.session.store import Store
    from tests.store_v1 import create_session_v1, create_v1, write_v1

    if rows_db.exists():
        return
    store = Store(db, read_only=True)
    session = store.session(SESSION)
    assert session is not None
    conn = create_v1(rows_db)
    create_session_v1(conn, session)
    write_v1(conn, SESSION, store.readings(SESSION))
    conn.close()


def run(which: str, fmt: str, db: str, out: str) -> None:
    """One export in this (fresh) process."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]
    from monitor.session.store import Store

    store = Store(db, read_only=True)
    if which == "new":
        from monitor.exports.writer import export

        export(store, SESSION, fmt, out)
    elif which == "old":
        import old_export

        (old_export.write_csv if fmt == "csv" else old_export.write_parquet)(store, SESSION, Path(out))
    else:
        import sqlite3

        import pandas as pd

        with sqlite3.connect(Path(db).with_suffix(".rows.db")) as conn:
            frame = pd.read_sql(
                "SELECT t, vital, value, unit, source, status FROM readings WHERE session_id=? ORDER BY id",
                conn,
                params=(SESSION,),
            )
        if fmt == "csv":
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, compression="zstd", index=False)


def timed(which: str, fmt: str, db: str, out: str, queue) -> None:
    t0 = time.perf_counter()
    run(which, fmt, db, out)
    queue.put((time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(which: str, fmt: str, db: Path, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one export, in a process of its own."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=timed, args=(which, fmt, str(db), str(out), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "kapmon-bench-export.db")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    build(args.db, args.hours)
    build_rows(args.db, args.db.with_suffix(".rows.db"))
    from monitor.session.store import Store

    n = Store(args.db, read_only=True).count_readings(SESSION)
    print(f"session: {args.db} ({n:,} readings; ready in {time.perf_counter() - t0:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("csv", "parquet"):
            for which, label in (("anchor", "pandas.read_sql + to_" + fmt), ("old", "old path"), ("new", "new path")):
                out = Path(tmp) / f"{which}.{fmt}"
                best = min(measure(which, fmt, args.db, out) for _ in range(args.runs))
                print(
                    f"{fmt:8} {label:32} {best[0]:6.2f} s   peak RSS {best[1]:6.0f} MB   {out.stat().st_size / 1e6:6.1f} MB file"
                )


if __name__ == "__main__":
    main()
