"""Wellue / Viatom BLE pulse oximeters: pure streaming decoders (CRC-8 checked) and the commands they need.

Three protocols (device-protocols §5 reconnect rules apply to all, see ``wellue_source``):

- ``o2ring``: the O2Ring family's "Oxy" protocol (O2Ring, Checkme O2, SleepO2, KidsO2...), service
  ``14839ac4-...``. The host polls with READ_SENSORS (0x17) as ``AA 17 E8 00 00 00 00 1B``; the reply is
  ``55 status ~status block(2) len(2) payload crc`` with CRC-8 (polynomial 0x07) over the frame. Payload:
  SpO2, pulse rate (u16), steps (u32), battery %, charging, motion, PI x10, state (bit 0: finger in).
  Sources: MackeyStingray/o2r ``o2r/o2pkt.py``, ``o2r/o2state.py``; ecostech/viatom-ble; Viatom's LepuBle
  ``OxyBleResponse.RtParam`` (PI shown divided by 10 in its demo app).
- ``oxyii``: the O2Ring S (T8520) "OxyII" protocol, service ``e8fb0001-...``. Frames ``A5 cmd ~cmd flag seq
  len(2) payload crc`` (flag 0 request, 1 reply; CRC-8 polynomial 0x07). After an AUTH (0xFF, MD5("lepucloud")
  scheme) and SETUP (0x10) the host polls LIVE_SAMPLES_B (0x04): header byte 5 contact (0 = no finger),
  6 SpO2, 7 motion, 8 pulse rate, 13 battery. Source: nglessner/o2ring-s-protocol (README, verified on a
  T8520) and home-health-hub/viatom-o2ring-ble ``oxyii_protocol.py``.
- ``pc60fw``: the PC-60FW fingertip oximeter (and PC-60NW, OxySmart, POD-1) over the Nordic UART service; it
  streams without being asked: ``AA 55 token len type payload crc`` with CRC-8/MAXIM (reflected 0x31) over
  the frame. Token 0x0F type 0x01: SpO2, pulse rate (u16), PI x10, status (bit 1 probe off, bit 2 searching,
  bit 3 check probe), battery; type 0x02: five pleth samples (7 bits); token 0xF0 type 0x03: battery level
  0-3. Zero is "no value" for SpO2, pulse rate and PI. Sources: sza2/viatom_pc60fw README; Viatom's LepuBle
  ``PC60FwBleResponse`` and LepuDemo README.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from devices.decoding import DecodeFormat
from devices.reading import Item, reading
from devices.serial.decoder import DecoderState, Skipped, StreamDecoder, decode_all, physical

OXIMETER_VITALS = ("spo2", "pr", "pi")
PLETH_HZ = 50  # PC-60FW waveform rate (LepuDemo README: "frequency 50HZ")
LOW_BATTERY_PERCENT = 10  # design proposal: a ring at 10 % or less is about to stop
MAX_PAYLOAD = 1024  # design proposal: live replies are under 100 bytes; anything far larger is not a frame


def crc8(data: bytes, poly: int = 0x07) -> int:
    """CRC-8, MSB first, init 0 (polynomial 0x07: the O2Ring and OxyII checksum; check value 0xF4)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc8_maxim(data: bytes) -> int:
    """CRC-8/MAXIM (Dallas 1-Wire: reflected polynomial 0x31, init 0; check value 0xA1): the PC-60FW checksum."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


# ---------------------------------------------------------------- commands


def o2ring_request(cmd: int, payload: bytes = b"", block: int = 0) -> bytes:
    """A legacy O2Ring request: ``AA cmd ~cmd block len payload crc``."""
    body = bytes((0xAA, cmd, cmd ^ 0xFF)) + block.to_bytes(2, "little") + len(payload).to_bytes(2, "little") + payload
    return body + bytes((crc8(body),))


def oxyii_frame(cmd: int, payload: bytes = b"", seq: int = 0) -> bytes:
    """An OxyII request: ``A5 cmd ~cmd 00 seq len payload crc``."""
    body = bytes((0xA5, cmd, cmd ^ 0xFF, 0x00, seq & 0xFF)) + len(payload).to_bytes(2, "little") + payload
    return body + bytes((crc8(body),))


LEPUCLOUD = hashlib.md5(b"lepucloud").digest()


def oxyii_auth(now: float, serial: str = "0000") -> bytes:
    """The OxyII AUTH frame (0xFF, no reply): a key of MD5("lepucloud")'s even bytes, four serial characters and
    the time shifted by 0-3 bits (as the vendor does), XOR MD5("lepucloud"). "0000" is accepted for any ring."""
    ts = int(now)
    key = bytes(LEPUCLOUD[i * 2] for i in range(8)) + serial[:4].encode("ascii") + bytes((ts >> n) & 0xFF for n in range(4))
    return oxyii_frame(0xFF, bytes(a ^ b for a, b in zip(key, LEPUCLOUD)))


READ_SENSORS = o2ring_request(0x17)
OXYII_SETUP = oxyii_frame(0x10, b"\x00")
OXYII_LIVE = oxyii_frame(0x04, b"", seq=1)


# ---------------------------------------------------------------- framing


def frames(
    buf: bytearray, sync: bytes, header: int, total: Callable[[bytes], int | None], valid: Callable[[bytes], bool]
) -> Iterator[bytes | Skipped]:
    """Remove complete frames from ``buf``, with the bytes dropped between them. ``total`` gives a frame's
    length from its first ``header`` bytes (``None``: not a frame here); ``valid`` checks its CRC."""
    while buf:
        start = buf.find(sync)
        if start != 0:
            keep = len(sync) - 1 if start < 0 else 0  # a sync may be split across notifications
            dropped = len(buf) - keep if start < 0 else start
            if dropped <= 0:
                return
            del buf[:dropped]
            yield Skipped(dropped, "bytes before a frame start")
            continue
        if len(buf) < header:
            return
        size = total(bytes(buf[:header]))
        if size is None:
            del buf[:1]
            yield Skipped(1, "not a frame header")
            continue
        if len(buf) < size:
            return
        frame = bytes(buf[:size])
        if not valid(frame):
            del buf[:1]
            yield Skipped(1, "CRC mismatch")
            continue
        del buf[:size]
        yield frame


def _complemented(head: bytes) -> bool:
    return head[1] ^ head[2] == 0xFF


def _length(head: bytes) -> int | None:
    size = int.from_bytes(head[5:7], "little")
    return 7 + size + 1 if _complemented(head) and size <= MAX_PAYLOAD else None


def _crc_ok(frame: bytes) -> bool:
    return crc8(frame[:-1]) == frame[-1]


class _WellueDecoder(DecoderState, ABC):
    """What the three decoders share: their frames through ``frames``, readings as no value while the
    finger is out, and conditions as edges."""

    sync = b""
    header = 0

    def feed(self, chunk: bytes, t: float) -> list[Item]:
        self.buf += chunk
        return [i for piece in frames(self.buf, self.sync, self.header, self.total, self.valid) for i in self.take(piece, t)]

    @abstractmethod
    def total(self, head: bytes) -> int | None:
        """The whole frame's length from its first ``header`` bytes (None: not a frame start)."""

    def valid(self, frame: bytes) -> bool:
        return _crc_ok(frame)

    def oximetry(self, t: float, finger: bool, values: dict[str, float | None], flags: dict[str, str | None]) -> list[Item]:
        """The condition edges and readings of one frame; every value is "no value" without a finger."""
        out: list[Item] = list(self.edges.update(t, flags, OXIMETER_VITALS))
        return out + [physical(t, vital, value if finger else None, self.source) for vital, value in values.items()]


