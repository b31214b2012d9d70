"""``kapmon emulate PROTOCOL [--scenario NAME | --recording FILE] [--speed X]``: a virtual serial device, or
with ``hl7-monitor --to HOST:PORT`` a monitor sending HL7 v2 (IHE PCD-01) to a listener."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable

from devices.errors import RecordingError
from devices.io.recording import read_recording
from devices.reading import Item, expand
from devices.serial.protocols import PROTOCOLS
from devices.virtual.scenarios import SCENARIOS
from devices.virtual.serial_emulator import Emulator
from devices.virtual.simulator import simulate

HL7_MONITOR = "hl7-monitor"


def add_arguments(p: argparse.ArgumentParser) -> None:
    choices = [*PROTOCOLS, HL7_MONITOR]
    p.add_argument("protocol", metavar="PROTOCOL", choices=choices, help=f"one of: {', '.join(choices)}")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--scenario", default="typical_iv", help=f"simulated scenario (default typical_iv): {', '.join(SCENARIOS)}"
    )
    source.add_argument("--recording", metavar="FILE", help="a recording (CSV) to play instead of a scenario")
    p.add_argument("--speed", type=float, default=1.0, help="how many times faster than real time (default 1)")
    p.add_argument("--seed", type=int, default=0, help="scenario random seed (default 0)")
    p.add_argument("--link", metavar="PATH", help="also make PATH a symlink to the device (like /dev/serial/by-id)")
    p.add_argument(
        "--to", metavar="HOST:PORT", help=f"{HL7_MONITOR}: the listener to send to (kapmon monitor --device hl7://0.0.0.0:PORT)"
    )
    p.add_argument(
        "--every",
        type=float,
        default=5.0,
        metavar="S",
        help=f"{HL7_MONITOR}: seconds of the session between periodic results (default 5)",
    )


def items_for(args: argparse.Namespace, pleth: bool = True) -> Iterable[Item]:
    """The items to play: the recording, or the scenario (with its plethysmogram if ``pleth``)."""
    if args.recording:
        return read_recording(args.recording).items
    return expand(simulate(args.scenario, seed=args.seed, pleth=pleth))  # a device sends its samples one by one


def run_hl7_monitor(args: argparse.Namespace, items: Iterable[Item]) -> int:
    """Send the session to ``--to`` until it ends."""
    from devices.hl7.emulator import run as send

    host, _, port = (args.to or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        print(f"kapmon emulate: {HL7_MONITOR} needs --to HOST:PORT (e.g. --to 127.0.0.1:2575)", file=sys.stderr)
        return 2
    print(
        f"kapmon emulate: sending to {host}:{port}; try: kapmon monitor --device 'hl7://0.0.0.0:{port}'",
        file=sys.stderr,
        flush=True,
    )
    tally = send(
        items,
        host.strip("[]"),
        int(port),
        every=args.every,
        speed=args.speed,
        say=lambda line: print(f"kapmon emulate: {line}", file=sys.stderr, flush=True),
    )
    acks = ", ".join(f"{n} {code}" for code, n in sorted(tally.acks.items())) or "none"
    print(
        f"kapmon emulate: end of data: {tally.sent} messages sent, acknowledgements: {acks}, {tally.resent} sent again",
        file=sys.stderr,
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if not args.speed > 0 or not args.every > 0:
        print("kapmon emulate: --speed and --every must be greater than 0", file=sys.stderr)
        return 2
    if args.protocol == HL7_MONITOR:
        try:
            return run_hl7_monitor(args, items_for(args, pleth=False))
        except (RecordingError, ValueError) as exc:
            print(f"kapmon emulate: {exc}", file=sys.stderr)
            return 2
    try:
        items = items_for(args)
        emulator = Emulator(args.protocol, items, speed=args.speed, link=args.link)
    except (RecordingError, ValueError) as exc:
        print(f"kapmon emulate: {exc}", file=sys.stderr)
        return 2
    path = emulator.start()
    print(path, flush=True)
    print(
        f"kapmon emulate: {args.protocol} on {path}; try: kapmon monitor --device 'serial://{path}?protocol={args.protocol}'",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not emulator.ended.wait(0.5):  # woken twice a second so that Ctrl-C is taken at once
            continue
        print("kapmon emulate: end of data; the device stays connected and silent until Ctrl-C", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    finally:
        emulator.close()
