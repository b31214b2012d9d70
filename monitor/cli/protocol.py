"""``kapmon protocol check FILE_OR_NAME``: validate a protocol and print the plan for a sample screening."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from devices.screening import complete
from monitor.cli.alarms import read_screening
from monitor.rules.plan import make_plan
from monitor.rules.protocol import ProtocolError, load, shipped

# A screening with nothing to report: the plan then shows the protocol's defaults.
SAMPLE_SCREENING: Mapping[str, object] = complete(45)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a protocol and print the plan for a screening")
    check.add_argument("protocol", metavar="FILE_OR_NAME", help="a protocol file or a shipped protocol name")
    check.add_argument("--screening", metavar="FILE", help="screening answers as JSON (default: a sample with no findings)")
    check.add_argument("--route", help="the route to plan for when the protocol has several")
    sub.add_parser("list", help="list the shipped protocols")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in shipped():
            protocol = load(name)
            print(f"{name:<24} {protocol.meta.version:<8} {protocol.meta.description}")
        return 0
    try:
        protocol = load(args.protocol)
        screening = read_screening(args.screening) if args.screening else SAMPLE_SCREENING
        plan = make_plan(protocol, screening, args.route)
    except ProtocolError as exc:
        print(f"kapmon protocol: invalid protocol: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"kapmon protocol: {exc}", file=sys.stderr)
        return 2
    unverified = sum(not lim.cited.verified for lim in protocol.limits)
    print(
        f"OK {protocol.path}: {len(protocol.limits)} limits ({unverified} unverified), "
        f"{len(protocol.screening)} screening items, "
        f"{len(protocol.gates)} pre-dose gates, routes: {', '.join(protocol.routes)}"
    )
    print("\n".join(plan.lines()))
    return 0
