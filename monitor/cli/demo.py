"""``kapmon demo``: a simulated KAP session on the live page."""

from __future__ import annotations

import argparse

from devices.errors import DeviceError
from devices.uri import parse_uri
from devices.virtual.scenarios import SCENARIOS
from devices.virtual.simulator import open_sim
from monitor.central.broker import BrokerError, add_publish_arguments, publish_settings
from monitor.central.publisher import publish_from_args
from monitor.cli.serving import (
    DEFAULT_SPEED,
    add_server_arguments,
    fail,
    listen,
    load_users,
    open_store,
    serve_session,
    show_hub_lines,
)
from monitor.session.hub import Hub
from monitor.session.start import StartError, check_bind, start_session
from monitor.session.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenario",
        default="typical_iv",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"simulated scenario: {', '.join(SCENARIOS)} (default typical_iv)",
    )
    p.add_argument(
        "--speed", type=float, default=DEFAULT_SPEED, help=f"how many times faster than real time (default {DEFAULT_SPEED:g})"
    )
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    p.add_argument(
        "--protocol",
        metavar="NAME_OR_PATH",
        help="protocol (shipped name or file; default: the shipped one for the scenario's route)",
    )
    add_server_arguments(p)
    add_publish_arguments(p)


def start_demo(store: Store, scenario: str = "typical_iv", speed: float = 1.0, seed: int = 0, protocol: str | None = None) -> Hub:
    """Start a simulated session of ``scenario``, its doses and notes played as scripted."""
    source = open_sim(parse_uri(f"sim://{scenario}?seed={seed}"))
    meta = source.metadata
    patient = meta.get("patient", {})
    return start_session(
        store,
        [source],
        patient=patient.get("pseudonym", "DEMO"),
        route=meta.get("route", "iv"),
        weight_kg=patient.get("weight_kg"),
        speed=speed,
        kind="demo",
        protocol=protocol,
        metadata=meta,
        scripted=True,
    )


def run(args: argparse.Namespace) -> int:
    if not args.speed > 0:
        return fail("demo", "--speed must be greater than 0")
    show_hub_lines()  # before the recorder starts: its first dosing decision is printed too
    try:
        users = load_users(args.users)
        check_bind(args.host, users)
        settings = publish_settings(args)
        listener = listen(args.host, args.port)  # a busy port before touching the store
    except (StartError, BrokerError) as exc:
        return fail("demo", str(exc))
    with listener:
        try:
            store = open_store(args.db)
            hub = start_demo(store, args.scenario, args.speed, args.seed, args.protocol)
            publish_from_args(hub, settings, args)
        except (DeviceError, StartError, BrokerError) as exc:
            return fail("demo", str(exc))
        serve_session(store, hub, listener, users, args)
    return 0
