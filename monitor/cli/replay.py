"""``kapmon replay``: a recorded or simulated session as a training session on the live page."""

from __future__ import annotations

import argparse

from devices.errors import DeviceError
from monitor.cli.serving import DEFAULT_SPEED, add_server_arguments, fail, listen, load_users, open_store, serve_session
from monitor.session.start import StartError, check_bind
from monitor.training.library import ScenarioFileError, TrainingInputError, check_speed, library, start_training


def add_arguments(p: argparse.ArgumentParser) -> None:
    names = ", ".join(library())
    p.add_argument(
        "what", metavar="RECORDING_OR_SCENARIO", help=f"a recording CSV, a scenario file, or a library scenario: {names}"
    )
    p.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"playback speed, 1-60 (default {DEFAULT_SPEED:g}); change it on the page",
    )
    p.add_argument("--trainee", default="", help="the trainee's name: filled in on the live page and kept for the debrief")
    add_server_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        check_speed(args.speed)
        users = load_users(args.users)
        check_bind(args.host, users)
        listener = listen(args.host, args.port)  # a busy port before touching the store
    except (StartError, TrainingInputError) as exc:
        return fail("replay", str(exc))
    with listener:
        try:
            store = open_store(args.db)
            hub = start_training(store, args.what, args.speed, args.trainee)
        except (DeviceError, StartError, ScenarioFileError, TrainingInputError) as exc:
            return fail("replay", str(exc))
        print(f"kapmon replay: training session {hub.session.id}; debrief at /debrief/{hub.session.id}", flush=True)
        serve_session(store, hub, listener, users, args)
    return 0
