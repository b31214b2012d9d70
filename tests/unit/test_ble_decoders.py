"""GATT decoders against the published vectors, every truncation, flag/length mismatches and fuzz."""

import argparse
import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.ble.blood_pressure import decode_bp, decode_icp
from devices.ble.formats import FORMATS
from devices.ble.heart_rate import decode_hr
from devices.ble.pulse_oximetry import PlxFeatures, decode_plx_cont, decode_plx_features, decode_plx_spot
from devices.errors import DecodeError
from devices.reading import Condition, Reading, in_physical_range
from devices.vocabulary import NO_VALUE
from monitor.cli import decode

BP_VECTOR = "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00"
ICP_VECTOR = "1E 04 00 00 00 00 00 00 00 04 11 14 29 3B 3C 00 01 27 00"
# Spot-check with every optional field: timestamp, measurement status 0, sensor status 0, PAI 8.7 %.
SPOT_VECTOR = "0F 61 00 48 00 E4 07 0B 15 0A 1E 00 00 00 00 00 00 57 F0"

# (decoder, hex) for every vector, including the published ones (device-protocols.md §2).
VECTORS: list[tuple[Callable, str]] = [
    (decode_hr, "00 55"),
    (decode_hr, "04 FF"),
    (decode_hr, "1E 55 32 00 21 00"),
    (decode_hr, "10 5A 00 08 00 10"),
    (decode_hr, "02 50"),
    (decode_hr, "07 01 01"),
    (decode_bp, BP_VECTOR),
    (decode_icp, ICP_VECTOR),
    (decode_plx_cont, "00 E8 F3 84 F3"),
    (decode_plx_cont, "00 64 00 5A 00"),
    (decode_plx_cont, "1C 5F 00 5A 00 20 00 00 00 00 57 F0"),
    (decode_plx_cont, "03 61 00 48 00 60 00 49 00 5F 00 47 00"),
    (decode_plx_spot, "00 61 00 48 00"),
    (decode_plx_spot, SPOT_VECTOR),
    (decode_plx_features, "A3 00 40 10 80 01 00"),
]


def values(items: list) -> dict[str, float | None]:
    return {i.vital: i.value for i in items if isinstance(i, Reading)}


def conditions(items: list) -> set[str]:
    return {i.condition for i in items if isinstance(i, Condition)}


# --- heart rate -----------------------------------------------------------------------------


def test_hr_uint8_contact_not_supported() -> None:
    assert decode_hr(bytes.fromhex("0055"), t=5.0, source="strap") == [Reading(5.0, "hr", 85.0, "/min", "strap")]


def test_hr_contact_supported_not_detected_is_no_value_with_sensor_off() -> None:
    items = decode_hr(bytes.fromhex("04FF"))
    assert values(items) == {"hr": None}
    assert conditions(items) == {"sensor_off"}


def test_hr_energy_and_one_rr_interval() -> None:
    assert decode_hr(bytes.fromhex("1E5532002100")) == [Reading(0.0, "hr", 85.0, "/min", "ble")]


def test_hr_two_rr_intervals() -> None:
    assert values(decode_hr(bytes.fromhex("105A00080010"))) == {"hr": 90.0}


def test_hr_contact_bit_without_support_bit_is_ignored() -> None:
    items = decode_hr(bytes.fromhex("0250"))
    assert values(items) == {"hr": 80.0} and not conditions(items)


def test_hr_uint16() -> None:
    assert values(decode_hr(bytes.fromhex("070101"))) == {"hr": 257.0}


def test_hr_rr_flag_without_rr_bytes_is_rejected() -> None:
    # Decision (documented in devices/ble/heart_rate.py): a flag/length mismatch, like Nordic.
    with pytest.raises(DecodeError, match="RR-interval flag set but no RR-interval bytes"):
        decode_hr(bytes.fromhex("170101"))


def test_hr_odd_rr_bytes_are_rejected() -> None:
    with pytest.raises(DecodeError, match="RR intervals take 2 bytes"):
        decode_hr(bytes.fromhex("105A000800"))


