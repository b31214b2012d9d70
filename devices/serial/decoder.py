"""What every streaming serial decoder shares: the ``feed`` interface, edge-triggered
conditions, numeric rate limiting and the one-shot ``decode`` used by ``kapmon decode``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from devices.errors import DecodeError
from devices.reading import Condition, Item, Reading, in_physical_range, no_value, reading


class StreamDecoder(Protocol):
    """A pure decoder fed arbitrary chunks of a byte stream.

    It keeps only framing state, drops bytes it cannot frame (counting them in ``skipped``)
    and never raises on bad input; ``problem`` says why bytes were last skipped. ``outgoing`` returns bytes the protocol must send in
    reply to what was decoded (most protocols: none).
    """

    skipped: int
    frames: int
    problem: str

    def feed(self, chunk: bytes, t: float) -> list[Item]: ...

    def outgoing(self) -> bytes: ...


class DecoderState:
    """The state every streaming decoder starts with: unread bytes, counts of frames and skipped
    bytes, why bytes were last skipped, and the conditions it has reported."""

    def __init__(self, source: str) -> None:
        self.buf = bytearray()
        self.skipped = 0
        self.frames = 0
        self.problem = ""
        self.edges = ConditionEdges(source)
        self.source = source

    def outgoing(self) -> bytes:
        """Bytes to send back to the device (none, for most protocols)."""
        return b""


class ConditionEdges:
    """Turns per-frame condition flags into edges: a condition is reported when it starts and ends."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.active: dict[str, str] = {}

    def update(self, t: float, flags: dict[str, str | None], vitals: tuple[str, ...] = ()) -> list[Condition]:
        """``flags`` maps condition name -> detail when active, ``None`` when not active."""
        out: list[Condition] = []
        for name, detail in flags.items():
            was = name in self.active
            if detail is not None and not was:
                self.active[name] = detail
                out.append(Condition(t, name, self.source, True, vitals, detail))
            elif detail is None and was:
                del self.active[name]
                out.append(Condition(t, name, self.source, False, vitals))
        return out


def physical(t: float, vital: str, value: float | None, source: str) -> Reading:
    """A reading of ``value``; a number the vital cannot physically take (a corrupted frame) is no value."""
    if value is None or not in_physical_range(vital, value):
        return no_value(t, vital, source)
    return reading(t, vital, value, source)


class NumericGate:
    """Passes a numeric vital when its value (or no-value state) changes or ``period`` seconds
    have passed since it was last passed; frame-rate devices then report numerics at ~1 Hz."""

    def __init__(self, source: str, period: float = 0.95) -> None:
        self.source = source
        self.period = period
        self.last: dict[str, tuple[float, float | None]] = {}

    def __call__(self, t: float, vital: str, value: float | None) -> list[Reading]:
        previous = self.last.get(vital)
        if previous is not None and previous[1] == value and t - previous[0] < self.period:
            return []
        self.last[vital] = (t, value)
        return [physical(t, vital, value, self.source)]


def numerics(gate: NumericGate, t: float, values: Iterable[tuple[str, float | None]]) -> list[Reading]:
    """Gate several ``(vital, value)`` pairs at once."""
    return [r for vital, value in values for r in gate(t, vital, value)]


def take_sync_frames(buf: bytearray, length: int) -> tuple[list[bytes], int, str]:
    """Remove every complete frame from ``buf`` for formats where only a frame's first byte has bit 7 set.

    Returns ``(frames, skipped, problem)``: the frames, the number of bytes dropped and why.
    """
    frames: list[bytes] = []
    skipped, problem = 0, ""
    while buf:
        start = next((i for i, b in enumerate(buf) if b & 0x80), len(buf))
        if not start:
            if len(buf) < length:
                break
            start = next((i for i in range(1, length) if buf[i] & 0x80), 0)
            if not start:
                frames.append(bytes(buf[:length]))
                del buf[:length]
                continue
            problem = "frame cut short by a sync byte"
        else:
            problem = "bytes before a sync byte"
        skipped += start
        del buf[:start]
    return frames, skipped, problem


def decode_all(decoder: StreamDecoder, data: bytes, what: str) -> list[Item]:
    """Decode a whole payload at once; ``DecodeError`` when it holds no valid ``what``."""
    items = decoder.feed(data, 0.0)
    if decoder.frames == 0:
        reason = f": {decoder.problem}" if decoder.problem else ""
        raise DecodeError(f"no valid {what} in {len(data)} bytes{reason}")
    return items
