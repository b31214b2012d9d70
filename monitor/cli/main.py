"""The ``kapmon`` command line. Each subcommand is a module in ``monitor.cli``."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

# Order here is the order in ``kapmon --help``.
COMMANDS = [
    "demo",
    "monitor",
    "central",
    "sessions",
    "review",
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


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the full usage is in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kapmon",
        description="In-session vitals monitor for ketamine-assisted psychotherapy. "
        "Not a medical device: for research, education, simulation and secondary display.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = import_module(f"monitor.cli.{MODULES.get(name, name.replace('-', '_'))}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kapmon`` console script."""
    try:
        args = build_parser().parse_args(argv)
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