def test_hr_impossible_rate_is_no_value() -> None:
    items = decode_hr(bytes.fromhex("01E803"))  # 1000 /min
    assert values(items) == {"hr": None}
    assert conditions(items) == {"out_of_range"}


# --- blood pressure --------------------------------------------------------------------------


def test_bp_vector() -> None:
    items = decode_bp(bytes.fromhex(BP_VECTOR), t=3.0, source="cuff")
    assert values(items) == {"sbp": 138.0, "dbp": 88.0, "map": 120.0, "pr": 60.0}
    assert conditions(items) == {"motion", "cuff_loose", "irregular_pulse", "improper_position"}
    assert all(i.t == 3.0 and i.source == "cuff" for i in items)
    assert {i.unit for i in items if isinstance(i, Reading) and i.vital != "pr"} == {"mmHg"}


def test_bp_minimal_mmhg() -> None:
    assert values(decode_bp(bytes.fromhex("00 8A 00 58 00 78 00"))) == {"sbp": 138.0, "dbp": 88.0, "map": 120.0}


def test_bp_kpa_is_converted_to_mmhg() -> None:
    # 18.4 / 11.7 / 13.9 kPa (mantissa x 10^-1)
    items = decode_bp(bytes.fromhex("01 B8 F0 75 F0 8B F0"))
    assert values(items) == {"sbp": 138.01, "dbp": 87.76, "map": 104.26}
    assert all(i.unit == "mmHg" for i in items)


def test_bp_nan_is_no_value_and_infinity_is_out_of_range() -> None:
    items = decode_bp(bytes.fromhex("00 FE 07 58 00 FF 07"))
    assert values(items) == {"sbp": None, "dbp": 88.0, "map": None}
    assert [(c.condition, c.vitals) for c in items if isinstance(c, Condition)] == [("out_of_range", ("sbp",))]


@pytest.mark.parametrize(("bits", "detail"), [(0x08, "above"), (0x10, "below")])
def test_bp_pulse_rate_out_of_range_is_kept_as_questionable(bits: int, detail: str) -> None:
    items = decode_bp(bytes([0x14]) + bytes.fromhex("8A00580078003C00") + bytes([bits, 0]))
    assert values(items)["pr"] == 60.0
    statuses = {i.vital: i.status for i in items if isinstance(i, Reading)}
    assert statuses == {"sbp": "ok", "dbp": "ok", "map": "ok", "pr": "questionable"}
    (cond,) = [c for c in items if isinstance(c, Condition)]
    assert cond.condition == "pulse_rate_out_of_range" and detail in cond.detail


def test_icp_vector_and_nan_slots() -> None:
    assert values(decode_icp(bytes.fromhex(ICP_VECTOR))) == {"cuff": 4.0, "pr": 60.0}
    assert values(decode_icp(bytes.fromhex("00 96 00 FF 07 FF 07"))) == {"cuff": 150.0}


# --- pulse oximetry --------------------------------------------------------------------------


def test_plx_continuous_vectors() -> None:
    a = decode_plx_cont(bytes.fromhex("00E8F384F3"))
    assert values(a) == {"spo2": 100.0, "pr": 90.0}
    assert a == decode_plx_cont(bytes.fromhex("0064005A00"))
    assert {i.unit for i in a} == {"%", "/min"}


def test_plx_continuous_with_status_and_pai() -> None:
    items = decode_plx_cont(bytes.fromhex("1C5F005A00200000000057F0"))
    assert values(items) == {"spo2": 95.0, "pr": 90.0, "pi": 8.7}
    assert not conditions(items)


def test_plx_continuous_reports_normal_not_fast_or_slow() -> None:
    assert values(decode_plx_cont(bytes.fromhex("03 61 00 48 00 60 00 49 00 5F 00 47 00"))) == {"spo2": 97.0, "pr": 72.0}


def test_plx_spot_with_all_fields() -> None:
    assert values(decode_plx_spot(bytes.fromhex(SPOT_VECTOR))) == {"spo2": 97.0, "pr": 72.0, "pi": 8.7}


