"""MLLP, the minimal lower layer protocol HL7 v2 travels in over TCP: each message is framed as
``0x0B message 0x1C 0x0D``. A framer that bounds what a peer can make it hold, and the asyncio loop
that reads messages from a stream within time limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devices.errors import DeviceError

START = b"\x0b"
END = b"\x1c\x0d"


class MllpError(DeviceError):
    """A peer that does not speak MLLP within the limits; the message says what it did."""


class FrameTooLong(MllpError):
    """A message longer than the frame bound (it gets a negative acknowledgement before the peer is dropped)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one connection may do (all design proposals). A PCD-01 message is a few kB and arrives in
    well under a second; monitors send at intervals of seconds to minutes and may hold the connection."""

    max_frame: int = 256 << 10  # bytes in one message (~2,500 OBX rows; decoding one takes ~0.5 s)
    max_garbage: int = 4096  # bytes outside any frame before the peer is dropped
    frame_timeout: float = 10.0  # seconds to finish a message once its start block arrived
    idle_timeout: float = 900.0  # seconds without a byte between messages before the connection is closed


def frame(message: bytes) -> bytes:
    """``message`` framed for the wire."""
    return START + message + END


class Framer:
    """Messages from a byte stream. Bytes outside a frame since the last message are counted in ``garbage``;
    a start block inside a frame drops the partial frame (the sender started over). ``FrameTooLong`` for a
    frame over ``max_frame``."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self.buf = bytearray()
        self.in_frame = False
        self.garbage = 0

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out: list[bytes] = []
        while self.buf:
            if not self.in_frame:
                start = self.buf.find(START)
                self.garbage += len(self.buf) if start < 0 else start
                if start < 0:
                    self.buf.clear()
                    break
                del self.buf[: start + 1]
                self.in_frame = True
            end, restart = self.buf.find(END), self.buf.find(START)
            if 0 <= restart and (end < 0 or restart < end):
                self.garbage += restart
                del self.buf[: restart + 1]
                continue
            if end < 0:
                if len(self.buf) > self.max_frame + 1:  # END may be split: its 0x1C can already be here
                    raise FrameTooLong(f"message longer than {self.max_frame} bytes")
                break
            if end > self.max_frame:
                raise FrameTooLong(f"message longer than {self.max_frame} bytes")
            out.append(bytes(self.buf[:end]))
            del self.buf[: end + len(END)]
            self.in_frame = False
            self.garbage = 0
        return out


async def messages(reader: asyncio.StreamReader, limits: Limits) -> AsyncIterator[bytes]:
    """The messages a peer sends until it closes the connection; ``MllpError`` when it breaks the limits
    (too long, too much unframed data, silent mid-message or for the idle time)."""
    framer = Framer(limits.max_frame)
    while True:
        wait = limits.frame_timeout if framer.in_frame else limits.idle_timeout
        try:
            async with asyncio.timeout(wait):
                data = await reader.read(65536)
        except TimeoutError:
            what = "inside a message" if framer.in_frame else "between messages"
            raise MllpError(f"silent for {wait:g} s {what}") from None
        if not data:
            if framer.in_frame:
                raise MllpError("connection closed inside a message")
            return
        for message in framer.feed(data):
            yield message
        if framer.garbage > limits.max_garbage:
            hint = " (no MLLP start block 0x0B: is the sender set to MLLP?)" if b"MSH|" in data else ""
            raise MllpError(f"{framer.garbage} bytes outside MLLP frames{hint}")
