"""A digest of everything the session rules decide, to show that a change to how they run changes no decision.

    python benchmarks/rules_digest.py [--hours 1 4] [--skip-cases]

Prints one SHA-256 per input set, over the full list of outputs (alarm transitions with their times, values and
messages; dosing changes with their state and reasons; the baseline), and the live dosing decision after every
minute, for:

- the simulated ``typical_iv`` session with 75 Hz pleth, for each ``--hours``: through the rules fed a minute at
  a time (as the hub feeds them), and through ``Hub`` + ``Store`` at full speed (the stored alarm transitions, and
  the stored events in time order);
- every simulator scenario (seed 1) through the rules;
- every clinical case (``tests/clinical``) through ``kapmon alarms --json``.

Run it before and after a change to the rules' code: the digests must be the same.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
from collections.abc import Iterable
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.reading import Item  # noqa: E402
from devices.virtual.scenarios import SCENARIOS  # noqa: E402
from devices.virtual.simulator import SimSource  # noqa: E402
from monitor.cli.main import main as cli  # noqa: E402
from monitor.rules.session_rules import judged  # noqa: E402
from monitor.session.model import Dose, Session  # noqa: E402
from monitor.session.start import build_plan, record_at_full_speed, scheduled_from_metadata, session_rules  # noqa: E402
from monitor.session.store import Store  # noqa: E402

START = 1_800_000_000.0


def digest(lines: Iterable[str]) -> tuple[str, int]:
    """(SHA-256 of the lines, how many)."""
    h, n = hashlib.sha256(), 0
    for line in lines:
        h.update(line.encode() + b"\n")
        n += 1
    return h.hexdigest()[:16], n


def by_rules(source: SimSource, route: str) -> list[str]:
    """Every output of the rules (and the decision after each minute), fed a minute of the session at a time."""
    items = list(source.items(START))
    rules = session_rules(build_plan(None, route, {}), START, source.metadata, 70.0)
    rules.add(Dose(t=s.t, **s.data) for s in scheduled_from_metadata(source.metadata, START) if s.kind == "dose")
    minutes: dict[int, list[Item]] = {}
    for item in items:
        minutes.setdefault(int((item.t - START) // 60), []).append(item)
    lines: list[str] = []
    for minute, batch in minutes.items():
        admitted = rules.admit(batch)
        lines += map(repr, admitted) if minute % 10 == 0 else ()
        rules.add(judged(admitted))
        lines += map(repr, rules.advance(START + (minute + 1) * 60))
        lines.append(repr(rules.decision))
    lines += map(repr, rules.finish(START + float(source.metadata["duration_s"]) + 60))
    lines.append(repr(rules.decision))
    return lines


def by_hub(source: SimSource, route: str) -> list[str]:
    """The alarm transitions and dosing changes a full-speed record through hub and store keeps."""
    session = Session("digest", "DIGEST-1", START, route, 70.0, "kap-iv", "demo", {})
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.db")
        store.create_session(session)
        record_at_full_speed(store, session, source, build_plan("kap-iv", route, {}))
        lines = [repr(a) for _, a in store.alarm_events(session.id)]
        # sorted: at full speed the scripted doses and the flushes are stored in an order that varies from run to run
        lines += sorted(repr((e.t, e.kind, e.data)) for e in store.events(session.id))
        store.close()
    return lines


def by_cases() -> list[str]:
    """``kapmon alarms --json`` of every clinical case."""
    from tests.clinical.cases import CASES
    from tests.clinical.cases_mutation import CASES as EDGE_CASES
    from tests.clinical.recordings import build

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES + EDGE_CASES:
            out = io.StringIO()
            with redirect_stdout(out):
                code = cli(["alarms", str(build(case, Path(tmp))), "--protocol", case.protocol, "--json"])
            lines += [case.id, str(code), out.getvalue()]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, nargs="*", default=[1.0, 4.0])
    ap.add_argument("--skip-cases", action="store_true")
    args = ap.parse_args()
    for hours in args.hours:
        def source() -> SimSource:
            return SimSource("typical_iv", seed=1, pleth=True, duration=hours * 3600)
        print(f"typical_iv {hours:g} h, rules:", *digest(by_rules(source(), "iv")))
        print(f"typical_iv {hours:g} h, hub + store:", *digest(by_hub(source(), "iv")))
    for name in SCENARIOS:
        src = SimSource(name, seed=1)
        print(f"scenario {name}, rules:", *digest(by_rules(src, src.metadata.get("route") or "iv")))
    if not args.skip_cases:
        print("clinical cases, kapmon alarms:", *digest(by_cases()))


if __name__ == "__main__":
    main()
