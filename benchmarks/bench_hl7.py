"""The HL7 listener: decode time of a typical and of the largest accepted message, and what a peer flooding
the listener with the largest messages does to a monitor's acknowledgements and to the event loop the
recorder runs on.

    python benchmarks/bench_hl7.py [--seconds 10]

Prints the decode time per message, then for a quiet listener and for one under a flood: the monitor's
ACK round trip (median, max) and the event loop's lag (how late a 50 ms sleep wakes: median, max).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from devices.hl7.decoder import decode_message
from devices.hl7.encoder import observation_report
from devices.hl7.mllp import Framer, Limits, frame
from devices.hl7.source import open_hl7
from devices.reading import reading
from devices.source import WallClock
from devices.uri import parse_uri


def typical() -> str:
    t = time.time()
    vitals = [("spo2", 97), ("pr", 72), ("hr", 71), ("rr", 14), ("temp", 36.8)]
    return observation_report([(reading(t, v, x, "m"), False) for v, x in vitals], "BENCH0000000001", "C1", t)


def largest() -> str:
    """A message just under the frame bound: the typical one with as many SpO2 rows as fit."""
    row = "OBX|{0}|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.{0}.1|97|262688^MDC_DIM_PERCENT^MDC|||||R|||20260101000000"
    text, n = typical(), 10
    while len(text) + len(row.format(n)) + 1 < Limits().max_frame:
        text += row.format(n) + "\r"
        n += 1
    return text


def decode_ms(text: str, rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        decode_message(text, time.time())
    return (time.perf_counter() - start) / rounds * 1000


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str, framer: Framer) -> None:
    writer.write(frame(text.encode()))
    await writer.drain()
    while not framer.feed(await reader.read(65536)):
        pass


async def run(seconds: float, flood: bool) -> tuple[list[float], list[float]]:
    src = open_hl7(parse_uri("hl7://127.0.0.1:0"))
    pump = asyncio.create_task(_drain(src))
    while src.address is None:
        await asyncio.sleep(0.01)
    stop = time.monotonic() + seconds
    flooder = asyncio.create_task(_flood(src.address, stop)) if flood else None
    lags: list[float] = []
    acks: list[float] = []
    lag = asyncio.create_task(_lag(stop, lags))
    reader, writer = await asyncio.open_connection(*src.address)
    framer, message = Framer(1 << 20), typical()
    while time.monotonic() < stop:
        start = time.perf_counter()
        await exchange(reader, writer, message, framer)
        acks.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.2)
    writer.close()
    for task in (pump, lag, flooder):
        if task is not None:
            task.cancel()
    await asyncio.gather(pump, lag, *([flooder] if flooder else []), return_exceptions=True)
    return acks, lags


async def _drain(src) -> None:
    async for _ in src.stream(WallClock()):
        pass


async def _flood(address: tuple[str, int], stop: float) -> None:
    reader, writer = await asyncio.open_connection(*address)
    framer, big = Framer(1 << 20), largest()
    while time.monotonic() < stop:
        await exchange(reader, writer, big, framer)


async def _lag(stop: float, lags: list[float]) -> None:
    while time.monotonic() < stop:
        start = time.perf_counter()
        await asyncio.sleep(0.05)
        lags.append((time.perf_counter() - start - 0.05) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    big = largest()
    print(f"decode: typical message {len(typical())} B: {decode_ms(typical(), 500):.2f} ms; "
          f"largest accepted {len(big) // 1024} KiB: {decode_ms(big, 3):.0f} ms")
    for flood in (False, True):
        acks, lags = asyncio.run(run(args.seconds, flood))
        print(f"{'under a flood of largest messages' if flood else 'quiet listener'}: monitor ACK round trip "
              f"median {statistics.median(acks):.1f} ms, max {max(acks):.0f} ms ({len(acks)} messages); "
              f"event-loop lag median {statistics.median(lags):.1f} ms, max {max(lags):.0f} ms")


if __name__ == "__main__":
    main()
