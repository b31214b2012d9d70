"""Virtual serial devices: a pseudo-terminal that speaks a protocol's real bytes.

An ``Emulator`` plays any time-ordered iterable of items (a simulated scenario, a recording)
through one emulated device, paced at ``speed`` times real time, and answers the protocol's
commands: a CMS50 V7.0 device streams only after the start command and stops without
keep-alives, a Nonin acknowledges format selection, an NIBP module measures on request.
``unplug()``/``replug()`` close and reopen the pseudo-terminal (a new ``/dev/pts/N``; the
optional ``link`` symlink, like a ``/dev/serial/by-id`` path, follows it).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from devices.reading import Condition, Item, Reading, expand
from devices.serial import cms50d, cms50d_v7, masimo, nibp_module, nonin

MAX_WAIT = 0.02  # longest the loop sleeps, so commands and unplug requests are handled promptly


@dataclass
class DeviceState:
    """What an emulated device currently measures, built from the items played so far."""

    spo2: float | None = None
    pr: float | None = None
    pi: float | None = None
    pleth: float = 0.0  # 0-100, the simulator's scale
    conditions: set[str] = field(default_factory=set)
    bp: tuple[float | None, float | None, float | None] | None = None
    bp_count: int = 0
    has_pr: bool = False

    def apply(self, item: Reading | Condition) -> None:
        if isinstance(item, Condition):
            (self.conditions.add if item.active else self.conditions.discard)(item.condition)
            return
        self._reading(item)

    def _reading(self, r: Reading) -> None:
        v = r.value
        if r.vital == "pleth":
            self.pleth = 0.0 if v is None else min(max(v, 0.0), 100.0)
        elif r.vital in ("spo2", "pi"):
            setattr(self, r.vital, v)
        elif r.vital == "pr" or r.vital == "hr" and not self.has_pr:
            self.has_pr = self.has_pr or r.vital == "pr"
            self.pr = v
        elif r.vital in ("sbp", "dbp", "map"):
            i = ("sbp", "dbp", "map").index(r.vital)
            current = list(self.bp or (None, None, None))
            if i == 0:
                current = [None, None, None]
                self.bp_count += 1
            current[i] = v
            self.bp = (current[0], current[1], current[2])

    def flag(self, name: str) -> bool:
        return name in self.conditions


def whole(v: float | None) -> int | None:
    return None if v is None else int(round(v))


class Beat:
    """Pulse timing at the device's frame rate: ``step`` is true on the frame a beat starts."""

    def __init__(self) -> None:
        self.phase = 0.0
        self.since = 1_000

    def step(self, pr: float | None, rate: float) -> bool:
        self.phase += (pr or 0.0) / 60.0 / rate
        self.since += 1
        if self.phase >= 1.0:
            self.phase -= 1.0
            self.since = 0
            return True
        return False


class EmulatedDevice:
    """One protocol's device behaviour. ``t`` is emulated session time, ``wall`` monotonic seconds.

    By default a device streams frames and ignores what it is sent; devices with commands override
    ``receive``, ``tick`` and ``reset``."""

    @property
    def rate(self) -> float:
        """Frames per emulated second; 0 = sends only in reply."""
        return 0.0

    def frame(self, state: DeviceState, wall: float) -> bytes:
        """One frame of what the device streams (devices with ``rate`` 0 stream nothing)."""
        return b""

    def receive(self, data: bytes, state: DeviceState, t: float, wall: float) -> bytes:
        """Bytes the device answers to ``data`` from the host."""
        return b""

    def tick(self, state: DeviceState, t: float) -> bytes:
        """Bytes the device sends of its own accord at emulated time ``t``."""
        return b""

    def reset(self) -> None:
        """Forget the host's commands (after an unplug)."""


