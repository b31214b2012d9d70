"""``kapmon emulate PROTOCOL [--scenario NAME | --recording FILE] [--speed X]``: a virtual serial device."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable

from devices.errors import RecordingError
from devices.reading import Item
from devices.io.recording import read_recording
from devices.virtual.scenarios import SCENARIOS
from devices.virtual.serial_emulator import Emulator
from devices.serial.protocols import PROTOCOLS
from devices.virtual.simulator import simulate

HELP = "open a pseudo-terminal that speaks a serial device's protocol, print its path and stream until Ctrl-C"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("protocol", metavar="PROTOCOL", choices=list(PROTOCOLS), help=f"one of: {', '.join(PROTOCOLS)}")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--scenario", default="typical_iv", help=f"simulated scenario (default typical_iv): {', '.join(SCENARIOS)}")
    source.add_argument("--recording", metavar="FILE", help="a recording (CSV) to play instead of a scenario")
    p.add_argument("--speed", type=float, default=1.0, help="how many times faster than real time (default 1)")
    p.add_argument("--seed", type=int, default=0, help="scenario random seed (default 0)")
    p.add_argument("--link", metavar="PATH", help="also make PATH a symlink to the device (like /dev/serial/by-id)")


def items_for(args: argparse.Namespace) -> Iterable[Item]:
    """The items to play: the recording, or the scenario with its plethysmogram."""
    if args.recording:
        return read_recording(args.recording).items
    return simulate(args.scenario, seed=args.seed, pleth=True)


def run(args: argparse.Namespace) -> int:
    if not args.speed > 0:
        print("kapmon emulate: --speed must be greater than 0", file=sys.stderr)
        return 2
    try:
        items = items_for(args)
        emulator = Emulator(args.protocol, items, speed=args.speed, link=args.link)
    except (RecordingError, ValueError) as exc:
        print(f"kapmon emulate: {exc}", file=sys.stderr)
        return 2
    path = emulator.start()
    print(path, flush=True)
    print(f"kapmon emulate: {args.protocol} on {path}; try: kapmon monitor --device 'serial://{path}?protocol={args.protocol}'",
          file=sys.stderr, flush=True)
    try:
        while not emulator.ended.wait(0.5):
            pass
        print("kapmon emulate: end of data; the device stays connected and silent until Ctrl-C", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    finally:
        emulator.close()
