"""``kapmon scan``: list nearby Bluetooth LE devices and the standard services they offer."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from devices.ble.discovery import describe, discover


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=_positive, default=5.0, metavar="S", help="seconds to scan (default 5)")


def scan(timeout: float, backend: type[BaseBleakScanner] | None = None, out: TextIO = sys.stdout) -> int:
    """Scan and print one line per device; without a usable adapter print why on one line and return 1."""
    try:
        found = asyncio.run(discover(timeout, backend))
    except (BleakError, OSError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        print(f"kapmon scan: Bluetooth is not available (no adapter, or BlueZ/D-Bus not running): {reason}", file=sys.stderr)
        return 1
    for device in found:
        print(describe(device), file=out)
    if not found:
        print(f"kapmon scan: no devices heard in {timeout:g} s", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    return scan(args.timeout)