class O2RingDecoder(_WellueDecoder):
    """Replies of the legacy O2Ring protocol to READ_SENSORS."""

    sync = b"\x55"
    header = 7

    def total(self, head: bytes) -> int | None:
        return _length(head)

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        status, p = frame[1], frame[7:-1]
        if status != 0 or len(p) < 12:
            self.problem = f"reply with status {status} and {len(p)} payload bytes is not a reading"
            return []
        finger = bool(p[11] & 0x01)
        spo2, pr, battery, pi = p[0], int.from_bytes(p[1:3], "little"), p[7], p[10]
        flags = {
            "sensor_off": None if finger else "finger out of the ring",
            "searching": "no reading yet" if finger and spo2 in (0, 0xFF) and pr in (0, 0xFFFF) else None,
            "low_battery": f"battery {battery} %" if battery <= LOW_BATTERY_PERCENT else None,
        }
        values = {
            "spo2": spo2 if spo2 not in (0, 0xFF) else None,
            "pr": pr if pr not in (0, 0xFF, 0xFFFF) else None,
            "pi": pi / 10 if pi else None,
        }
        return self.oximetry(t, finger, values, flags)


class OxyIIDecoder(_WellueDecoder):
    """LIVE_SAMPLES_B replies of the O2Ring S (other replies are acknowledgements, not readings)."""

    sync = b"\xa5"
    header = 7

    def total(self, head: bytes) -> int | None:
        return _length(head) if head[3] == 0x01 else None  # flag 1: a reply from the ring

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        cmd, p = frame[1], frame[7:-1]
        if cmd != 0x04:
            return []
        if len(p) < 24:
            self.problem = f"live reply of {len(p)} bytes, shorter than its 24-byte header"
            return []
        finger = p[5] != 0
        spo2, pr, battery = p[6], p[8], p[13]
        flags = {
            "sensor_off": None if finger else "finger out of the ring",
            "searching": "no reading yet" if finger and spo2 == 0 and pr == 0 else None,
            "low_battery": f"battery {battery} %" if battery <= LOW_BATTERY_PERCENT else None,
        }
        return self.oximetry(t, finger, {"spo2": spo2 or None, "pr": pr if pr not in (0, 0xFF) else None}, flags)


