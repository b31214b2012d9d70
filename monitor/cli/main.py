"""The ``kapmon`` command line. Each subcommand is a module in ``monitor.cli``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from importlib import import_module

from monitor.allocator import bound_malloc_arenas

# Order here is the order in ``kapmon --help``; each subcommand is the module of that name (``import`` is a
# Python keyword: see MODULES), imported only when that subcommand runs, so ``kapmon --help`` stays light.
COMMANDS: dict[str, str] = {
    "demo": "watch a simulated KAP session on the live page (http://127.0.0.1:8050)",
    "monitor": "monitor a session from devices (serial://, ble://, wellue://, hl7://, sim://, replay://) and serve its live page",
    "central": "central station: every room publishing to an MQTT broker, on one page (http://127.0.0.1:8060)",
    "sessions": "list the sessions in a store",
    "review": "serve the sessions and review pages of an existing store without starting a session (http://127.0.0.1:8050)",
    "import": "store a recording (CSV + JSON sidecar, or a VitalDB .vital file) as a reviewable session",
    "summary": "print the summary of a recorded session (baseline, peaks, time with SpO2 below 90, alarms, discharge, REMS)",
    "export": "export a recorded session (csv, parquet, fhir, report, vital, rems)",
    "replay": "replay a recording or training scenario through the live page and alarm engine (stored as training)",
    "debrief": "print or export the debrief of a training session",
    "decode": "decode one device payload (hex for binary formats, text for ASCII ones) and print JSON lines",
    "protocol": "validate a protocol file (or list the shipped ones) and show the monitoring plan it gives",
    "alarms": "run a recorded session through a protocol's rules at full speed and print every alarm transition "
    "and dosing decision",
    "simulate": "simulate a KAP session from a named scenario and write it as a recording (CSV + JSON sidecar)",
    "scan": "list nearby Bluetooth LE devices, the standard services they offer and the ble:// URI to use",
    "emulate": "open a pseudo-terminal that speaks a serial device's protocol, print its path and stream until "
    "Ctrl-C; or (hl7-monitor) send a session to an HL7 listener as a monitor would",
    "user": "add or remove a user who may sign in to the pages, or change their password or role (the password "
    "is asked for, never an argument)",
}


# Subcommands whose module is not named like the command ("import" is a Python keyword).
MODULES = {"import": "import_recording"}


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the full usage is in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; only the subcommands in ``commands`` (all when None) get their arguments, so
    only their modules are imported."""
    wanted = set(COMMANDS if commands is None else commands)
    parser = Parser(
        prog="kapmon",
        description="In-session vitals monitor for ketamine-assisted psychotherapy. "
        "Not a medical device: for research, education, simulation and secondary display.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, text in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text)
        if name in wanted:
            module = import_module(f"monitor.cli.{MODULES.get(name, name)}")
            module.add_arguments(p)
            p.set_defaults(run=module.run)
    return parser


def chosen(argv: list[str]) -> list[str]:
    """The subcommand named in ``argv`` (its first word that is not an option), as a list of at most one."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return [first] if first in COMMANDS else []


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kapmon`` console script."""
    bound_malloc_arenas()  # before the recorders' and the page server's threads start
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(chosen(argv)).parse_args(argv)
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # here, so a closed pipe is caught below rather than at exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (kapmon sessions | head -1): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return 141  # 128 + SIGPIPE, as a shell reports a command a closed pipe stopped


if __name__ == "__main__":
    sys.exit(main())
