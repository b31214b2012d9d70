"""Decodes per second of each BLE characteristic decoder, on the published vectors.

    python benchmarks/bench_ble_decode.py [--seconds S]
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

from devices.ble.blood_pressure import decode_bp, decode_icp
from devices.ble.heart_rate import decode_hr
from devices.ble.pulse_oximetry import decode_plx_cont, decode_plx_features, decode_plx_spot

CASES: list[tuple[str, Callable, str]] = [
    ("Heart Rate Measurement 0x2A37", decode_hr, "1E 55 32 00 21 00"),
    ("Blood Pressure Measurement 0x2A35", decode_bp, "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"),
    ("Intermediate Cuff Pressure 0x2A36", decode_icp, "1E 04 00 00 00 00 00 00 00 04 11 14 29 3B 3C 00 01 27 00"),
    ("PLX Spot-check 0x2A5E", decode_plx_spot, "0F 61 00 48 00 E4 07 0B 15 0A 1E 00 00 00 00 00 00 57 F0"),
    ("PLX Continuous 0x2A5F", decode_plx_cont, "1C 5F 00 5A 00 20 00 00 00 00 57 F0"),
    ("PLX Features 0x2A60", decode_plx_features, "A3 00 40 10 80 01 00"),
]


def rate(decode: Callable, data: bytes, seconds: float) -> float:
    """Best-of-3 decodes per second over roughly ``seconds``."""
    timer = timeit.Timer(lambda: decode(data))
    number, elapsed = timer.autorange()
    repeat = max(1, int(seconds / 3 / elapsed * number))
    return repeat / min(timer.repeat(3, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per characteristic (default 3)")
    args = parser.parse_args()
    for name, decode, hexdata in CASES:
        per_second = rate(decode, bytes.fromhex(hexdata), args.seconds)
        print(f"{name:<36} {len(hexdata.split()):>2} B  {per_second:>12,.0f} decodes/s")


if __name__ == "__main__":
    main()