class Pc60fwDecoder(_WellueDecoder):
    """The PC-60FW's stream: parameters once a second, pleth at 50 Hz, battery level."""

    sync = b"\xaa\x55"
    header = 4

    def total(self, head: bytes) -> int | None:
        return 4 + head[3] if head[2] in (0x0F, 0xF0) and head[3] >= 2 else None

    def valid(self, frame: bytes) -> bool:
        return crc8_maxim(frame[:-1]) == frame[-1]

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        token, kind, p = frame[2], frame[4], frame[5:-1]
        if token == 0x0F and kind == 0x01 and len(p) >= 5:
            status = p[4]
            probe_off = bool(status & 0x02)
            flags = {
                "sensor_off": "probe off or no finger" if probe_off else None,
                "searching": "searching for a pulse" if status & 0x04 and not probe_off else None,
                "probe_error": "check the probe" if status & 0x08 else None,
            }
            values = {"spo2": p[0] or None, "pr": int.from_bytes(p[1:3], "little") or None, "pi": p[3] / 10 if p[3] else None}
            return self.oximetry(t, not probe_off, values, flags)
        if token == 0x0F and kind == 0x02:
            n = len(p)
            return [reading(t - (n - 1 - i) / PLETH_HZ, "pleth", b & 0x7F, self.source) for i, b in enumerate(p)]
        if token == 0xF0 and kind == 0x03 and p:
            return list(self.edges.update(t, {"low_battery": "battery below 25 %" if p[0] == 0 else None}))
        return []


@dataclass(frozen=True, slots=True)
class WellueProtocol:
    """One protocol as the bleak source drives it: its GATT service and characteristics, decoder, what to
    write after subscribing, and the poll command and period (none for a device that streams)."""

    name: str
    label: str
    service: str
    notify: str
    write: str
    decoder: Callable[[str], StreamDecoder]
    names: tuple[str, ...]  # advertised name prefixes
    handshake: Callable[[float], list[bytes]] = lambda _now: []
    poll: bytes = b""
    period: float = 1.0  # design proposal: the vendor app asks about once a second


PROTOCOLS: dict[str, WellueProtocol] = {
    p.name: p
    for p in (
        WellueProtocol(
            "o2ring",
            "Wellue O2Ring (Oxy protocol)",
            "14839ac4-7d7e-415c-9a42-167340cf2339",
            "0734594a-a8e7-4b1a-a6b1-cd5243059a57",
            "8b00ace7-eb0b-49b0-bbe9-9aee0a26e1a3",
            O2RingDecoder,
            ("O2Ring", "Checkme O2", "SleepO2", "KidsO2", "O2M", "Oxylink", "CMRing"),
            poll=READ_SENSORS,
        ),
        WellueProtocol(
            "oxyii",
            "Wellue O2Ring S (OxyII protocol)",
            "e8fb0001-a14b-98f9-831b-4e2941d01248",
            "e8fb0003-a14b-98f9-831b-4e2941d01248",
            "e8fb0002-a14b-98f9-831b-4e2941d01248",
            OxyIIDecoder,
            ("S8-AW", "T8520"),
            handshake=lambda now: [oxyii_auth(now), OXYII_SETUP],
            poll=OXYII_LIVE,
        ),
        WellueProtocol(
            "pc60fw",
            "Wellue/Viatom PC-60FW (Nordic UART)",
            "6e400001-b5a3-f393-e0a9-e50e24dcca9e",
            "6e400003-b5a3-f393-e0a9-e50e24dcca9e",
            "6e400002-b5a3-f393-e0a9-e50e24dcca9e",
            Pc60fwDecoder,
            ("PC-60F", "PC-60NW", "OxySmart", "POD-1"),
        ),
    )
}


def protocol_for(name: str, services: tuple[str, ...] = ()) -> WellueProtocol | None:
    """The protocol a device speaks, by an advertised service or name prefix (``kapmon scan``)."""
    offered = {s.lower() for s in services}
    return next((p for p in PROTOCOLS.values() if p.service in offered or name.startswith(p.names)), None)


def _one_shot(make: Callable[[str], StreamDecoder], what: str) -> Callable[[bytes | str], list[Item]]:
    def decode(data: bytes | str) -> list[Item]:
        raw = data if isinstance(data, bytes) else data.encode("latin-1")
        return decode_all(make("wellue"), raw, what)

    return decode


FORMATS: dict[str, DecodeFormat] = {
    f.name: f
    for f in (
        DecodeFormat(
            "wellue-o2ring", "hex", "Wellue O2Ring READ_SENSORS reply (55 ... CRC-8)", _one_shot(O2RingDecoder, "O2Ring reply")
        ),
        DecodeFormat(
            "wellue-oxyii", "hex", "Wellue O2Ring S (OxyII) reply (A5 ... CRC-8)", _one_shot(OxyIIDecoder, "OxyII reply")
        ),
        DecodeFormat(
            "wellue-pc60fw",
            "hex",
            "Wellue/Viatom PC-60FW frames (AA 55 ... CRC-8/MAXIM)",
            _one_shot(Pc60fwDecoder, "PC-60FW frame"),
        ),
    )
}
