"""A named wire format and its one-shot decoder: the shape every device family's formats take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devices.reading import Item


@dataclass(frozen=True, slots=True)
class DecodeFormat:
    """One named wire format: whether its input is hex bytes or text, and its decoder.

    ``decode`` takes the whole input (bytes for hex formats, str for text formats) and
    returns what it holds, raising ``DecodeError`` with a one-line reason if malformed.
    """

    name: str
    input: str  # "hex", "text", or "message" (a file or - for standard input)
    description: str
    decode: Callable[[bytes | str], list[Item]]
