"""Fault injection shared by the tests and ``benchmarks/bench_faults.py``: a recorder process killed
with SIGKILL and resumed with ``--resume``, and a serial device unplugged and replugged."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from devices.reading import Condition, Item, Reading
from devices.virtual.serial_emulator import Emulator
from devices.serial.transport import SerialSource
from devices.source import WallClock
from monitor.session.store import Store
from tests.helpers import ROOT

RECORDER_DEVICE = "sim://typical_iv?seed=3&pleth=1"
T = TypeVar("T")


class FlakyStore(Store):
    """A store whose writes fail with the disk-full error while ``full`` is set."""

    full = False

    def write(self, *args, **kwargs):
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        return super().write(*args, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_recorder(db: Path, *extra: str) -> subprocess.Popen:
    """``kapmon monitor --resume`` on a simulated device (75 Hz pleth), recording into ``db``."""
    cmd = [sys.executable, "-m", "monitor.cli.main", "monitor", "--device", RECORDER_DEVICE,
           "--patient", "P-CRASH", "--weight", "70", "--route", "iv", "--db", str(db),
           "--port", str(free_port()), "--resume", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def query(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def stored(db: Path, after: float = 0.0) -> int:
    """Readings in the store stamped after ``after`` (0 while the recorder is still creating it)."""
    try:
        sql = "SELECT (SELECT COUNT(*) FROM readings WHERE t > ?) + (SELECT COALESCE(SUM(n), 0) FROM waveform_blocks WHERE t0 > ?)"
        return query(db, sql, after, after)[0][0]
    except sqlite3.OperationalError:
        return 0


def wait_for(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    """Poll ``predicate`` until it returns something true; ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def kill_recorder(db: Path, proc: subprocess.Popen) -> tuple[float, float]:
    """SIGKILL the recorder now; ``(killed_at, seconds lost)``: the wall time of the kill and how far
    the last stored reading lies before it."""
    killed_at = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()
    return killed_at, killed_at - last_stored(db)


def last_stored(db: Path) -> float:
    """The time of the last reading stored in ``db`` (waveform samples included)."""
    store = Store(db, read_only=True)
    try:
        return max(store.last_reading_time(s.id) or 0.0 for s in store.sessions())
    finally:
        store.close()


def fd_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/task")) if pid != "self" else threading.active_count()


async def replug_cycles(source: SerialSource, emulator: Emulator, cycles: int, timeout: float = 5.0) -> tuple[int, list[Item]]:
    """Stream ``source`` while ``emulator`` is unplugged and replugged ``cycles`` times: each cycle waits
    for pleth (data after the (re)connect), unplugs, waits for the ``disconnected`` edge and replugs.
    Returns ``(cycles after which data came back, every item)``; stops at the first that times out."""
    items: list[Item] = []
    data_seen = asyncio.Event()
    unplugged = asyncio.Event()

    async def consume() -> None:
        async for item in source.stream(WallClock()):
            items.append(item)
            if isinstance(item, Reading) and item.vital == "pleth":
                data_seen.set()
            if isinstance(item, Condition) and item.condition == "disconnected" and item.active:
                unplugged.set()

    task = asyncio.create_task(consume())
    recovered = 0
    try:
        await asyncio.wait_for(data_seen.wait(), timeout)
        for _ in range(cycles):
            emulator.unplug()
            await asyncio.wait_for(unplugged.wait(), timeout)
            unplugged.clear()
            data_seen.clear()  # items are in order: nothing from the unplugged port comes after this
            emulator.replug()
            await asyncio.wait_for(data_seen.wait(), timeout)  # data after reconnect: start re-sent, lock held
            recovered += 1
    except TimeoutError:
        pass
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return recovered, items
