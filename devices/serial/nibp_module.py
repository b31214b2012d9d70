"""OEM NIBP modules (UN300C / SINNOR N6 / ABATON style), 4800 8N1, ASCII.

Messages both ways are ``STX <body> <2 hex checksum> ETX`` (optionally followed by CR), the
checksum being sum(body) mod 256. The module prints a bare ``999`` when a measurement ends;
the host then asks for the result with ``18;;`` and gets
``S<status>;A<patient mode>;C<measurement mode>;M<error>;P<sss><ddd><mmm>;R<rate>;``.
Framing of the module's replies and the meaning of status and error codes are
[unverified]: bare OEM boards, for bench testing.
"""

from __future__ import annotations

from devices.reading import Item
from devices.serial.decoder import ConditionEdges, physical

STX, ETX = 0x02, 0x03
DONE = "999"
ABORT = "X"
MAX_MESSAGE = 128
NIBP_OUT = ("sbp", "dbp", "map")


def frame(body: str) -> bytes:
    """``body`` framed as STX, body, checksum in two hex digits, ETX."""
    raw = body.encode("ascii")
    return bytes((STX,)) + raw + f"{sum(raw) & 0xFF:02X}".encode() + bytes((ETX,))


START = frame("01;;")
MANUAL_MODE = frame("03;;")
STATUS = frame("18;;")


def take_messages(buf: bytearray) -> tuple[list[str], int, str]:
    """Remove every complete message from ``buf``: checked frame bodies and the bare ``999``/``X``.

    Returns ``(messages, skipped, problem)``.
    """
    messages: list[str] = []
    skipped, problem = 0, ""
    while buf:
        if buf[0] == STX:
            end = buf.find(bytes((ETX,)))
            if end < 0:
                if len(buf) <= MAX_MESSAGE:
                    break
                end = len(buf) - 1
            raw, n = bytes(buf[1:end]), end + 1
            del buf[:n]
            body, ok = raw[:-2], raw[-2:]
            expected = f"{sum(body) & 0xFF:02X}".encode()
            if len(raw) >= 2 and ok.upper() == expected and body.isascii():
                messages.append(body.decode("ascii"))
            else:
                skipped += n
                problem = (
                    f"checksum {ok.decode('ascii', 'replace')!r} != {expected.decode()!r}" if len(raw) >= 2 else "empty message"
                )
        elif buf[:3] == DONE.encode():
            messages.append(DONE)
            del buf[:3]
        elif buf[:1] == ABORT.encode():
            messages.append(ABORT)
            del buf[:1]
        elif len(buf) < 3 and DONE.encode().startswith(bytes(buf)):
            break
        else:
            if buf[0] not in b"\r\n ":
                skipped, problem = skipped + 1, "bytes outside a message"
            del buf[:1]
    return messages, skipped, problem


def fields(body: str) -> dict[str, str]:
    """``S0;A1;M0;P120080093;R072;`` -> {"S": "0", "A": "1", "M": "0", "P": "120080093", "R": "072"}."""
    return {part[0]: part[1:] for part in body.split(";") if part}


def pressure(raw: str) -> int | None:
    """A 3-digit value; ``None`` for 000, dashes or anything not a number."""
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def result_body(sbp: int | None, dbp: int | None, mean: int | None, pr: int | None, error: int = 0) -> str:
    """The body of a status reply holding one measurement (``None`` is sent as 000)."""
    p = "".join(f"{v or 0:03d}" for v in (sbp, dbp, mean))
    return f"S0;A0;C0;M{error};P{p};R{pr or 0:03d};"


class NibpModuleDecoder:
    """Streaming decoder for the module's messages; asks for the result after each ``999``."""

    def __init__(self, source: str = "nibp-module") -> None:
        self.buf = bytearray()
        self.skipped = 0
        self.frames = 0
        self.problem = ""
        self.pending = b""
        self.edges = ConditionEdges(source)
        self.source = source

    def outgoing(self) -> bytes:
        out, self.pending = self.pending, b""
        return out

    def feed(self, chunk: bytes, t: float) -> list[Item]:
        self.buf += chunk
        messages, skipped, problem = take_messages(self.buf)
        if skipped:
            self.skipped += skipped
            self.problem = problem
        out: list[Item] = []
        for message in messages:
            if message == DONE:
                self.frames += 1
                self.pending += STATUS
            elif "P" in (f := fields(message)):
                self.frames += 1
                out += self._result(f, t)
            else:
                self.problem = f"message {message!r} holds no result"
        return out

    def _result(self, f: dict[str, str], t: float) -> list[Item]:
        error = f.get("M", "0")
        failed = error.strip("0") != ""
        p = f["P"]
        values = [None] * 3 if failed else [pressure(p[i : i + 3]) for i in (0, 3, 6)]
        rate = None if failed else pressure(f.get("R", ""))
        return [
            *self.edges.update(t, {"nibp_error": f"module error code {error}" if failed else None}, NIBP_OUT),
            *(physical(t, vital, v, self.source) for vital, v in zip(NIBP_OUT, values)),
            physical(t, "pr", rate, self.source),
        ]
