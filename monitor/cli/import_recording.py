"""``kapmon import RECORDING``: store a recording (CSV + sidecar, or a VitalDB ``.vital`` file) as a reviewable session.

The recording is judged through the same path as a live session (plausibility, alarm engine,
dosing decision), so its alarms, summary and exports are what monitoring it live would have given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devices.errors import DeviceError
from devices.io.recording import Recording, parse_started, read_recording
from devices.io.vital_file import read_vital
from devices.patient import pseudonym_warning
from monitor.cli.alarms import read_screening
from monitor.cli.serving import add_store_argument, fail, open_store
from monitor.session.start import StartError, build_plan, import_recording, operator


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "recording",
        metavar="RECORDING",
        help="a recording CSV (its .json sidecar gives start, route, doses and "
        "screening) or a VitalDB .vital file (needs: pip install 'kapmon[vital]')",
    )
    add_store_argument(p)
    p.add_argument("--protocol", metavar="NAME_OR_PATH", help="a shipped protocol name or a protocol file (default: the route's)")
    p.add_argument("--screening", metavar="FILE", help="screening answers as JSON (default: the sidecar's)")
    p.add_argument("--route", help="the route, when the sidecar does not say (iv, im, sublingual, oral, intranasal)")
    p.add_argument("--patient", metavar="PSEUDONYM", help="the patient's pseudonym (default: the sidecar's, else the file name)")
    p.add_argument("--no-waveform", action="store_true", help=".vital: leave waveform tracks (pleth) out")


def read_any(path: str, waveforms: bool) -> Recording:
    """A CSV recording, or a .vital file (saying on stderr which of its tracks were left out and why)."""
    if Path(path).suffix.lower() != ".vital":
        return read_recording(path)
    found = read_vital(path, waveforms)
    for line in found.skipped:
        print(f"kapmon import: skipped track {line}", file=sys.stderr)
    for line in found.notes:
        print(f"kapmon import: warning: {line}", file=sys.stderr)
    return found.recording


def run(args: argparse.Namespace) -> int:
    try:
        recording = read_any(args.recording, not args.no_waveform)
        meta = recording.metadata
        route = args.route or meta.get("route")
        if not route:
            return fail("import", f"{args.recording}: the sidecar names no route: give --route")
        if args.route and meta.get("route") and args.route != meta["route"]:
            return fail("import", f"--route {args.route} but the recording's sidecar says {meta['route']}")
        screening = read_screening(args.screening) if args.screening else dict(meta.get("screening") or {})
        plan = build_plan(args.protocol, route, screening)
        if plan.route.name != route:
            return fail(
                "import", f"protocol {plan.name} has no rules for route {route} (it has {', '.join(plan.protocol.routes)})"
            )
        started = parse_started(meta["started"]).timestamp() if meta.get("started") else time.time()
        patient = args.patient or (meta.get("patient") or {}).get("pseudonym") or Path(args.recording).stem
        if warning := pseudonym_warning(patient):
            print(f"kapmon import: warning: {warning}", file=sys.stderr)
        store = open_store(args.db)
        session = import_recording(store, recording, plan, patient=patient, started=started, who=operator())
    except (DeviceError, StartError, ValueError, OSError) as exc:
        return fail("import", str(exc))
    print(f"kapmon import: {args.recording} -> {store.path} under {plan.name} ({store.count_readings(session.id):,} readings)")
    print(session.id)
    return 0
