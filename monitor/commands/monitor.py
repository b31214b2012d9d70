"""``kapmon monitor``: record and show a real session from one or more devices."""

from __future__ import annotations

import argparse

from devices.errors import DeviceError
from monitor.commands.serving import add_server_arguments, fail, open_store, serve
from monitor.running import StartError, check_bind, open_sources, session_speed, start_session
from monitor.session import ROUTES

HELP = "monitor a session from devices (serial://, ble://, sim://, replay://) and serve its live page"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", action="append", required=True, metavar="URI",
                   help="device URI; repeat for several devices")
    p.add_argument("--patient", required=True, help="patient pseudonym (never a name)")
    p.add_argument("--weight", type=float, required=True, metavar="KG", help="body weight in kg")
    p.add_argument("--route", required=True, choices=ROUTES, help="route of administration")
    add_server_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        check_bind(args.host)
        speed = session_speed(args.device)
        sources = open_sources(args.device)
        store = open_store(args.db)
        hub = start_session(store, sources, patient=args.patient, route=args.route, weight_kg=args.weight,
                            speed=speed, kind="clinical")
    except (DeviceError, StartError, ValueError) as exc:
        return fail("monitor", str(exc))
    serve(store, {hub.session.id: hub}, args.host, args.port, f"/live/{hub.session.id}")
    return 0
