"""Decode formats offered by this family of devices (filled in by its decoders)."""

from __future__ import annotations

import re
from collections.abc import Callable

from devices.decoding import DecodeFormat
from devices.reading import Item
from devices.serial.cms50d import Cms50dDecoder
from devices.serial.cms50d_v7 import Cms50dV7Decoder
from devices.serial.decoder import StreamDecoder, decode_all
from devices.serial.masimo import MasimoDecoder
from devices.serial.nibp_module import DONE, NibpModuleDecoder, frame
from devices.serial.nonin import NoninFormat8Decoder, NoninPacketDecoder


def binary(make: Callable[[], StreamDecoder], what: str) -> Callable[[bytes | str], list[Item]]:
    """A one-shot decoder for hex input. Its decoder reports every frame it finds (no frame lock): the
    payload is given as frames, and one frame must decode on its own."""

    def decode(data: bytes | str) -> list[Item]:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        return decode_all(make(), raw, what)

    return decode


def masimo_text(data: bytes | str) -> list[Item]:
    """Decode one or more ASCII 1 lines."""
    text = data if isinstance(data, str) else data.decode("ascii", "replace")
    return decode_all(MasimoDecoder("masimo"), (text.rstrip("\r\n") + "\r\n").encode("ascii", "replace"), "Masimo line")


def nibp_text(data: bytes | str) -> list[Item]:
    """Decode module messages. ``\\x02``/``\\x03`` escapes stand for STX/ETX; a body given without
    them is framed, with its checksum computed unless it ends in one (``...;DF``)."""
    text = data if isinstance(data, str) else data.decode("ascii", "replace")
    text = text.replace("\\x02", "\x02").replace("\\x03", "\x03").strip()
    if "\x02" in text or text == DONE:
        raw = text.encode("ascii", "replace")
    elif re.search(r";[0-9A-Fa-f]{2}$", text):
        raw = f"\x02{text}\x03".encode("ascii", "replace")
    else:
        raw = frame(text)
    return decode_all(NibpModuleDecoder("nibp-module"), raw, "module message")


FORMATS: dict[str, DecodeFormat] = {
    f.name: f
    for f in (
        DecodeFormat(
            "cms50d",
            "hex",
            "Contec CMS50D+/E generation A 5-byte frames",
            binary(lambda: Cms50dDecoder("cms50d", lock=1), "5-byte frame"),
        ),
        DecodeFormat(
            "cms50d-v7",
            "hex",
            "Contec CMS50D+/E protocol V7.0 packets",
            binary(lambda: Cms50dV7Decoder("cms50d-v7", lock=1), "V7.0 packet"),
        ),
        DecodeFormat(
            "nonin2",
            "hex",
            "Nonin data format #2 frames (8-bit pleth)",
            binary(lambda: NoninPacketDecoder(2, "nonin2", lock=1), "format #2 frame"),
        ),
        DecodeFormat(
            "nonin7",
            "hex",
            "Nonin data format #7 frames (16-bit pleth)",
            binary(lambda: NoninPacketDecoder(7, "nonin7", lock=1), "format #7 frame"),
        ),
        DecodeFormat(
            "nonin8",
            "hex",
            "Nonin data format #8 records",
            binary(lambda: NoninFormat8Decoder("nonin8", lock=1), "format #8 record"),
        ),
        DecodeFormat("masimo", "text", "Masimo Radical-7/-5/Rad-8 ASCII 1 line", masimo_text),
        DecodeFormat("nibp-module", "text", "OEM NIBP module message (STX body checksum ETX, or 999)", nibp_text),
    )
}
