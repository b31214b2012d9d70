"""Ingest of a simulated 4-hour KAP session with 75 Hz pleth (~1.1 M readings) through hub + store + rules, against
its anchor, bare SQLite row inserts of the same readings in the schema-1 row table.

    python benchmarks/bench_hub.py [--hours 4] [--runs 3]

The session's items are generated first (the simulator is not timed: pleth as one chunk of samples a second,
numerics and conditions as single items), then, in the same run:

- ingest: the items through ``Hub`` at full speed (``FastClock``): the plausibility check, the store (numerics as
  rows, pleth chunks as blocks), the alarm engine and the dosing decision, the scripted doses played; timed from
  the hub's start to its end, into a fresh store;
- anchor: the same readings (one row each, pleth included) inserted with one ``executemany`` in one transaction
  into the schema-1 ``readings`` table (``tests/store_v1.py``: WAL, synchronous=NORMAL, its index and triggers),
  the rows built before the clock starts.

Prints both rates in readings a second, the best of ``--runs`` for each, and their ratio; beside them the time the
session's rules alone take on the same items (what of ingest is not storage).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.reading import Condition, Item, Reading, Samples, expand, size  # noqa: E402
from devices.virtual.simulator import SimSource, simulate  # noqa: E402
from monitor.rules.session_rules import judged  # noqa: E402
from monitor.session.model import Dose, Session  # noqa: E402
from monitor.session.start import build_plan, record_at_full_speed, scheduled_from_metadata, session_rules  # noqa: E402
from monitor.session.store import Store  # noqa: E402
from tests.store_v1 import create_session_v1, create_v1  # noqa: E402

START = 1_800_000_000.0
SESSION = Session("bench", "BENCH-1", START, "iv", 70.0, "kap-iv", "demo", {})


class Prepared(SimSource):
    """The simulated session's source, its items generated beforehand (so the simulator is not timed)."""

    def __init__(self, items: list[Item], hours: float) -> None:
        super().__init__("typical_iv", seed=1, pleth=True, duration=hours * 3600)
        self.prepared = items

    def items(self, start: float) -> Iterator[Item]:
        assert start == START, "the items were generated for the session's start"
        return iter(self.prepared)


def ingest(items: list[Item], hours: float, folder: Path) -> tuple[float, int]:
    """(seconds, readings stored) for the items through hub + store + rules into a fresh store."""
    store = Store(folder / "ingest.db")
    store.create_session(SESSION)
    source = Prepared(items, hours)
    began = time.perf_counter()
    record_at_full_speed(store, SESSION, source, build_plan("kap-iv", "iv", {}))
    elapsed = time.perf_counter() - began
    stored = store.count_readings(SESSION.id)
    store.close()
    return elapsed, stored


def rules_only(items: list[Item], hours: float) -> float:
    """Seconds the session's rules take on the items (plausibility, alarm engine, dosing decision, the scripted
    doses), fed a minute of the session at a time as the hub feeds them: the part of ingest that is not storage."""
    source = Prepared(items, hours)
    rules = session_rules(build_plan("kap-iv", "iv", {}), START, source.metadata, SESSION.weight_kg)
    rules.add(Dose(t=s.t, **s.data) for s in scheduled_from_metadata(source.metadata, START) if s.kind == "dose")
    minutes: dict[int, list[Item]] = {}
    for item in items:
        minutes.setdefault(int((item.t - START) // 60), []).append(item)
    began = time.perf_counter()
    for minute, batch in minutes.items():
        rules.add(judged(rules.admit(batch)))
        rules.advance(START + (minute + 1) * 60)
    rules.finish(START + hours * 3600)
    return time.perf_counter() - began


def anchor(rows: list[tuple], folder: Path) -> float:
    """Seconds to insert ``rows`` into a fresh schema-1 row table: one executemany, one transaction."""
    conn = create_v1(folder / "rows.db")
    create_session_v1(conn, SESSION)
    began = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO readings (session_id, t, vital, value, unit, source, status) VALUES (?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=3, help="runs of each; the best of each is compared")
    args = ap.parse_args()
    items = list(simulate("typical_iv", seed=1, start=START, duration=args.hours * 3600, pleth=True))
    readings = [r for r in expand(items) if isinstance(r, Reading)]
    rows = [(SESSION.id, r.t, r.vital, r.value, r.unit, r.source, r.status) for r in readings]
    n = sum(size(i) for i in items if not isinstance(i, Condition))
    assert n == len(rows)
    print(f"session: {args.hours:g} h simulated, typical_iv with 75 Hz pleth: {n:,} readings "
          f"({len(items):,} items, pleth as {sum(isinstance(i, Samples) for i in items):,} chunks)")
    ingests, judging, anchors = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            elapsed, stored = ingest(items, args.hours, Path(tmp))
            assert stored == n, f"stored {stored:,} readings of {n:,}"
            ingests.append(elapsed)
            judging.append(rules_only(items, args.hours))
            anchors.append(anchor(rows, Path(tmp)))
    best_anchor = min(anchors)
    for label, times in (
        ("ingest (hub + store + rules, FastClock)", ingests),
        ("  of which the rules alone", judging),
        ("anchor (executemany into the v1 row table)", anchors),
    ):
        best = min(times)
        print(f"{label:46} {n / best:>10,.0f} readings/s  {best_anchor / best:5.2f}x the anchor  "
              f"({best:.2f} s; runs {', '.join(f'{x:.2f}' for x in times)} s)")
    print(f"ratio: ingest at {best_anchor / min(ingests):.2f}x the anchor's rate (target >= 5x)")


if __name__ == "__main__":
    main()
