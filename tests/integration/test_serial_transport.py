"""The pyserial transport against emulated devices on real pseudo-terminals: every protocol end
to end, probing, keep-alives, the silence watchdog, and unplug/replug without leaks."""

from __future__ import annotations

import asyncio
import logging
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import serial

from devices.errors import URIError
from devices.reading import Condition, Item, Reading, reading
from devices.registry import open_source
from devices.serial import cms50d_v7, nonin
from devices.virtual.serial_emulator import Emulator
from devices.serial.protocols import PROTOCOLS
from devices.serial.transport import Backoff, SerialSource, open_port
from devices.source import WallClock
from tests.faults import fd_count, replug_cycles, thread_count

FAST = "backoff=0.01&backoff_max=0.05"


def steady(spo2: float = 96, pr: float = 66, seconds: float | None = None) -> Iterator[Item]:
    """Hand-made oximeter and cuff items: numerics at 1 Hz, pleth at 75 Hz, a cuff reading at 0 s."""
    for v, vital in ((121, "sbp"), (79, "dbp"), (93, "map")):
        yield reading(0.0, vital, v, "test")
    s = 0
    while seconds is None or s < seconds:
        yield reading(s, "spo2", spo2, "test")
        yield reading(s, "pr", pr, "test")
        yield reading(s, "pi", 2.0, "test")
        for k in range(75):
            yield reading(s + k / 75, "pleth", 50 + 40 * ((k % 25) / 25), "test")
        s += 1


async def collect(source, until: Callable[[list[Item]], bool], timeout: float = 10.0) -> list[Item]:
    """Stream ``source`` until ``until(items)`` holds (or ``timeout``), then cancel it."""
    items: list[Item] = []
    done = asyncio.Event()

    async def run() -> None:
        async for item in source.stream(WallClock()):
            items.append(item)
            if until(items):
                done.set()

    task = asyncio.create_task(run())
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return items


def has(vital: str, value: float | None = None) -> Callable[[list[Item]], bool]:
    return lambda items: any(isinstance(i, Reading) and i.vital == vital and (value is None or i.value == value) for i in items)


def edges(items: list[Item], name: str) -> list[bool]:
    return [i.active for i in items if isinstance(i, Condition) and i.condition == name]


@pytest.fixture
def emulate():
    started: list[Emulator] = []

    def start(protocol: str, items=None, **kw) -> Emulator:
        emu = Emulator(protocol, steady() if items is None else items, **kw)
        emu.start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.close()


@pytest.mark.parametrize("protocol", ["cms50d", "cms50d-v7", "nonin2", "nonin7", "nonin8", "masimo"])
def test_oximeter_protocols_end_to_end_through_pyserial(emulate, protocol: str) -> None:
    emu = emulate(protocol)
    source = open_source(f"serial://{emu.path}?protocol={protocol}")
    items = asyncio.run(collect(source, lambda xs: has("spo2", 96)(xs) and has("pr", 66)(xs)))
    assert has("spo2", 96)(items) and has("pr", 66)(items)
    assert all(i.source == source.uri for i in items)
    if protocol not in ("nonin8", "masimo"):
        assert has("pleth")(items)


def test_nibp_module_measures_on_request_and_reports_its_own_cycle(emulate) -> None:
    emu = emulate("nibp-module", measure_seconds=0.2)
    source = open_source(f"serial://{emu.path}?protocol=nibp-module&interval=0.5")
    items = asyncio.run(collect(source, lambda xs: sum(1 for i in xs if getattr(i, "vital", "") == "sbp") >= 2))
    assert [i.value for i in items if isinstance(i, Reading) and i.vital == "sbp"][:2] == [121, 121]
    assert edges(items, "stale") == []


@pytest.mark.parametrize("generation", ["cms50d", "cms50d-v7"])
def test_auto_probes_both_cms50_generations(emulate, generation: str) -> None:
    emu = emulate(generation)
    source = open_source(f"serial://{emu.path}?probe=1")
    items = asyncio.run(collect(source, has("spo2", 96), timeout=15))
    assert has("spo2", 96)(items) and source.protocol.name == generation and len(source.candidates) == 1


def v7_source(path: str, period: float) -> SerialSource:
    protocol = replace(PROTOCOLS["cms50d-v7"], period=period, periodic=cms50d_v7.command(cms50d_v7.KEEPALIVE) if period else b"")
    return SerialSource(f"serial://{path}", path, [protocol])


def test_cms50_v7_keeps_streaming_with_keepalives(emulate) -> None:
    emu = emulate("cms50d-v7", keepalive_timeout=0.5)
    source = v7_source(emu.path, period=0.2)
    start = time.monotonic()
    items = asyncio.run(collect(source, lambda xs: time.monotonic() - start > 3.0, timeout=5))
    pleth = [i.t for i in items if isinstance(i, Reading) and i.vital == "pleth"]
    assert edges(items, "stale") == [] and pleth[-1] - pleth[0] > 2.5


def test_cms50_v7_without_keepalives_goes_stale_then_restarts(emulate) -> None:
    emu = emulate("cms50d-v7", keepalive_timeout=0.5)
    source = v7_source(emu.path, period=0.0)
    items = asyncio.run(collect(source, lambda xs: edges(xs, "stale") == [True, False], timeout=10))
    assert edges(items, "stale") == [True, False]  # stale, then the start command is re-sent and data returns
    stale_at = next(i.t for i in items if isinstance(i, Condition) and i.active)
    assert any(isinstance(i, Reading) and i.t > stale_at for i in items)


