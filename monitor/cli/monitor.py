"""``kapmon monitor``: record and show a real session from one or more devices."""

from __future__ import annotations

import argparse
import sys

from devices.errors import KapmonError
from devices.patient import pseudonym_warning
from devices.vocabulary import ROUTES
from monitor.central.broker import add_publish_arguments, publish_settings
from monitor.central.publisher import publish_from_args
from monitor.cli.alarms import read_screening
from monitor.cli.serving import add_server_arguments, fail, listen, load_users, open_store, serve_session, show_hub_lines
from monitor.session.resume import find_unfinished
from monitor.session.start import build_plan, check_bind, open_sources, operator, resume_session, session_speed, start_session


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", action="append", required=True, metavar="URI", help="device URI; repeat for several devices")
    p.add_argument("--patient", required=True, help="patient pseudonym (never a name)")
    p.add_argument("--weight", type=float, required=True, metavar="KG", help="body weight in kg")
    p.add_argument("--route", required=True, choices=ROUTES, help="route of administration")
    p.add_argument(
        "--protocol",
        metavar="NAME_OR_PATH",
        help="protocol: a shipped name (kap-iv, kap-im, kap-sublingual, esketamine-intranasal) or a file;"
        " default: the shipped one for the route",
    )
    p.add_argument("--screening", metavar="FILE", help="the patient's screening answers (JSON)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue this patient's unfinished session on the same devices (after a crash) in the same"
        " record; starts a new session if there is none",
    )
    add_server_arguments(p)
    add_publish_arguments(p)


def run(args: argparse.Namespace) -> int:
    show_hub_lines()  # before the recorder starts: its first dosing decision is printed too
    warning = pseudonym_warning(args.patient)
    if warning:
        print(f"kapmon monitor: warning: {warning}", file=sys.stderr, flush=True)
    try:
        users = load_users(args.users)
        check_bind(args.host, users)
        speed = session_speed(args.device)
        screening = read_screening(args.screening) if args.screening else {}
        build_plan(args.protocol, args.route, screening)  # refuse bad rules before touching devices
        settings = publish_settings(args)  # and a broker kapmon would not use
        listener = listen(args.host, args.port)  # and a busy port before touching the store
    except (KapmonError, ValueError, OSError) as exc:
        return fail("monitor", str(exc))
    with listener:
        try:
            sources = open_sources(args.device)
            store = open_store(args.db)
            unfinished = find_unfinished(store, args.patient, args.route, args.device) if args.resume else None
            if unfinished is not None:
                hub = resume_session(store, unfinished, sources, speed=speed, protocol=args.protocol, who=operator())
                print(f"kapmon monitor: resuming session {unfinished.id}", flush=True)
            else:
                hub = start_session(
                    store,
                    sources,
                    patient=args.patient,
                    route=args.route,
                    weight_kg=args.weight,
                    speed=speed,
                    kind="clinical",
                    protocol=args.protocol,
                    screening=screening,
                    metadata={"devices": list(args.device)},
                    who=operator(),
                )
        except (KapmonError, ValueError, OSError) as exc:
            return fail("monitor", str(exc))
        publish_from_args(hub, settings, args)
        serve_session(store, hub, listener, users, args)
    return 0
