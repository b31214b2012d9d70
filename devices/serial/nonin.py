"""Nonin serial data formats #2 and #7 (75 frames/s, 25 frames per packet) and #8 (4 bytes/s),
9600 8N1, and the format-select command.

Formats #2 and #7 are framed on the STATUS byte's bit 7 plus the frame checksum; the frame's
position in its packet comes from the SYNC bit of frame 1 and is forgotten whenever a frame is
lost, so a value is never read from the wrong frame. Numerics use the 4-beat averages (frames
1-3), not the display values, which Nonin holds for 10 s after the finger is removed.

A one-byte sum (#2, #7) or no check at all (#8) also passes noise now and then, so every format
reports nothing until a run of frames has arrived back to back (see ``FrameLock``).
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.reading import Item, in_physical_range, reading
from devices.serial.cms50d import spo2_value
from devices.serial.decoder import DecoderState, NumericGate, Skipped, numerics, physical, sync_frames

# Frames in a row before any is reported, at start and after a resync (design proposals).
# #2/#7: one packet (1/3 s at 75 frames/s); noise passes the status bit and the sum about once in 512.
PACKET_LOCK_FRAMES = 25
# #8: six records (6 s at one a second). Noise passes the bit checks once in 16 and the value checks
# (HR and SpO2 physically possible or their no-value codes) about half of the time; measured on random
# bytes, each further record in a run is about 30 times rarer, so six in a row comes about once in
# 1 GB of noise (ten days of it at 9600 baud).
FORMAT8_LOCK_FRAMES = 6
FRAMES_PER_PACKET = 25
FRAME_RATE = 75.0
FORMAT8_PERIOD = 1.0  # seconds between format #8 records
ACK, NAK = 0x06, 0x15
HR_MISSING, SPO2_MISSING = 511, 127

# STATUS bits of formats #2 and #7
S_SENSOR_DISCONNECTED, S_ARTF, S_OOT, S_SNSA, S_RPRF, S_GPRF, S_SYNC = 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
# Frame numbers (1-based) of the FLOAT bytes used here
F_HR_MSB, F_HR_LSB, F_SPO2, F_STAT2 = 1, 2, 3, 8


def format_select(fmt: int) -> bytes:
    """The command that switches a Nonin device to data format ``fmt`` (answered ACK 06 / NAK 15)."""
    return bytes((0x02, 0x70, 0x02, 0x02, fmt, 0x03))


def parse_format_select(data: bytes) -> int | None:
    """The format a format-select command asks for, or ``None`` if ``data`` is not one."""
    if len(data) == 6 and data[:4] == b"\x02\x70\x02\x02" and data[5] == 0x03:
        return data[4]
    return None


def hr_value(msb: int, lsb: int) -> int | None:
    """HR from its two 7-bit halves (HR8..HR7 in ``msb`` bits 1-0); ``None`` for 511 (and 0)."""
    hr = ((msb & 0x03) << 7) | (lsb & 0x7F)
    return None if hr in (0, HR_MISSING) else hr


def checksum(frame: bytes | bytearray) -> int:
    return sum(frame[:4]) & 0xFF


@dataclass(frozen=True, slots=True)
class PacketFrame:
    """One frame of a format #2/#7 packet."""

    status: int
    pleth: int
    float_byte: int


def encode_frame(fmt: int, f: PacketFrame) -> bytes:
    """The 5 bytes of one format #2 (8-bit pleth) or #7 (16-bit pleth) frame."""
    status = 0x80 | f.status
    head = (
        bytes((0x01, status, f.pleth & 0xFF, f.float_byte))
        if fmt == 2
        else bytes((status, (f.pleth >> 8) & 0xFF, f.pleth & 0xFF, f.float_byte))
    )
    return head + bytes((checksum(head),))


def float_byte(number: int, hr: int | None, spo2: int | None, low_battery: bool) -> int:
    """The FLOAT byte of frame ``number`` (1-25) carrying HR, SpO2 and STAT2 (others 0)."""
    hr_raw = HR_MISSING if hr is None else hr
    return {
        F_HR_MSB: hr_raw >> 7,
        F_HR_LSB: hr_raw & 0x7F,
        F_SPO2: SPO2_MISSING if spo2 is None else spo2,
        F_STAT2: int(low_battery),
    }.get(number, 0)