class Cms50dDevice(EmulatedDevice):
    """Generation A: streams 60 frames/s unprompted."""

    rate = 60.0

    def __init__(self) -> None:
        self.beat = Beat()

    def frame(self, state: DeviceState, wall: float) -> bytes:
        return cms50d.encode_frame(
            cms50d.Frame(
                pleth=round(state.pleth * 127 / 100),
                pr=whole(state.pr),
                spo2=whole(state.spo2),
                sensor_off=state.flag("sensor_off"),
                searching=state.flag("searching"),
                probe_error=state.flag("probe_error"),
                beep=self.beat.step(state.pr, self.rate),
                signal=8,
            )
        )


class Cms50dV7Device(EmulatedDevice):
    """V7.0: streams 60 packets/s after ``A1`` until ``A2`` or ``keepalive_timeout`` s without ``AF``/``A1``."""

    rate = 60.0

    def __init__(self, keepalive_timeout: float = 10.0) -> None:
        self.keepalive_timeout = keepalive_timeout
        self.buf = bytearray()
        self.alive_until = 0.0

    def frame(self, state: DeviceState, wall: float) -> bytes:
        if wall > self.alive_until:
            return b""
        return cms50d_v7.encode_realtime(
            cms50d_v7.Realtime(
                pleth=round(state.pleth * 127 / 100),
                pr=whole(state.pr),
                spo2=whole(state.spo2),
                pi=state.pi,
                pi_reported=state.pi is not None,
                sensor_off=state.flag("sensor_off"),
                searching=state.flag("searching"),
                probe_error=state.flag("probe_error"),
                signal=8,
            )
        )

    def receive(self, data: bytes, state: DeviceState, t: float, wall: float) -> bytes:
        self.buf += data
        for packet in cms50d_v7.packets(self.buf, cms50d_v7.HOST_LENGTHS):
            if not isinstance(packet, bytes):
                continue
            payload = cms50d_v7.unpack(packet)
            if payload[0] in (cms50d_v7.START, cms50d_v7.KEEPALIVE) and (
                payload[0] == cms50d_v7.START or wall <= self.alive_until
            ):
                self.alive_until = wall + self.keepalive_timeout
            elif payload[0] == cms50d_v7.STOP:
                self.alive_until = 0.0
        return b""

    def reset(self) -> None:
        self.buf.clear()
        self.alive_until = 0.0


class NoninDevice(EmulatedDevice):
    """Formats #2/#7 (75 frames/s, 25-frame packets) or #8 (1 record/s); ACKs format selection."""

    def __init__(self, fmt: int) -> None:
        self.initial = fmt
        self.fmt = fmt
        self.number = 0
        self.beat = Beat()
        self.buf = bytearray()

    @property
    def rate(self) -> float:
        return 1.0 if self.fmt == 8 else nonin.FRAME_RATE

    def frame(self, state: DeviceState, wall: float) -> bytes:
        hr, spo2 = whole(state.pr), whole(state.spo2)
        if self.fmt == 8:
            return nonin.encode_format8(
                nonin.Format8(
                    hr=hr,
                    spo2=spo2,
                    oot=state.flag("poor_signal"),
                    low_perfusion=state.flag("low_perfusion"),
                    artifact=state.flag("motion"),
                    sensor_alarm=state.flag("sensor_off"),
                    low_battery=state.flag("low_battery"),
                )
            )
        self.number = self.number % nonin.FRAMES_PER_PACKET + 1
        self.beat.step(state.pr, self.rate)
        status = (nonin.S_SYNC if self.number == 1 else 0) | (nonin.S_SNSA * state.flag("sensor_off"))
        status |= nonin.S_OOT * state.flag("poor_signal")
        if self.beat.since < 12:  # perfusion and artifact flags are held 12 frames per pulse
            status |= nonin.S_RPRF if state.flag("low_perfusion") else nonin.S_GPRF
            status |= nonin.S_ARTF * state.flag("motion")
        scale = 255 if self.fmt == 2 else 65535
        fb = nonin.float_byte(self.number, hr, spo2, state.flag("low_battery"))
        return nonin.encode_frame(self.fmt, nonin.PacketFrame(status, round(state.pleth * scale / 100), fb))

    def receive(self, data: bytes, state: DeviceState, t: float, wall: float) -> bytes:
        self.buf += data
        replies = b""
        while (start := self.buf.find(b"\x02")) >= 0 and len(self.buf) >= start + 6:
            fmt = nonin.parse_format_select(bytes(self.buf[start : start + 6]))
            del self.buf[: start + (6 if fmt is not None else 1)]
            if fmt is not None:
                ok = fmt in (2, 7, 8)
                self.fmt = fmt if ok else self.fmt
                replies += bytes((nonin.ACK if ok else nonin.NAK,))
        return replies

    def reset(self) -> None:
        self.buf.clear()
        self.number = 0


