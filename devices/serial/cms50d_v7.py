"""Contec CMS50D+/CMS50E generation B: "Communication protocol of pulse oximeter V7.0"
(115200 baud, real-time packets at 60 Hz after the start command, kept alive by keep-alives).

A packet is a type byte (bit 7 clear), a byte of high bits (bit 7 set; bit i = bit 7 of data
byte i) and data bytes sent with bit 7 forced on. There is no checksum: a packet is valid when
it has its type's length and only its first byte has bit 7 clear, and nothing is reported until
``LOCK_FRAMES`` packets have arrived back to back (see ``FrameLock``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from devices.reading import Item, reading
from devices.serial.cms50d import pr_value, spo2_value
from devices.serial.decoder import DecoderState, NumericGate, Skipped, numerics

REALTIME = 0x01
DISCONNECT_NOTICE = 0x0D
COMMAND = 0x7D

# Packet lengths (type + high bits + data) of the types decoded here; other types are skipped.
DEVICE_LENGTHS = {REALTIME: 9, DISCONNECT_NOTICE: 3}  # 0x0D carries one reason byte [unverified]
HOST_LENGTHS = {COMMAND: 9}

START, STOP, KEEPALIVE = 0xA1, 0xA2, 0xAF
PI_MISSING = 0xFFFF
MAX_UNKNOWN = 64  # an unknown packet longer than this is treated as garbage
# Packets in a row before any is reported, at start and after a resync. Design proposal: half a
# second at 60 packets/s (noise makes a real-time packet about once in 65,000 bytes).
LOCK_FRAMES = 30


def encode_packet(kind: int, data: bytes) -> bytes:
    """A packet: type, high bits, then the data bytes with bit 7 forced on."""
    hi = 0x80 | sum(1 << i for i, b in enumerate(data) if b & 0x80)
    return bytes((kind & 0x7F, hi)) + bytes(b | 0x80 for b in data)


def command(cmd: int) -> bytes:
    """The 9-byte host command ``7D 81 <cmd> 80 80 80 80 80 80``."""
    return encode_packet(COMMAND, bytes((cmd,)) + bytes(6))


def unpack(packet: bytes) -> bytes:
    """The data bytes of a framed packet, with their bit 7 restored from the high-bits byte."""
    hi = packet[1]
    return bytes((b & 0x7F) | (0x80 if hi & (1 << i) else 0) for i, b in enumerate(packet[2:]))


def packets(buf: bytearray, lengths: dict[int, int]) -> Iterator[bytes | Skipped]:
    """Remove complete packets of the types in ``lengths`` from ``buf``, in order with the bytes
    dropped between them (garbage, malformed or unknown packets). An incomplete packet stays."""
    while buf:
        if buf[0] & 0x80:
            n = next((i for i, b in enumerate(buf) if not b & 0x80), len(buf))
            del buf[:n]
            yield Skipped(n, "bytes before a packet type")
            continue
        end = next((i for i in range(1, len(buf)) if not buf[i] & 0x80), None)
        need = lengths.get(buf[0])
        if need is None:
            if end is None and len(buf) <= MAX_UNKNOWN:
                return
            n = end if end is not None else len(buf)
            problem = f"packet type 0x{buf[0]:02X} not decoded"
            del buf[:n]
            yield Skipped(n, problem)
            continue
        if end is not None and end < need:
            problem = f"packet type 0x{buf[0]:02X} cut short after {end} bytes"
            del buf[:end]
            yield Skipped(end, problem)
            continue
        if len(buf) < need:
            return
        packet = bytes(buf[:need])
        del buf[:need]
        yield packet


@dataclass(frozen=True, slots=True)
class Realtime:
    """One real-time packet; ``None`` is the device's no-value code."""

    pleth: int
    pr: int | None
    spo2: int | None
    pi: float | None
    pi_reported: bool
    sensor_off: bool
    searching: bool
    probe_error: bool
    signal: int


def parse_realtime(d: bytes) -> Realtime:
    """Decode the 7 data bytes of a real-time packet. PI is in 1/100 % [scaling unverified]."""
    pi_raw = d[5] | (d[6] << 8)
    return Realtime(
        pleth=d[1] & 0x7F,
        pr=pr_value(d[3]),
        spo2=spo2_value(d[4]),
        pi=None if pi_raw == PI_MISSING or not d[2] & 0x10 else pi_raw / 100,
        pi_reported=pi_raw == PI_MISSING or bool(d[2] & 0x10),
        sensor_off=bool(d[0] & 0x10),
        searching=bool(d[1] & 0x80),
        probe_error=bool(d[0] & 0x80),
        signal=d[0] & 0x0F,
    )


def encode_realtime(p: Realtime) -> bytes:
    """The 9-byte real-time packet a device sends for ``p``."""
    pi = PI_MISSING if p.pi is None else round(p.pi * 100)
    d0 = (p.signal & 0x0F) | (0x10 * p.sensor_off) | (0x80 * p.probe_error)
    d1 = (p.pleth & 0x7F) | (0x80 * p.searching)
    d2 = 0x10 * (p.pi is not None)
    pr = 0xFF if p.pr is None else p.pr
    spo2 = 0x7F if p.spo2 is None else p.spo2
    return encode_packet(REALTIME, bytes((d0, d1, d2, pr, spo2, pi & 0xFF, pi >> 8)))


class Cms50dV7Decoder(DecoderState):
    """Streaming decoder for V7.0 packets from the device."""

    def __init__(self, source: str = "cms50d-v7", lock: int = LOCK_FRAMES) -> None:
        super().__init__(source, lock)
        self.gate = NumericGate(source)

    def feed(self, chunk: bytes, t: float) -> list[Item]:
        self.buf += chunk
        return [item for piece in packets(self.buf, DEVICE_LENGTHS) for item in self.take(piece, t)]

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        data = unpack(frame)
        if frame[0] == REALTIME:
            return self._items(parse_realtime(data), t)
        return list(self.edges.update(t, {"disconnected": f"device disconnect notice, reason {data[0]}"}))

    def _items(self, p: Realtime, t: float) -> list[Item]:
        out: list[Item] = list(
            self.edges.update(
                t,
                {
                    "sensor_off": "finger out / searching too long" if p.sensor_off else None,
                    "searching": "searching for a pulse" if p.searching else None,
                    "probe_error": "probe error" if p.probe_error else None,
                    "disconnected": None,
                },
            )
        )
        out.append(reading(t, "pleth", p.pleth, self.source))
        values: list[tuple[str, float | None]] = [("spo2", p.spo2), ("pr", p.pr)]
        if p.pi_reported:
            values.append(("pi", p.pi))
        out += numerics(self.gate, t, values)
        return out
