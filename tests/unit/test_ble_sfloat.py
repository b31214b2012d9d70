"""IEEE 11073 SFLOAT / FLOAT: worked values, special values, and agreement with exact arithmetic."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.ble.sfloat import FLOAT_SPECIAL, SFLOAT_SPECIAL, float32, sfloat


@pytest.mark.parametrize(
    ("raw", "value"),
    [(0x0002, 2), (0xF014, 2.0), (0xE0C8, 2.00), (0x1002, 20), (0x2002, 200), (0x0B2E, -1234),
     (0x008A, 138), (0xF3E8, 100.0), (0xF384, 90.0), (0xF057, 8.7), (0x8001, 1e-8)],
)
def test_sfloat_worked_values(raw: int, value: float) -> None:
    assert sfloat(raw) == value


@pytest.mark.parametrize(
    ("raw", "value"), [(0xFF000014, 2.0), (0xFE0000C8, 2.00), (0x01000002, 20), (0x00FFFB2E, -1234)]
)
def test_float32_worked_values(raw: int, value: float) -> None:
    assert float32(raw) == value


@pytest.mark.parametrize(
    ("raw", "code"), [(0x07FF, "nan"), (0x0800, "nres"), (0x0801, "rfu"), (0x07FE, "+inf"), (0x0802, "-inf")]
)
def test_sfloat_specials(raw: int, code: str) -> None:
    assert sfloat(raw) == code


@pytest.mark.parametrize(
    ("raw", "code"),
    [(0x007FFFFF, "nan"), (0x00800000, "nres"), (0x00800001, "rfu"), (0x007FFFFE, "+inf"), (0x00800002, "-inf")],
)
def test_float32_specials(raw: int, code: str) -> None:
    assert float32(raw) == code


def test_specials_match_whole_value_not_mantissa() -> None:
    # mantissa 0x7FF with exponent -1 is 204.7, not NaN (Wireshark matches the whole value)
    assert sfloat(0xF7FF) == pytest.approx(204.7)
    assert float32(0xFF7FFFFF) == pytest.approx(838860.7)


def _exact(mantissa_bits: int, exponent_bits: int, m_width: int, e_width: int) -> float:
    m = mantissa_bits - (1 << m_width) if mantissa_bits >> (m_width - 1) else mantissa_bits
    e = exponent_bits - (1 << e_width) if exponent_bits >> (e_width - 1) else exponent_bits
    return float(Decimal(m).scaleb(e))


@given(st.integers(0, 0xFFFF))
def test_sfloat_is_correctly_rounded(raw: int) -> None:
    if raw in SFLOAT_SPECIAL:
        assert sfloat(raw) == SFLOAT_SPECIAL[raw]
    else:
        assert sfloat(raw) == _exact(raw & 0x0FFF, raw >> 12, 12, 4)


@given(st.integers(0, 0xFFFFFFFF))
def test_float32_is_correctly_rounded(raw: int) -> None:
    if raw in FLOAT_SPECIAL:
        assert float32(raw) == FLOAT_SPECIAL[raw]
    else:
        assert float32(raw) == _exact(raw & 0xFFFFFF, raw >> 24, 24, 8)
