"""Serial benchmarks: bytes/s each streaming decoder sustains, and the CPU used while streaming
Nonin format #2 at 75 Hz through the pty emulator and the pyserial transport.

Run: ``python benchmarks/bench_serial.py [--seconds 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from devices.reading import Reading, expand
from devices.registry import open_source
from devices.serial import cms50d, cms50d_v7, masimo, nibp_module, nonin
from devices.serial.decoder import StreamDecoder
from devices.source import WallClock
from devices.virtual.serial_emulator import Emulator
from devices.virtual.simulator import simulate

CHUNK = 64  # bytes per feed, about what a USB-serial adapter hands over per read


def sample_stream(name: str, size: int = 200_000) -> bytes:
    """About ``size`` bytes of valid frames of one format."""
    one: dict[str, Callable[[int], bytes]] = {
        "cms50d": lambda i: cms50d.encode_frame(cms50d.Frame(i % 128, 70, 97, False, False, False, False, 5)),
        "cms50d-v7": lambda i: cms50d_v7.encode_realtime(cms50d_v7.Realtime(i % 128, 70, 97, 1.2, True, False, False, False, 5)),
        "nonin2": lambda i: nonin.encode_frame(2, nonin.PacketFrame(int(i % 25 == 0), i % 256, nonin.float_byte(i % 25 + 1, 70, 97, False))),
        "nonin7": lambda i: nonin.encode_frame(7, nonin.PacketFrame(int(i % 25 == 0), i % 65536, nonin.float_byte(i % 25 + 1, 70, 97, False))),
        "nonin8": lambda i: nonin.encode_format8(nonin.Format8(70, 97)),
        "masimo": lambda i: masimo.encode_line(datetime(2025, 1, 1), masimo.Line(97, 70, 2.5, True, 0, 0x800)),
        "nibp-module": lambda i: nibp_module.frame(nibp_module.result_body(120, 80, 93, 70)),
    }[name]
    out = bytearray()
    i = 0
    while len(out) < size:
        out += one(i)
        i += 1
    return bytes(out)


DECODERS: dict[str, Callable[[], StreamDecoder]] = {
    "cms50d": cms50d.Cms50dDecoder,
    "cms50d-v7": cms50d_v7.Cms50dV7Decoder,
    "nonin2": lambda: nonin.NoninPacketDecoder(2),
    "nonin7": lambda: nonin.NoninPacketDecoder(7),
    "nonin8": nonin.NoninFormat8Decoder,
    "masimo": masimo.MasimoDecoder,
    "nibp-module": nibp_module.NibpModuleDecoder,
}


def decoder_rate(name: str) -> tuple[float, int]:
    """(bytes/s, frames decoded) feeding a sample stream in ``CHUNK``-byte pieces."""
    data = sample_stream(name)
    decoder = DECODERS[name]()
    start = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        decoder.feed(data[i : i + CHUNK], i / 1000)
    return len(data) / (time.perf_counter() - start), decoder.frames


async def stream_for(seconds: float, uri: str) -> int:
    """Pleth readings received from ``uri`` in ``seconds``."""
    source = open_source(uri)
    count = 0

    async def run() -> None:
        nonlocal count
        async for item in source.stream(WallClock()):
            count += isinstance(item, Reading) and item.vital == "pleth"

    task = asyncio.create_task(run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return count


def streaming_cpu(seconds: float) -> tuple[float, int]:
    """(CPU % of one core, pleth readings) for Nonin #2 at 75 Hz through emulator + transport."""
    emulator = Emulator("nonin2", expand(simulate("typical_iv", pleth=True)), speed=1.0)
    path = emulator.start()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        count = asyncio.run(stream_for(seconds, f"serial://{path}?protocol=nonin2"))
        return 100 * (time.process_time() - cpu) / (time.perf_counter() - wall), count
    finally:
        emulator.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to stream Nonin #2 (default 20)")
    args = parser.parse_args()
    print(f"decoder throughput ({CHUNK}-byte reads):")
    for name in DECODERS:
        rate, frames = decoder_rate(name)
        print(f"  {name:12s} {rate / 1e6:6.2f} MB/s  ({frames} frames)")
    percent, count = streaming_cpu(args.seconds)
    print(f"Nonin #2 at 75 Hz, emulator + pyserial transport, {args.seconds:.0f} s: "
          f"{percent:.1f}% of one core (process CPU / wall), {count} pleth readings ({count / args.seconds:.1f}/s)")


if __name__ == "__main__":
    main()
