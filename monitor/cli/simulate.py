"""``kapmon simulate SCENARIO --out FILE.csv``: write a simulated session as a recording + sidecar."""

from __future__ import annotations

import argparse
import sys

from devices.errors import RecordingError
from devices.io.recording import LONG, WIDE, sidecar_path, write_recording
from devices.virtual.scenario import SIM_STARTED
from devices.virtual.scenarios import SCENARIOS, get_scenario
from devices.virtual.simulator import simulate


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", metavar="SCENARIO", help=f"one of: {', '.join(SCENARIOS)}")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="the CSV to write; the sidecar goes next to it")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same file")
    p.add_argument(
        "--form",
        choices=(LONG, WIDE),
        default=LONG,
        help="long keeps sources, no-value statuses and conditions; wide is one column per vital",
    )
    p.add_argument("--pleth", action="store_true", help="include the 75 Hz plethysmogram")
    p.add_argument("--no-pi", action="store_true", help="leave out the perfusion index")
    p.add_argument("--duration", type=float, metavar="S", help="session length in seconds (default: the scenario's)")
    p.add_argument("--nibp", type=float, metavar="S", help="seconds between cuff readings (default 300)")
    p.add_argument(
        "--started", default=SIM_STARTED, metavar="ISO", help=f"session start written to the sidecar (default {SIM_STARTED})"
    )


def run(args: argparse.Namespace) -> int:
    try:
        scenario = get_scenario(args.scenario)
    except ValueError as exc:
        print(f"kapmon simulate: {exc}", file=sys.stderr)
        return 2
    if args.duration is not None and args.duration <= 0:
        print("kapmon simulate: --duration must be > 0", file=sys.stderr)
        return 2
    if args.nibp is not None and args.nibp <= 0:
        print("kapmon simulate: --nibp must be > 0", file=sys.stderr)
        return 2
    try:
        metadata = scenario.metadata(seed=args.seed, started=args.started)
    except ValueError:
        print(f"kapmon simulate: --started {args.started!r} is not an ISO-8601 timestamp", file=sys.stderr)
        return 2
    if args.duration is not None:
        metadata["duration_s"] = args.duration
        metadata["events"] = [e for e in metadata["events"] if e["t"] < args.duration]
    items = simulate(
        scenario, seed=args.seed, duration=args.duration, pleth=args.pleth, nibp_interval=args.nibp, pi=not args.no_pi
    )
    try:
        path = write_recording(args.out, items, metadata, form=args.form)
    except (RecordingError, OSError) as exc:
        print(f"kapmon simulate: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} and {sidecar_path(path)}")
    return 0