class NoninPacketDecoder(DecoderState):
    """Streaming decoder for format #2 (``fmt=2``) or #7 (``fmt=7``)."""

    def __init__(self, fmt: int = 2, source: str = "nonin", lock: int = PACKET_LOCK_FRAMES) -> None:
        if fmt not in (2, 7):
            raise ValueError("format must be 2 or 7")
        super().__init__(source, lock)
        self.fmt = fmt
        self.number: int | None = None  # 1-based frame number in the packet, None until SYNC
        self.floats: dict[int, int] = {}
        self.pulse: dict[str, str | None] = {"low_perfusion": None, "motion": None}
        self.gate = NumericGate(source)

    def feed(self, chunk: bytes, t: float) -> list[Item]:
        buf = self.buf
        buf += chunk
        out: list[Item] = []
        while len(buf) >= 5:
            if self._frame_at_start():
                frame = bytes(buf[:5])
                del buf[:5]
                out += self.take(frame, t)
            else:
                out += self.take(self._skipped_byte(), t)
        return out

    def _frame_at_start(self) -> bool:
        b = self.buf
        if self.fmt == 2:
            return bool(b[0] == 0x01 and b[1] & 0x80 and checksum(b) == b[4])
        return bool(b[0] & 0x80 and checksum(b) == b[4])

    def _skipped_byte(self) -> Skipped:
        b = self.buf
        status = b[1] if self.fmt == 2 else b[0]
        lead = b[0] == 0x01 if self.fmt == 2 else True
        problem = f"checksum 0x{b[4]:02X} != 0x{checksum(b):02X}" if lead and status & 0x80 else "bytes before a frame"
        del b[:1]
        return Skipped(1, problem)

    def resync(self) -> None:
        self.number = None
        self.floats.clear()

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        b = frame
        f = PacketFrame(b[1], b[2], b[3]) if self.fmt == 2 else PacketFrame(b[0], (b[1] << 8) | b[2], b[3])
        self._place(f)
        s = f.status
        if s & (S_RPRF | S_GPRF):  # pulse frames carry the perfusion and artifact flags
            red_only = s & S_RPRF and not s & S_GPRF
            self.pulse = {"low_perfusion": "red perfusion" if red_only else None, "motion": "artifact" if s & S_ARTF else None}
        flags = {
            "sensor_disconnected": "sensor disconnected" if s & S_SENSOR_DISCONNECTED else None,
            "sensor_off": "sensor alarm (SNSA)" if s & S_SNSA else None,
            "poor_signal": "out of track" if s & S_OOT else None,
            **self.pulse,
        }
        if self.number == F_STAT2:
            flags["low_battery"] = "low battery" if f.float_byte & 0x01 else None
        out: list[Item] = list(self.edges.update(t, flags))
        out.append(reading(t, "pleth", f.pleth, self.source))
        if self.number == F_SPO2 and {F_HR_MSB, F_HR_LSB} <= self.floats.keys():
            hr = hr_value(self.floats[F_HR_MSB], self.floats[F_HR_LSB])
            out += numerics(self.gate, t, (("spo2", spo2_value(f.float_byte & 0x7F)), ("pr", hr)))
        return out

    def _place(self, f: PacketFrame) -> None:
        """Track the frame's number in its packet and keep its FLOAT byte."""
        if f.status & S_SYNC:
            self.number = 1
            self.floats.clear()
        elif self.number is not None:
            self.number = self.number + 1 if self.number < FRAMES_PER_PACKET else None
        if self.number is not None:
            self.floats[self.number] = f.float_byte


@dataclass(frozen=True, slots=True)
class Format8:
    """One format #8 record; ``None`` is the device's no-value code."""

    hr: int | None
    spo2: int | None
    oot: bool = False
    low_perfusion: bool = False
    marginal_perfusion: bool = False
    artifact: bool = False
    sensor_alarm: bool = False
    low_battery: bool = False


def parse_format8(b: bytes) -> Format8:
    s = b[0]
    return Format8(
        hr=hr_value(s, b[1]),
        spo2=spo2_value(b[2] & 0x7F),
        oot=bool(s & 0x20),
        low_perfusion=bool(s & 0x10),
        marginal_perfusion=bool(s & 0x08),
        artifact=bool(s & 0x04),
        sensor_alarm=bool(b[3] & 0x08),
        low_battery=bool(b[3] & 0x01),
    )


def encode_format8(r: Format8) -> bytes:
    """The 4 bytes a device sends each second in format #8."""
    hr = HR_MISSING if r.hr is None else r.hr
    spo2 = SPO2_MISSING if r.spo2 is None else r.spo2
    s = 0x80 | (0x20 * r.oot) | (0x10 * r.low_perfusion) | (0x08 * r.marginal_perfusion) | (0x04 * r.artifact) | (hr >> 7)
    return bytes((s, hr & 0x7F, spo2 & 0x7F, (0x08 * r.sensor_alarm) | int(r.low_battery)))


def plausible_format8(b: bytes) -> bool:
    """Whether a framed record's HR and SpO2 are each a possible value or the no-value code (a record
    framed out of noise often is not)."""
    hr = ((b[0] & 0x03) << 7) | (b[1] & 0x7F)
    spo2 = b[2] & 0x7F
    return (hr == HR_MISSING or in_physical_range("pr", hr)) and (spo2 == SPO2_MISSING or in_physical_range("spo2", spo2))


class NoninFormat8Decoder(DecoderState):
    """Streaming decoder for format #8 (framed on the STATUS byte's bit 7; no checksum): a record
    with an impossible HR or SpO2 code counts as a framing error."""

    def __init__(self, source: str = "nonin8", lock: int = FORMAT8_LOCK_FRAMES) -> None:
        super().__init__(source, lock)

    def feed(self, chunk: bytes, t: float) -> list[Item]:
        self.buf += chunk
        out: list[Item] = []
        for piece in sync_frames(self.buf, 4):
            if isinstance(piece, bytes) and not plausible_format8(piece):
                piece = Skipped(len(piece), "record with an impossible HR or SpO2 code")
            out += self.take(piece, t)
        return out

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        r = parse_format8(frame)
        flags = {
            "sensor_off": "sensor alarm (SNSA)" if r.sensor_alarm else None,
            "poor_signal": "out of track" if r.oot else None,
            "low_perfusion": "low perfusion" if r.low_perfusion else None,
            "motion": "artifact" if r.artifact else None,
            "low_battery": "low battery" if r.low_battery else None,
        }
        return [
            *self.edges.update(t, flags),
            physical(t, "spo2", r.spo2, self.source),
            physical(t, "pr", r.hr, self.source),
        ]
