"""Masimo Radical-7 / Radical-5 / Rad-8 "ASCII 1" serial output: one CR LF line per second, 9600 8N1.

A line is ``MM/DD/YY HH:MM:SS`` followed by ``KEY=VALUE`` fields. Unavailable values are
dashes (``--``, ``--.-``, ``+--``: the second character is ``-``). ``ALARM`` and ``EXC`` are
hexadecimal bitmasks; each set bit is mapped to a condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from devices.errors import DecodeError
from devices.reading import Item
from devices.serial.decoder import DecoderState, physical

MAX_LINE = 512
LINE = re.compile(r"(\d\d/\d\d/\d\d\s+\d\d:\d\d:\d\d)\s+(.*)")
FIELD = re.compile(r"([A-Z][A-Z0-9]*)=(\S*)")

ALARM_BITS: dict[int, tuple[str | None, str]] = {
    0x0001: ("device_alarm", "SpO2 high"),
    0x0002: ("device_alarm", "SpO2 low"),
    0x0004: ("device_alarm", "PR high"),
    0x0008: ("device_alarm", "PR low"),
    0x0010: ("device_alarm", "alarm active"),
    0x0020: (None, "alarm silenced"),
    0x0040: ("low_battery", "low battery"),
    0x0100: ("device_alarm", "SpCO high"),
    0x0200: ("device_alarm", "SpCO low"),
    0x0400: ("device_alarm", "SpMet high"),
    0x0800: ("device_alarm", "SpMet low"),
    0x1000: ("device_alarm", "desat index"),
    0x2000: ("device_alarm", "PI rate of change"),
}

EXC_BITS: dict[int, tuple[str | None, str]] = {
    0x000001: ("sensor_disconnected", "no sensor"),
    0x000002: ("sensor_fault", "defective sensor"),
    0x000004: ("low_perfusion", "low perfusion"),
    0x000008: ("searching", "pulse search"),
    0x000010: ("interference", "interference"),
    0x000020: ("sensor_off", "sensor off"),
    0x000040: ("interference", "ambient light"),
    0x000080: ("sensor_fault", "unrecognized sensor"),
    0x000100: ("sensor_fault", "incompatible sensor"),
    0x000400: ("poor_signal", "low signal IQ"),
    0x000800: (None, "Masimo SET"),
    0x001000: ("sensor_disconnected", "no cable"),
    0x002000: ("sensor_fault", "cable life expired"),
    0x004000: ("sensor_fault", "incompatible cable"),
    0x008000: ("sensor_fault", "unrecognized cable"),
    0x010000: ("sensor_fault", "defective cable"),
    0x020000: (None, "sensor calibrating"),
    0x040000: ("sensor_fault", "sensor life expired"),
    0x080000: ("sensor_fault", "emitter temperature out of range"),
    0x100000: ("sensor_fault", "sensor current limit"),
    0x200000: (None, "SpCO low confidence"),
    0x400000: (None, "SpMet low confidence"),
}

CONDITION_NAMES = sorted({name for name, _ in (*ALARM_BITS.values(), *EXC_BITS.values()) if name})


@dataclass(frozen=True, slots=True)
class Line:
    """One decoded line; ``None`` is a dashed (unavailable) value."""

    spo2: float | None
    pr: float | None
    pi: float | None
    has_pi: bool
    alarm: int
    exc: int


def value(raw: str) -> float | None:
    """A numeric field (``098%``, ``11.82%``, ``-02``); ``None`` for dashes; ``ValueError`` otherwise."""
    raw = raw.rstrip("%")
    if len(raw) > 1 and raw[1] == "-" or raw and set(raw) <= set("-.+"):
        return None
    return float(raw)


def parse_line(text: str) -> Line:
    """Decode one line (without CR LF); ``DecodeError`` says what is wrong."""
    m = LINE.search(text)
    if m is None:
        raise DecodeError("no MM/DD/YY HH:MM:SS timestamp")
    fields = dict(FIELD.findall(m.group(2)))
    missing = [k for k in ("SPO2", "BPM") if k not in fields]
    if missing:
        raise DecodeError(f"missing {', '.join(missing)} (set the device to ASCII 1 output)")
    try:
        return Line(
            spo2=value(fields["SPO2"]),
            pr=value(fields["BPM"]),
            pi=value(fields["PI"]) if "PI" in fields else None,
            has_pi="PI" in fields,
            alarm=int(fields.get("ALARM", "0"), 16),
            exc=int(fields.get("EXC", "0"), 16),
        )
    except ValueError as exc:
        raise DecodeError(f"bad field value: {exc}") from None


def conditions(mask: int, bits: dict[int, tuple[str | None, str]]) -> dict[str, list[str]]:
    """Condition name -> meanings of the set bits of ``mask`` that map to it."""
    out: dict[str, list[str]] = {}
    for bit, (name, meaning) in bits.items():
        if name and mask & bit:
            out.setdefault(name, []).append(meaning)
    return out


def encode_line(when: datetime, line: Line, serial_number: str = "0000000000") -> bytes:
    """A Radical-7 style ASCII 1 line for ``line`` (dashes for no value), CR LF terminated."""

    def fmt(v: float | None, spec: str, dashes: str) -> str:
        return dashes if v is None else format(v, spec)

    return (
        f"{when:%m/%d/%y %H:%M:%S} SN={serial_number} SPO2={fmt(line.spo2, '03.0f', '---')}% "
        f"BPM={fmt(line.pr, '03.0f', '---')} PI={fmt(line.pi, '05.2f', '--.--')}% SPCO=--.-% SPMET=--.-% "
        f"DESAT=-- PIDELTA=+-- PVI=--- ALARM={line.alarm:04X} EXC={line.exc:06X}\r\n"
    ).encode("ascii")


class MasimoDecoder(DecoderState):
    """Streaming decoder for ASCII 1 lines; lines that do not decode are skipped and counted."""

    def __init__(self, source: str = "masimo") -> None:
        super().__init__(source)

    def feed(self, chunk: bytes, t: float) -> list[Item]:
        self.buf += chunk
        out: list[Item] = []
        while (end := self.buf.find(b"\n")) >= 0:
            raw = bytes(self.buf[: end + 1])
            del self.buf[: end + 1]
            out += self._line(raw, t)
        if len(self.buf) > MAX_LINE:
            self.skipped += len(self.buf)
            self.problem = f"no line end within {MAX_LINE} bytes"
            self.buf.clear()
        return out

    def _line(self, raw: bytes, t: float) -> list[Item]:
        text = raw.decode("ascii", "replace").strip()
        if not text:
            return []
        try:
            line = parse_line(text)
        except DecodeError as exc:
            self.skipped += len(raw)
            self.problem = str(exc)
            return []
        self.frames += 1
        active = {**conditions(line.alarm, ALARM_BITS), **conditions(line.exc, EXC_BITS)}
        flags = {name: ", ".join(active[name]) if name in active else None for name in CONDITION_NAMES}
        out: list[Item] = [
            *self.edges.update(t, flags),
            physical(t, "spo2", line.spo2, self.source),
            physical(t, "pr", line.pr, self.source),
        ]
        if line.has_pi:
            out.append(physical(t, "pi", line.pi, self.source))
        return out