@pytest.mark.parametrize(("bit", "condition"), [(13, "unavailable"), (15, "invalid"), (10, "invalid"), (11, "invalid")])
def test_plx_measurement_status_makes_no_value(bit: int, condition: str) -> None:
    status = (1 << bit).to_bytes(2, "little")
    for decode, flags in ((decode_plx_cont, 0x04), (decode_plx_spot, 0x02)):
        items = decode(bytes([flags]) + bytes.fromhex("61004800") + status)
        assert values(items) == {"spo2": None, "pr": None}
        assert conditions(items) == {condition}


@pytest.mark.parametrize(("bit", "condition"), [(11, "sensor_off"), (13, "sensor_displaced"),
                                                (15, "sensor_disconnected")])
def test_plx_sensor_status_makes_no_value(bit: int, condition: str) -> None:
    status = (1 << bit).to_bytes(3, "little")
    for decode, flags in ((decode_plx_cont, 0x18), (decode_plx_spot, 0x0C)):
        items = decode(bytes([flags]) + bytes.fromhex("61004800") + status + bytes.fromhex("57F0"))
        assert values(items) == {"spo2": None, "pr": None, "pi": None}
        assert conditions(items) == {condition}


def test_plx_advisory_sensor_status_keeps_values() -> None:
    status = ((1 << 5) | (1 << 3) | (1 << 4)).to_bytes(3, "little")
    items = decode_plx_cont(bytes([0x08]) + bytes.fromhex("61004800") + status)
    assert values(items) == {"spo2": 97.0, "pr": 72.0}
    by_name = {c.condition: c for c in items if isinstance(c, Condition)}
    assert set(by_name) == {"low_perfusion", "poor_signal"}
    assert by_name["poor_signal"].detail == "inadequate signal; poor signal"
    assert by_name["low_perfusion"].vitals == ("spo2", "pr")


def test_plx_questionable_measurement_keeps_its_numbers_marked_questionable() -> None:
    status = (1 << 14).to_bytes(2, "little")
    for decode, flags in ((decode_plx_cont, 0x04), (decode_plx_spot, 0x02)):
        items = decode(bytes([flags]) + bytes.fromhex("61004800") + status)
        assert values(items) == {"spo2": 97.0, "pr": 72.0}
        assert {i.status for i in items if isinstance(i, Reading)} == {"questionable"}
        assert conditions(items) == {"questionable"}


def test_plx_questionable_pulse_marks_only_the_pulse_rate() -> None:
    status = (1 << 8).to_bytes(3, "little")
    items = decode_plx_cont(bytes([0x08]) + bytes.fromhex("61004800") + status)
    assert {i.vital: i.status for i in items if isinstance(i, Reading)} == {"spo2": "ok", "pr": "questionable"}


def test_plx_nan_spo2_is_no_value_never_zero() -> None:
    assert values(decode_plx_cont(bytes.fromhex("00FF074800"))) == {"spo2": None, "pr": 72.0}


def test_plx_features_vector() -> None:
    assert decode_plx_features(bytes.fromhex("A3004010800100")) == PlxFeatures(
        features=("measurement_status", "device_sensor_status", "spo2pr_slow", "multiple_bonds"),
        measurement_status=("early_estimated_data", "calibration_ongoing"),
        sensor_status=("non_pulsatile_signal", "questionable_pulse"),
    )
    assert decode_plx_features(bytes.fromhex("4000")) == PlxFeatures(("pulse_amplitude_index",), None, None)


# --- malformed input -------------------------------------------------------------------------


def _is_rr_boundary(decode: Callable, data: bytes, n: int) -> bool:
    """A heart-rate value cut after at least one whole RR interval is itself a valid, shorter value."""
    if decode is not decode_hr or not data[0] & 0x10:
        return False
    rr_start = 1 + (2 if data[0] & 0x01 else 1) + (2 if data[0] & 0x08 else 0)
    return n >= rr_start + 2 and (n - rr_start) % 2 == 0


