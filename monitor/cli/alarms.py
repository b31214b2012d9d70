"""``kapmon alarms RECORDING --protocol P``: run a recording through the alarm engine and print every transition."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from devices.errors import DeviceError
from devices.io.recording import read_recording
from devices.schema import json_lines, read_json
from devices.screening import ScreeningError, parse_answers
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.plan import make_plan
from monitor.rules.protocol import ProtocolError, load
from monitor.rules.session_rules import BaselineSet, DosingChange, judge_recording


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recording", metavar="RECORDING", help="a recording CSV (its .json sidecar gives doses and screening)")
    p.add_argument(
        "--protocol", required=True, metavar="NAME_OR_PATH", help="a shipped protocol name (e.g. kap-iv) or a protocol file"
    )
    p.add_argument("--screening", metavar="FILE", help="screening answers as JSON (default: the recording sidecar's)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def read_screening(path: str | Path) -> dict:
    """Screening answers from a JSON file (the answers themselves, or a sidecar holding ``screening``),
    checked against the screening vocabulary; ``ScreeningError`` names the file and the field."""
    text, data = read_json(Path(path), ScreeningError)
    inner = data.get("screening") if isinstance(data, dict) else None
    lines = json_lines(text)
    if isinstance(inner, dict):
        return parse_answers(inner, str(path), lines)
    return parse_answers(data, str(path), {f"screening.{key}": line for key, line in lines.items()})


def output_json(output: AlarmEvent | DosingChange) -> dict:
    """The JSON line for one transition or dosing change (``t`` in seconds from session start)."""
    return output.as_dict()


def output_text(output: AlarmEvent | DosingChange) -> str:
    minutes, seconds = divmod(int(output.t), 60)
    if isinstance(output, DosingChange):
        reasons = "; ".join(output.decision.reasons) or "no open block or gate"
        return f"{minutes:4d}:{seconds:02d}  {'dosing':<12} {output.decision.state:<20} {reasons}"
    who = f" [{output.who}]" if output.who else ""
    return f"{minutes:4d}:{seconds:02d}  {output.event:<12} {output.priority:<6} {output.kind:<13} {output.message}{who}"


def run(args: argparse.Namespace) -> int:
    try:
        protocol = load(args.protocol)
        recording = read_recording(args.recording)
        screening = read_screening(args.screening) if args.screening else dict(recording.metadata.get("screening") or {})
    except (ProtocolError, DeviceError, ValueError, OSError) as exc:
        print(f"kapmon alarms: {exc}", file=sys.stderr)
        return 2
    route = recording.metadata.get("route")
    if route not in protocol.routes:
        if route:
            print(
                f"kapmon alarms: note: recording route {route!r} is not in {protocol.name}; using its own route", file=sys.stderr
            )
        route = None
    plan = make_plan(protocol, screening, route)
    counts: Counter[str] = Counter()
    for output in judge_recording(plan, recording):
        if isinstance(output, BaselineSet):
            continue
        counts["dosing" if isinstance(output, DosingChange) else output.event] += 1
        print(json.dumps(output_json(output)) if args.json else output_text(output))
    if not args.json:
        summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "no alarms"
        print(f"{args.recording} under {protocol.name}: {summary}")
    return 0
