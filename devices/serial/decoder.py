"""What every streaming serial decoder shares: the ``feed`` interface, the frame lock,
edge-triggered conditions, numeric rate limiting and the one-shot ``decode`` used by ``kapmon decode``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from devices.errors import DecodeError
from devices.reading import Condition, Item, Reading, in_physical_range, no_value, reading


class StreamDecoder(Protocol):
    """A pure decoder fed arbitrary chunks of a byte stream.

    It keeps only framing state, drops bytes it cannot frame (counting them in ``skipped``)
    and never raises on bad input; ``problem`` says why bytes were last skipped. ``frames`` counts
    the frames it has reported (not those held by its frame lock). ``outgoing`` returns bytes the
    protocol must send in reply to what was decoded (most protocols: none).
    """

    skipped: int
    frames: int
    problem: str

    def feed(self, chunk: bytes, t: float) -> list[Item]: ...

    def outgoing(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Skipped:
    """Bytes a framer dropped, and why."""

    count: int
    problem: str


class FrameLock:
    """Holds frames until ``needed`` of them arrive back to back (nothing skipped between them), then
    passes them, in order and with their own times, and every following frame until bytes are
    skipped again.

    A framing with no checksum (or a one-byte one) also finds "frames" in noise, a wrong baud rate
    or another device's protocol: a sync bit and four clear bits occur by chance once in 32 bytes.
    The same framing holding at the expected place for ``needed`` frames in a row practically never
    does, so nothing is reported from a stream until it has, and again after every resync.
    """

    def __init__(self, needed: int) -> None:
        self.needed = needed
        self.held: list[tuple[bytes, float]] = []
        self.locked = needed <= 1

    def frame(self, frame: bytes, t: float) -> list[tuple[bytes, float]]:
        """The frames to report now that ``frame`` (received at ``t``) has arrived."""
        if self.locked:
            return [(frame, t)]
        self.held.append((frame, t))
        if len(self.held) < self.needed:
            return []
        self.locked = True
        out, self.held = self.held, []
        return out

    def lost(self) -> None:
        """Bytes were skipped: forget the held frames and wait for ``needed`` in a row again."""
        self.held.clear()
        self.locked = self.needed <= 1


class DecoderState:
    """The state every streaming decoder starts with: unread bytes, counts of frames and skipped
    bytes, why bytes were last skipped, the conditions it has reported and its frame lock
    (``lock`` frames in a row before any is reported; 1 = report every frame)."""

    def __init__(self, source: str, lock: int = 1) -> None:
        self.buf = bytearray()
        self.skipped = 0
        self.frames = 0
        self.problem = ""
        self.edges = ConditionEdges(source)
        self.source = source
        self.lock = FrameLock(lock)

    def outgoing(self) -> bytes:
        """Bytes to send back to the device (none, for most protocols)."""
        return b""

    def take(self, piece: bytes | Skipped, t: float) -> list[Item]:
        """Items from one framer output: a frame (reported through the lock) or skipped bytes."""
        if isinstance(piece, Skipped):
            self.skip(piece.count, piece.problem)
            return []
        return self._report(self.lock.frame(piece, t))

    def skip(self, count: int, problem: str) -> None:
        """Count ``count`` dropped bytes; the framing is in doubt until the lock holds again."""
        self.skipped += count
        self.problem = problem
        self.lock.lost()
        self.resync()

    def resync(self) -> None:
        """Forget framing state that spans frames (a packet position...) after bytes were skipped."""

    def _report(self, frames: list[tuple[bytes, float]]) -> list[Item]:
        self.frames += len(frames)
        return [item for frame, t in frames for item in self.decode_frame(frame, t)]

    def decode_frame(self, frame: bytes, t: float) -> list[Item]:
        """The items of one framed frame (decoders that use ``take`` define it)."""
        raise NotImplementedError


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


def sync_frames(buf: bytearray, length: int) -> Iterator[bytes | Skipped]:
    """Remove complete frames from ``buf``, in order with the bytes dropped between them, for formats
    where only a frame's first byte has bit 7 set. An incomplete frame stays in ``buf``."""
    while buf:
        start = next((i for i, b in enumerate(buf) if b & 0x80), len(buf))
        if not start:
            if len(buf) < length:
                return
            start = next((i for i in range(1, length) if buf[i] & 0x80), 0)
            if not start:
                frame = bytes(buf[:length])
                del buf[:length]
                yield frame
                continue
            problem = "frame cut short by a sync byte"
        else:
            problem = "bytes before a sync byte"
        del buf[:start]
        yield Skipped(start, problem)


def decode_all(decoder: StreamDecoder, data: bytes, what: str) -> list[Item]:
    """Decode a whole payload at once; ``DecodeError`` when it holds no valid ``what``."""
    items = decoder.feed(data, 0.0)
    if decoder.frames == 0:
        reason = f": {decoder.problem}" if decoder.problem else ""
        raise DecodeError(f"no valid {what} in {len(data)} bytes{reason}")
    return items
