"""Shared pieces of the GATT decoders: a bounds-checked field reader, SFLOAT values as readings,
and status bits as conditions."""

from __future__ import annotations

from devices.ble.sfloat import INFINITIES, Special, sfloat
from devices.errors import DecodeError
from devices.reading import Condition, Item, in_physical_range, no_value, reading
from devices.vocabulary import VITALS

KPA_TO_MMHG = 7.50062


class Fields:
    """Reads little-endian fields from one characteristic value, in order, never past its end."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = bytes(data)
        self.what = what
        self.pos = 0

    def fail(self, reason: str) -> DecodeError:
        """A ``DecodeError`` naming this characteristic."""
        return DecodeError(f"{self.what}: {reason}")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, size: int, field: str) -> bytes:
        """The next ``size`` bytes, which hold ``field``."""
        if size > self.remaining:
            raise self.fail(
                f"truncated: {field} needs {size} byte(s) at offset {self.pos}, but the value is {len(self.data)} byte(s) long"
            )
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "little")

    def sfloat(self, field: str) -> float | Special:
        return sfloat(self.uint(2, field))

    def finish(self) -> None:
        """Fail if bytes are left that the flags do not announce."""
        if self.remaining:
            raise self.fail(
                f"{self.remaining} unexpected trailing byte(s) at offset {self.pos}: "
                "the flags do not announce them (flag/length mismatch)"
            )


def value_items(t: float, vital: str, value: float | Special, source: str, scale: float = 1.0) -> list[Item]:
    """A decoded value as items: a reading, or a no-value reading (plus ``out_of_range`` when the
    device signalled infinity or the number is physically impossible for ``vital``)."""
    if isinstance(value, str):
        if value not in INFINITIES:
            return [no_value(t, vital, source)]
        side = "above" if value == "+inf" else "below"
        return [
            no_value(t, vital, source),
            Condition(t, "out_of_range", source, True, (vital,), f"{vital} {side} the device's measuring range"),
        ]
    number = value if scale == 1.0 else round(value * scale, 2)
    if not in_physical_range(vital, number):
        detail = f"{vital} {number:g} {VITALS[vital].unit} is not physically possible"
        return [no_value(t, vital, source), Condition(t, "out_of_range", source, True, (vital,), detail)]
    return [reading(t, vital, number, source)]


def bit_conditions(
    t: float, bits: int, table: dict[int, tuple[str, str]], source: str, vitals: tuple[str, ...]
) -> list[Condition]:
    """One active condition per condition name whose bits are set; ``table`` maps a bit number
    to (condition, detail). Details of bits that share a condition are joined."""
    details: dict[str, list[str]] = {}
    for bit, (name, detail) in table.items():
        if bits >> bit & 1:
            details.setdefault(name, []).append(detail)
    return [Condition(t, name, source, True, vitals, "; ".join(d)) for name, d in details.items()]
