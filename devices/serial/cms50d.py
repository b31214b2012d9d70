"""Contec CMS50D+/CMS50E generation A: the 5-byte sync-bit stream (19200 baud, 60 frames/s).

Only byte 1 of a frame has bit 7 set; there is no checksum, so a frame is valid when its
first byte has bit 7 set and the next four do not, and nothing is reported until ``LOCK_FRAMES``
such frames have arrived back to back (see ``FrameLock``).
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.reading import Item, reading
from devices.serial.decoder import DecoderState, NumericGate, numerics, sync_frames

FRAME_LEN = 5
SYNC = 0x80
# Frames in a row before any is reported, at start and after a resync. Design proposal: half a
# second at 60 frames/s; random bytes pass one frame check in 32, so 30 in a row by chance is
# about 32**-29 (none in gigabytes of noise), while a real stream loses only the wait.
LOCK_FRAMES = 30


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded 5-byte frame; ``None`` is the device's no-value code."""

    pleth: int
    pr: int | None
    spo2: int | None
    sensor_off: bool
    searching: bool
    probe_error: bool
    beep: bool
    signal: int


def spo2_value(raw: int) -> int | None:
    """SpO2 %, or ``None`` for the no-value code 127 (and 0 or anything above 100)."""
    return raw if 0 < raw <= 100 else None


def pr_value(raw: int) -> int | None:
    """Pulse rate /min, or ``None`` for the no-value code 255 (and 0)."""
    return raw if 0 < raw < 255 else None


def parse_frame(f: bytes) -> Frame:
    """Decode one framed 5-byte frame (sync already checked)."""
    return Frame(
        pleth=f[1] & 0x7F,
        pr=pr_value(((f[2] & 0x40) << 1) | (f[3] & 0x7F)),
        spo2=spo2_value(f[4] & 0x7F),
        sensor_off=bool(f[0] & 0x10),
        searching=bool(f[2] & 0x20),
        probe_error=bool(f[2] & 0x10),
        beep=bool(f[0] & 0x40),
        signal=f[0] & 0x0F,
    )


def encode_frame(frame: Frame) -> bytes:
    """The 5 bytes a generation-A device sends for ``frame`` (no value: PR 255, SpO2 127)."""
    pr = 255 if frame.pr is None else frame.pr
    spo2 = 127 if frame.spo2 is None else frame.spo2
    b1 = SYNC | (0x40 * frame.beep) | (0x10 * frame.sensor_off) | (frame.signal & 0x0F)
    b3 = ((pr & 0x80) >> 1) | (0x20 * frame.searching) | (0x10 * frame.probe_error)
    return bytes((b1, frame.pleth & 0x7F, b3, pr & 0x7F, spo2 & 0x7F))


class Cms50dDecoder(DecoderState):
    """Streaming decoder for generation-A frames; resynchronises on the sync bit."""

    def __init__(self, source: str = "cms50d", lock: int = LOCK_FRAMES) -> None:
        super().__init__(source, lock)
        self.gate = NumericGate(source)

    def feed(self, chunk: bytes, t: float) -> list[Item]:
        self.buf += chunk
        return [item for piece in sync_frames(self.buf, FRAME_LEN) for item in self.take(piece, t)]

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        f = parse_frame(frame)
        out: list[Item] = list(
            self.edges.update(
                t,
                {
                    "sensor_off": "finger out / searching too long" if f.sensor_off else None,
                    "searching": "searching for a pulse" if f.searching else None,
                    "probe_error": "probe error" if f.probe_error else None,
                },
            )
        )
        out.append(reading(t, "pleth", f.pleth, self.source))
        out += numerics(self.gate, t, (("spo2", f.spo2), ("pr", f.pr)))
        return out
