"""The ``kapmon`` command line. Each subcommand is a module in ``monitor.commands``."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

# Order here is the order in ``kapmon --help``.
COMMANDS = [
    "demo",
    "monitor",
    "central",
    "sessions",
    "import",
    "summary",
    "export",
    "replay",
    "debrief",
    "decode",
    "protocol",
    "alarms",
    "simulate",
    "scan",
    "emulate",
    "user",
]


# Subcommands whose module is not named like the command ("import" is a Python keyword).
MODULES = {"import": "import_recording"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kapmon",
        description="In-session vitals monitor for ketamine-assisted psychotherapy. "
        "Not a medical device: for research, education, simulation and secondary display.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = import_module(f"monitor.commands.{MODULES.get(name, name.replace('-', '_'))}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kapmon`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
