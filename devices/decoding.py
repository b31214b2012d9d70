"""A named wire format and its one-shot decoder: the shape every device family's formats take."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from devices.reading import Item


class JsonRecord(Protocol):
    """A decoded record that is neither a reading nor a condition (a feature list, a remark)."""

    def as_json(self) -> dict: ...


Decoded = Item | JsonRecord


@dataclass(frozen=True, slots=True)
class DecodeFormat:
    """One named wire format: whether its input is hex bytes or text, and its decoder.

    ``decode`` takes the whole input (bytes for hex formats, str for text formats) and returns what it
    holds (readings, conditions or other records), raising ``DecodeError`` with a one-line reason if malformed.
    """

    name: str
    input: str  # "hex", "text", or "message" (a file or - for standard input)
    description: str
    decode: Callable[[bytes | str], Sequence[Decoded]]
