"""Bad input: every decoder, the recording importer and the protocol loader fed arbitrary and mutated
input. Nothing but the documented error escapes, no impossible value is accepted, and every rejection
says why (naming the line and field where there is one)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.ble.blood_pressure import decode_bp, decode_icp
from devices.ble.heart_rate import decode_hr
from devices.ble.pulse_oximetry import decode_plx_cont, decode_plx_features, decode_plx_spot
from devices.errors import DecodeError, RecordingError
from devices.reading import Condition, Reading
from devices.io.recording import parse_rows
from devices.serial import cms50d, cms50d_v7, masimo, nibp_module, nonin
from devices.virtual.serial_emulator import Cms50dDevice, Cms50dV7Device, DeviceState, MasimoDevice, NoninDevice
from devices.serial.protocols import PROTOCOLS
from devices.vocabulary import MEASURES, VITALS
from monitor.rules.protocol import ProtocolError, parse
from tests.helpers import ROOT

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROTOCOL_DIR = ROOT / "monitor" / "rules" / "protocols"


def check_items(items: list) -> None:
    """Only readings and conditions, and no value outside what is physically possible."""
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item, (Reading, Condition)), item
        if isinstance(item, Reading) and item.value is not None:
            spec = VITALS[item.vital]
            assert math.isfinite(item.value) and spec.low <= item.value <= spec.high, item


# ---------------------------------------------------------------- BLE: one payload in, items or DecodeError

BLE = [decode_hr, decode_bp, decode_icp, decode_plx_spot, decode_plx_cont]


def flagged(max_size: int = 24):
    """A flags byte (every combination) followed by arbitrary bytes: reaches past the flags check."""
    return st.builds(lambda flags, rest: bytes([flags]) + rest, st.integers(0, 255), st.binary(max_size=max_size))


@pytest.mark.parametrize("decode", BLE, ids=lambda f: f.__name__)
@FUZZ
@given(data=st.one_of(st.binary(max_size=32), flagged()))
def test_ble_decoders_decode_or_say_why(decode, data):
    try:
        items = decode(data, 1000.0, "ble")
    except DecodeError as exc:
        assert str(exc).strip()
        return
    check_items(items)


@FUZZ
@given(data=st.binary(max_size=16))
def test_plx_features_decode_or_say_why(data):
    try:
        decode_plx_features(data)
    except DecodeError as exc:
        assert str(exc).strip()


# ---------------------------------------------------------------- serial: streams of valid, mutated and random bytes


def valid_stream(protocol: str, spo2: int, pr: int, sbp: int, dbp: int) -> bytes:
    """A few seconds of what a healthy device of ``protocol`` sends."""
    state = DeviceState(spo2=float(spo2), pr=float(pr), pi=2.5, pleth=40.0, has_pr=True)
    if protocol == "nibp-module":
        body = nibp_module.result_body(sbp, dbp, (sbp + 2 * dbp) // 3, pr)
        return nibp_module.frame(body) * 3
    device = {"cms50d": Cms50dDevice, "cms50d-v7": Cms50dV7Device, "masimo": MasimoDevice}.get(protocol)
    if device is None:
        device = lambda: NoninDevice(int(protocol.removeprefix("nonin")))  # noqa: E731
    dev = device()
    if protocol == "cms50d-v7":
        dev.receive(cms50d_v7.command(cms50d_v7.START), state, 0.0, 1000.0)  # it streams once asked to
    out = b""
    for i in range(80):
        out += dev.frame(state, 1000.0 + i * 0.1)
    return out


@st.composite
def mutated(draw, protocol: str) -> list[bytes]:
    data = bytearray(valid_stream(protocol, draw(st.integers(0, 127)), draw(st.integers(0, 255)),
                                  draw(st.integers(0, 400)), draw(st.integers(0, 300))))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[i:i + draw(st.integers(1, 8))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return [bytes(data[a:b]) for a, b in zip([0, *cuts], [*cuts, len(data)])]


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@FUZZ
@given(st.data())
def test_serial_decoders_never_raise_and_never_accept_impossible_values(protocol, data):
    chunks = data.draw(st.one_of(mutated(protocol), st.lists(st.binary(max_size=64), max_size=6)))
    decoder = PROTOCOLS[protocol].decoder("fuzz")
    for n, chunk in enumerate(chunks):
        skipped = decoder.skipped
        check_items(decoder.feed(chunk, 1000.0 + n))
        if decoder.skipped > skipped:
            assert decoder.problem.strip(), "bytes were skipped without saying why"
        assert isinstance(decoder.outgoing(), bytes)


def test_mutation_seeds_are_valid_streams():
    for protocol in PROTOCOLS:
        decoder = PROTOCOLS[protocol].decoder("seed")
        items = decoder.feed(valid_stream(protocol, 97, 72, 120, 80), 1000.0)
        assert any(isinstance(i, Reading) and i.value is not None for i in items), protocol
        assert decoder.skipped == 0, (protocol, decoder.problem)


# ---------------------------------------------------------------- the recording importer

CELLS = st.one_of(
    st.sampled_from(["", "0", "1.5", "-1", "97", "1e308", "-1e308", "nan", "NaN", "inf", "-inf", "1e-320", "999999",
                     "spo2", "hr", "sbp", "pleth", "cuff", "bogus", "ok", "no_value", "%", "/min", "mmHg", "au",
                     "sensor_off", "true", "false", "2026-11-21T09:00:00Z", "2026-13-45T99:00:00", '"', "\x00", " "]),
    st.text(max_size=8),
)
HEADERS = st.sampled_from([
    "t,vital,value", "t,vital,value,unit,source,status", "t,vital,value,unit", "time,vital,value",
    "t,spo2,pr", "t,sbp,dbp,map", "t,spo2,pr,pleth,condition", "t,condition,active,source", "t,hr,spo2,unit",
    "iso,vital,value", "t,t,vital,value",
])


@st.composite
def recordings(draw) -> list[str]:
    header = draw(st.one_of(HEADERS, st.text(max_size=30)))
    width = header.count(",") + 1
    rows = draw(st.lists(st.lists(CELLS, min_size=max(1, width - 1), max_size=width + 1), max_size=6))
    comments = ["# kapmon recording"] if draw(st.booleans()) else []
    return [*comments, header, *(",".join(r) for r in rows)]


@FUZZ
@given(lines=st.one_of(recordings(), st.lists(st.text(max_size=40), max_size=6)))
def test_the_recording_importer_imports_or_says_where_and_why(lines):
    try:
        items = parse_rows(lines, "fuzz.csv")
    except RecordingError as exc:
        message = str(exc)
        assert re.match(r"fuzz\.csv, line \d+(, column \d+ \(.*\))?: \S", message), message
        return
    check_items(items)
    assert all(math.isfinite(i.t) for i in items)


# ---------------------------------------------------------------- the protocol loader

SHIPPED = sorted(PROTOCOL_DIR.glob("*.toml"))
VALUES = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr).map(
        lambda s: s.replace("inf", "inf").replace("nan", "nan")),
    st.sampled_from(['""', '"x"', "true", "false", "[]", "{}", "[1, 2]", "-0", "1e400", "nan", "-inf", '"spo2"',
                     '"above"', '"rise"', '"high"', "0", "100000"]),
)


@st.composite
def mutated_protocol(draw) -> str:
    lines = draw(st.sampled_from(SHIPPED)).read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "value", "delete", "duplicate", "garbage"]))
        if op == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(VALUES)}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        else:
            lines.insert(i, draw(st.text(max_size=20)))
    return "\n".join(lines)


@FUZZ
@given(text=st.one_of(mutated_protocol(), st.text(max_size=200)))
def test_the_protocol_loader_loads_or_names_line_and_field(text):
    try:
        protocol = parse(text, "fuzz.toml")
    except ProtocolError as exc:
        assert exc.line >= 1 and exc.field.strip() and exc.reason.strip(), str(exc)
        assert str(exc).startswith(f"fuzz.toml:{exc.line}: ")
        return
    for limit in protocol.limits:
        spec = MEASURES[limit.vital]
        assert math.isfinite(limit.threshold), limit
        if limit.relative:
            assert 0 < limit.threshold <= spec.high - spec.low, limit
        else:
            assert spec.low <= limit.threshold <= spec.high, limit
        assert math.isfinite(limit.delay_s) and limit.delay_s >= 0 and math.isfinite(limit.hysteresis), limit


def test_the_shipped_protocols_are_mutation_seeds_that_load():
    for path in SHIPPED:
        parse(path.read_text(encoding="utf-8"), path.name)


# ---------------------------------------------------------------- what fuzzing found, pinned


def test_an_impossible_number_from_a_device_is_no_value():
    decoder = PROTOCOLS["masimo"].decoder("m")
    line = valid_stream("masimo", 97, 72, 0, 0).split(b"\r\n")[0].replace(b"SPO2=097%", b"SPO2=101%") + b"\r\n"
    [spo2] = [i for i in decoder.feed(line, 1.0) if isinstance(i, Reading) and i.vital == "spo2"]
    assert spo2.value is None and spo2.status == "no_value"
    nibp = PROTOCOLS["nibp-module"].decoder("n")
    items = nibp.feed(nibp_module.frame(nibp_module.result_body(120, 260, 93, 72)), 1.0)
    assert {i.vital: i.value for i in items if isinstance(i, Reading)} == {"sbp": 120, "dbp": None, "map": 93, "pr": 72}


def test_a_stray_carriage_return_in_a_recording_is_a_located_error():
    with pytest.raises(RecordingError, match=r"^r\.csv, line 2: malformed CSV"):
        parse_rows(["t,vital,value", "0,hr,7\r0"], "r.csv")


def test_an_infinite_number_in_a_protocol_is_refused():
    text = (PROTOCOL_DIR / "kap-iv.toml").read_text(encoding="utf-8").replace("delay_s = 15", "delay_s = inf", 1)
    with pytest.raises(ProtocolError, match=r"delay_s: must be a finite number"):
        parse(text, "p.toml")