def test_silence_after_the_data_ends_is_stale_not_a_value(emulate) -> None:
    emu = emulate("masimo", items=steady(seconds=2))
    source = open_source(f"serial://{emu.path}?protocol=masimo")
    items = asyncio.run(collect(source, lambda xs: edges(xs, "stale") == [True], timeout=10))
    assert edges(items, "stale") == [True] and edges(items, "disconnected") == []


def test_missing_port_is_disconnected_until_it_appears(emulate, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="devices.serial.transport")
    link = tmp_path / "by-id-oximeter"
    emu = Emulator("nonin2", steady(), link=link)
    source = open_source(f"serial://{link}?protocol=nonin2&{FAST}")

    def plug_in_later() -> None:
        time.sleep(0.3)
        emu.start()

    threading.Thread(target=plug_in_later).start()
    try:
        items = asyncio.run(collect(source, has("spo2", 96)))
    finally:
        emu.close()
    assert edges(items, "disconnected") == [True, False]
    assert "cannot open" in next(i.detail for i in items if isinstance(i, Condition))
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "devices.serial.transport"]
    assert logged[0][0] == "WARNING" and "disconnected: cannot open" in logged[0][1]  # the terminal says why
    assert any(level == "INFO" and "reopening in" in text for level, text in logged)
    assert logged[-1] == ("INFO", f"serial://{link}?protocol=nonin2&{FAST}: disconnected no longer")


def test_unplug_replug_100_times_without_leaks(tmp_path) -> None:
    link = tmp_path / "usb-Contec_CMS50D-if00-port0"
    gc.collect()  # earlier tests' unreferenced pipes and ports would close mid-test and skew the count
    threads, fds = thread_count(), fd_count()
    emu = Emulator("cms50d-v7", steady(), link=link, speed=1.0)
    emu.start()
    source = SerialSource(f"serial://{link}", str(link), [PROTOCOLS["cms50d-v7"]], backoff=Backoff(0.005, 0.02))
    cycles = 100
    try:
        recovered, items = asyncio.run(replug_cycles(source, emu, cycles))
    finally:
        emu.close()
    assert recovered == cycles
    assert edges(items, "disconnected") == [True, False] * cycles
    assert thread_count() == threads
    assert fd_count() == fds


def test_exclusive_access() -> None:
    master, slave = os.openpty()
    try:
        first = open_port(os.ttyname(slave), PROTOCOLS["nonin2"].settings)
        with pytest.raises(serial.SerialException):
            open_port(os.ttyname(slave), PROTOCOLS["nonin2"].settings)
        first.close()
    finally:
        os.close(master)
        os.close(slave)


def test_nonin_emulator_acknowledges_format_select(emulate) -> None:
    emu = emulate("nonin2")
    with serial.Serial(emu.path, timeout=0.5) as port:
        port.reset_input_buffer()
        port.write(nonin.format_select(8))
        data = port.read(400)
        assert bytes((nonin.ACK,)) in data
        port.write(nonin.format_select(13))
        time.sleep(0.1)
        assert bytes((nonin.NAK,)) in port.read(port.in_waiting or 1)
        port.timeout = 3.0
        records = port.read(12)
    assert has("spo2", 96)(nonin.NoninFormat8Decoder(lock=1).feed(records, 0.0))


@pytest.mark.parametrize("uri,message", [
    ("serial:///dev/ttyUSB0?protocol=cms60", "unknown protocol"),
    ("serial:///dev/ttyUSB0?protocol=nonin2&baud=9600", "unknown parameter"),
    ("serial:///dev/ttyUSB0?protocol=nonin2&backoff=0", "greater than 0"),
])
def test_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(URIError, match=message):
        open_source(uri)


def test_kapmon_emulate_prints_the_path_and_streams_real_bytes() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli.main", "emulate", "nonin2", "--speed", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        data = b""
        with serial.Serial(path, timeout=0.5, exclusive=True) as port:
            deadline = time.monotonic() + 20  # a loaded machine may stream slowly; wait for the bytes, not a time
            while len(data) < 500 and time.monotonic() < deadline:
                data += port.read(500 - len(data))
        decoder = nonin.NoninPacketDecoder(2)
        decoder.feed(data, 0.0)
        assert decoder.frames >= 90
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_nibp_module_measures_when_asked(emulate) -> None:
    """A cuff with no cycle of its own measures when the rules ask for a repeat NIBP."""
    emu = emulate("nibp-module", measure_seconds=0.2)
    source = open_source(f"serial://{emu.path}?protocol=nibp-module")
    assert source.request_measurement()

    async def run() -> list[Item]:
        items: list[Item] = []
        task = asyncio.ensure_future(_drain(source, items))
        try:
            async with asyncio.timeout(10):
                while not any(getattr(i, "vital", "") == "sbp" for i in items):
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
        return items

    items = asyncio.run(run())
    assert [i.value for i in items if isinstance(i, Reading) and i.vital == "sbp"][:1] == [121]
    assert not open_source(f"serial://{emu.path}?protocol=nonin8").request_measurement()  # an oximeter cannot


async def _drain(source, items: list) -> None:
    async for item in source.stream(WallClock()):
        items.append(item)