@pytest.mark.parametrize(("decode", "hexdata"), VECTORS)
def test_every_truncation_is_a_decode_error(decode: Callable, hexdata: str) -> None:
    data = bytes.fromhex(hexdata)
    full = decode(data)
    for n in range(len(data)):
        if _is_rr_boundary(decode, data, n):
            assert values(decode(data[:n])) == values(full)  # same heart rate, fewer RR intervals
            continue
        with pytest.raises(DecodeError):
            decode(data[:n])


@pytest.mark.parametrize(("decode", "hexdata"), VECTORS)
def test_trailing_byte_is_a_decode_error(decode: Callable, hexdata: str) -> None:
    with pytest.raises(DecodeError):
        decode(bytes.fromhex(hexdata) + b"\x00")


@pytest.mark.parametrize(("decode", "hexdata"), [v for v in VECTORS if v[0] is not decode_hr])
def test_flag_without_its_field_is_a_decode_error(decode: Callable, hexdata: str) -> None:
    """Setting any field-announcing flag that is clear makes the value too short for its flags."""
    data = bytes.fromhex(hexdata)
    announcing = {decode_bp: 0x1E, decode_icp: 0x1E, decode_plx_cont: 0x1F, decode_plx_spot: 0x0F,
                  decode_plx_features: 0x03}[decode]
    for bit in range(8):
        mask = 1 << bit
        if announcing & mask and not data[0] & mask:
            with pytest.raises(DecodeError):
                decode(bytes([data[0] | mask]) + data[1:])


def test_empty_value_names_the_missing_field() -> None:
    with pytest.raises(DecodeError, match="Blood Pressure Measurement: truncated: flags needs 1 byte"):
        decode_bp(b"")


ITEM_DECODERS = [decode_hr, decode_bp, decode_icp, decode_plx_spot, decode_plx_cont]


@settings(max_examples=400)
@given(st.sampled_from(ITEM_DECODERS), st.binary(max_size=24))
def test_fuzz_only_decode_error_escapes_and_numbers_are_possible(decode: Callable, data: bytes) -> None:
    try:
        items = decode(data)
    except DecodeError:
        return
    for item in items:
        if isinstance(item, Reading) and item.status != NO_VALUE:
            assert in_physical_range(item.vital, item.value)


@settings(max_examples=200)
@given(st.sampled_from(sorted(FORMATS)), st.binary(max_size=24))
def test_fuzz_formats_only_raise_decode_error(name: str, data: bytes) -> None:
    try:
        FORMATS[name].decode(data)
    except DecodeError:
        pass


@given(st.integers(0, 1000), st.integers(0, 1000), st.sampled_from([0x00, 0x04, 0x08, 0x10, 0x1C]))
def test_plx_continuous_round_trip(spo2_tenths: int, pr_tenths: int, flags: int) -> None:
    body = bytes([flags]) + (spo2_tenths | 0xF000).to_bytes(2, "little") + (pr_tenths | 0xF000).to_bytes(2, "little")
    body += b"\x00\x00" * bool(flags & 0x04) + b"\x00\x00\x00" * bool(flags & 0x08) + b"\x57\xf0" * bool(flags & 0x10)
    got = values(decode_plx_cont(body))
    assert got["spo2"] == spo2_tenths / 10 and got["pr"] == pr_tenths / 10
    assert ("pi" in got) == bool(flags & 0x10)


# --- kapmon decode ---------------------------------------------------------------------------


def _decode_cli(name: str, data: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = decode.run(argparse.Namespace(format=name, data=data))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_cli_prints_readings_and_conditions(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _decode_cli("ble-bp", BP_VECTOR, capsys)
    assert code == 0
    assert lines[0] == {"vital": "sbp", "value": 138.0, "unit": "mmHg"}
    assert {"condition": "cuff_loose", "active": True} == {k: lines[5][k] for k in ("condition", "active")}


def test_cli_prints_plx_features(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _decode_cli("ble-plx-features", "A3 00 40 10 80 01 00", capsys)
    assert code == 0 and lines[0]["plx_features"][0] == "measurement_status"


def test_cli_malformed_is_one_line_and_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = _decode_cli("ble-hr", "17 01 01", capsys)
    assert code == 1 and lines == []
    assert err.count("\n") == 1 and "flag/length mismatch" in err