class MasimoDevice(EmulatedDevice):
    """Radical-7 style ASCII 1 lines, one per second."""

    rate = 1.0
    EXC = {"sensor_off": 0x20, "searching": 0x08, "low_perfusion": 0x04, "interference": 0x10, "poor_signal": 0x400}

    def __init__(self) -> None:
        self.clock_start = datetime.now().replace(microsecond=0)
        self.frames = 0

    def frame(self, state: DeviceState, wall: float) -> bytes:
        self.frames += 1
        exc = 0x800 | sum(bit for name, bit in self.EXC.items() if state.flag(name))
        alarm = 0x40 * state.flag("low_battery")
        line = masimo.Line(state.spo2, state.pr, state.pi, True, alarm, exc)
        return masimo.encode_line(self.clock_start + timedelta(seconds=self.frames), line)


class NibpModuleDevice(EmulatedDevice):
    """Measures on ``01;;`` (taking ``measure_seconds`` of session time) and whenever the played
    items hold a new cuff reading; prints ``999`` when done and answers ``18;;`` with the result."""

    def __init__(self, measure_seconds: float = 20.0) -> None:
        self.measure_seconds = measure_seconds
        self.buf = bytearray()
        self.done_at: float | None = None
        self.seen = 0
        self.result = nibp_module.result_body(None, None, None, None, error=1)

    def receive(self, data: bytes, state: DeviceState, t: float, wall: float) -> bytes:
        self.buf += data
        messages, _, _ = nibp_module.take_messages(self.buf)
        out = b""
        for m in messages:
            if m == "01;;" and self.done_at is None:
                self.done_at = t + self.measure_seconds
            elif m == nibp_module.ABORT:
                self.done_at = None
            elif m == "18;;":
                out += nibp_module.frame(self.result)
        return out

    def tick(self, state: DeviceState, t: float) -> bytes:
        measured = self.done_at is not None and t >= self.done_at
        if not measured and state.bp_count == self.seen:
            return b""
        self.done_at = None
        self.seen = state.bp_count
        if state.bp is None:
            self.result = nibp_module.result_body(None, None, None, None, error=1)
        else:
            sbp, dbp, mean = (whole(v) for v in state.bp)
            self.result = nibp_module.result_body(sbp, dbp, mean, whole(state.pr))
        return b"999\r\n"

    def reset(self) -> None:
        self.buf.clear()
        self.done_at = None


def make_device(protocol: str, *, keepalive_timeout: float = 10.0, measure_seconds: float = 20.0) -> EmulatedDevice:
    """The emulated device for a protocol name; ``ValueError`` if unknown."""
    makers = {
        "cms50d": Cms50dDevice,
        "cms50d-v7": lambda: Cms50dV7Device(keepalive_timeout),
        "nonin2": lambda: NoninDevice(2),
        "nonin7": lambda: NoninDevice(7),
        "nonin8": lambda: NoninDevice(8),
        "masimo": MasimoDevice,
        "nibp-module": lambda: NibpModuleDevice(measure_seconds),
    }
    if protocol not in makers:
        raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(makers)})")
    return makers[protocol]()


