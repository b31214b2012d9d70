"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) medical floats.

Special values are matched on the whole raw value before sign extension (as Wireshark does):
NaN, NRes and the reserved code carry no value; +INF and -INF mean the device's range was exceeded.
"""

from __future__ import annotations

from typing import Literal

Special = Literal["nan", "nres", "rfu", "+inf", "-inf"]

SFLOAT_SPECIAL: dict[int, Special] = {0x07FF: "nan", 0x0800: "nres", 0x0801: "rfu", 0x07FE: "+inf", 0x0802: "-inf"}
FLOAT_SPECIAL: dict[int, Special] = {
    0x007FFFFF: "nan",
    0x00800000: "nres",
    0x00800001: "rfu",
    0x007FFFFE: "+inf",
    0x00800002: "-inf",
}
INFINITIES: frozenset[Special] = frozenset({"+inf", "-inf"})


def _signed(value: int, bits: int) -> int:
    """Two's-complement interpretation of the low ``bits`` of ``value``."""
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scale(mantissa: int, exponent: int) -> float:
    """``mantissa * 10**exponent`` correctly rounded (``87e-1`` is 8.7, not 8.700000000000001)."""
    return float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10**-exponent


def sfloat(raw: int) -> float | Special:
    """The value of a 16-bit SFLOAT (``raw`` is the little-endian uint16), or its special code."""
    if raw in SFLOAT_SPECIAL:
        return SFLOAT_SPECIAL[raw]
    return _scale(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def float32(raw: int) -> float | Special:
    """The value of a 32-bit FLOAT (``raw`` is the little-endian uint32), or its special code."""
    if raw in FLOAT_SPECIAL:
        return FLOAT_SPECIAL[raw]
    return _scale(_signed(raw & 0xFFFFFF, 24), _signed(raw >> 24, 8))