class Pty:
    """A raw, non-blocking pseudo-terminal; the slave end is held open so writes never fail for want of a reader."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        """Write what fits; like a real device, bytes nobody reads are lost."""
        with contextlib.suppress(OSError):  # the pty's buffer is full or nobody has it open: the bytes are lost
            os.write(self.master, data)

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class Emulator:
    """Plays ``items`` through an emulated ``protocol`` device on a pseudo-terminal, in a thread."""

    def __init__(
        self,
        protocol: str,
        items: Iterable[Item],
        *,
        speed: float = 1.0,
        link: str | Path | None = None,
        keepalive_timeout: float = 10.0,
        measure_seconds: float = 20.0,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.device = make_device(protocol, keepalive_timeout=keepalive_timeout, measure_seconds=measure_seconds)
        self.items: Iterator[Reading | Condition] = expand(items)  # a device sends its samples one by one
        self.speed = speed
        self.link = Path(link) if link is not None else None
        self.state = DeviceState()
        self.ended = threading.Event()
        self.pty: Pty | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: Reading | Condition | None = None

    @property
    def path(self) -> str:
        """The device path to open: the link if there is one, else the pty's own path."""
        if self.link is not None:
            return str(self.link)
        assert self.pty is not None
        return self.pty.path

    def start(self) -> str:
        """Create the pty and start playing; returns the path to open."""
        self.replug()
        self._thread = threading.Thread(target=self._run, name="serial-emulator", daemon=True)
        self._thread.start()
        return self.path

    def unplug(self) -> None:
        """Close the pty (readers get an I/O error) and remove the link."""
        with self._lock:
            if self.pty is not None:
                self.pty.close()
                self.pty = None
            if self.link is not None and self.link.is_symlink():
                self.link.unlink()

    def replug(self) -> str:
        """Open a new pty (a new path), point the link at it and reset the device's command state."""
        with self._lock:
            if self.pty is not None:
                return self.path
            self.pty = Pty()
            self.device.reset()
            if self.link is not None:
                tmp = self.link.with_name(self.link.name + ".new")
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(self.pty.path)
                tmp.replace(self.link)
            return self.path

    def close(self) -> None:
        """Stop playing and close the pty."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.unplug()

    def _advance(self, t: float) -> None:
        """Apply every item up to session time ``t``."""
        while True:
            if self._next is None:
                self._next = next(self.items, None)
                if self._next is None:
                    self.ended.set()
                    return
            if self._next.t > t:
                return
            self.state.apply(self._next)
            self._next = None

    def _run(self) -> None:
        first = next(self.items, None)
        if first is None:
            self.ended.set()
            return
        self._next = first
        t0, wall0 = first.t, time.monotonic()
        due = t0  # session time of the next frame
        while not self._stop.is_set():
            wall = time.monotonic()
            t = t0 + (wall - wall0) * self.speed
            out = bytearray()
            while self.device.rate and not self.ended.is_set() and due <= t:
                self._advance(due)
                if not self.ended.is_set():
                    out += self.device.frame(self.state, wall)
                due += 1.0 / self.device.rate
            self._advance(t)
            with self._lock:
                pty = self.pty
                if pty is not None:
                    out += self.device.tick(self.state, t)
                    pty.write(bytes(out))
                    data = pty.read()
                    if data:
                        pty.write(self.device.receive(data, self.state, t, wall))
            wait = min(MAX_WAIT, (due - t) / self.speed) if self.device.rate else MAX_WAIT
            self._wait(pty, max(wait, 0.0))

    def _wait(self, pty: Pty | None, timeout: float) -> None:
        """Sleep until ``timeout`` or until the host writes to the device."""
        if pty is None:
            self._stop.wait(timeout)
            return
        try:
            select.select([pty.master], [], [], timeout)
        except (OSError, ValueError):
            self._stop.wait(timeout)
