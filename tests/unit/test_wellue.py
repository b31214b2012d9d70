"""Wellue / Viatom oximeters: the decoders against published frames and CRC vectors, a fuzz, and the bleak
source through bleak's own backend hooks with fake devices that answer polls (O2Ring, O2Ring S) or stream
(PC-60FW): handshake, polling in 20-byte writes, frames split across notifications, probe off, stale data,
disconnects and reconnects, protocol detection and ``kapmon scan``/``kapmon decode``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.ble.discovery import Found, describe
from devices.errors import URIError
from devices.virtual.fake_ble import FakeClient, FakePeripheral, FakeScanner
from devices.ble.source import Timing
from devices.ble.wellue import (OXYII_LIVE, OXYII_SETUP, PROTOCOLS, READ_SENSORS, O2RingDecoder, OxyIIDecoder,
                                Pc60fwDecoder, crc8, crc8_maxim, oxyii_auth, oxyii_frame)
from devices.ble.wellue_source import WellueSource, open_wellue
from devices.reading import Condition, Item, Reading
from devices.source import WallClock
from devices.uri import parse_uri
from devices.vocabulary import NO_VALUE, VITALS
from monitor.cli.main import main
from source_run import Run, drive

FAST = Timing(scan=0.5, connect=0.5, backoff_min=0.01, backoff_max=0.05, poll=0.02)
O2RING, OXYII, PC60FW = PROTOCOLS["o2ring"], PROTOCOLS["oxyii"], PROTOCOLS["pc60fw"]

# PC-60FW frames captured from a device, published in a public C# BLE device library's Viatom parser (its
# EXAMPLE_DATA block, after sza2/viatom_pc60fw): parameters, waveform, battery and working status.
PC60_PARAMS = bytes.fromhex("AA550F08016140005100C05B")  # SpO2 97, PR 64, PI 8.1 (as annotated there)
PC60_PARAMS_2 = bytes.fromhex("AA550F0801623F005100C000")  # SpO2 98, PR 63
PC60_WAVE = bytes.fromhex("AA550F07026E5FCC3722ED")
PC60_WAVE_FLAT = bytes.fromhex("AA550F07020000000000 28".replace(" ", ""))
PC60_BATTERY = bytes.fromhex("AA55F0030303F6")
PC60_STATUS = bytes.fromhex("AA550F0621020000 0045".replace(" ", ""))
# A further PC-60FW parameter frame from a public Swift test suite (checksum computed there independently)
PC60_PARAMS_3 = bytes.fromhex("AA550F08016 03E005000C008".replace(" ", ""))  # SpO2 96, PR 62, PI 8.0
# Legacy O2Ring READ_SENSORS request as ecostech/viatom-ble sends it ("magic payload", CRC 0x1B).
O2RING_POLL = bytes.fromhex("aa17e8000000001b")
# READ_SENSORS reply payloads logged in MackeyStingray/o2r o2r/o2state.py: no finger twice, then SpO2 98, PR 66.
O2R_PAYLOADS = ("ffffff00000000600005000000", "ffffff00000000620100000000", "624200000000006100920a0100")
# OxyII frames from nglessner/o2ring-s-protocol: GET_INFO request (README fixture), and in a public C++ port's
# tests the AUTH frame for serial "0000" at t=1791158400 and a 10-byte READ_FILE_DATA reply.
OXYII_GET_INFO = bytes.fromhex("a5e11e00020000bf")
OXYII_AUTH_1791158400 = bytes.fromhex("a5ff00000010000068158872091cb098c8c7da440315e3a2")
OXYII_F3_REPLY = bytes.fromhex("a5f30c01070a0000010203040506070809b5")


def o2ring_reply(payload_hex: str, status: int = 0) -> bytes:
    payload = bytes.fromhex(payload_hex)
    body = bytes((0x55, status, status ^ 0xFF, 0, 0)) + len(payload).to_bytes(2, "little") + payload
    return body + bytes((crc8(body),))


def oxyii_live(contact: int, spo2: int, pr: int, battery: int = 80) -> bytes:
    header = bytearray(24)
    header[5], header[6], header[7], header[8], header[13] = contact, spo2, 10, pr, battery
    body = bytes((0xA5, 0x04, 0xFB, 0x01, 0x01)) + (len(header) + 2).to_bytes(2, "little") + bytes(header) + b"\x00\x00"
    return body + bytes((crc8(body),))


def values(items: list[Item]) -> dict[str, float | None]:
    return {i.vital: i.value for i in items if isinstance(i, Reading) and i.vital != "pleth"}


def conditions(items: list[Item]) -> list[tuple[str, bool]]:
    return [(i.condition, i.active) for i in items if isinstance(i, Condition)]


# ---------------------------------------------------------------- checksums and commands


def test_checksums_match_their_check_values_and_published_frames():
    assert crc8(b"123456789") == 0xF4  # CRC-8 (poly 0x07) check value
    assert crc8_maxim(b"123456789") == 0xA1  # CRC-8/MAXIM check value
    assert READ_SENSORS == O2RING_POLL
    assert OXYII_GET_INFO == oxyii_frame(0xE1, b"", seq=2)
    assert oxyii_auth(1791158400) == OXYII_AUTH_1791158400
    assert crc8(OXYII_F3_REPLY[:-1]) == OXYII_F3_REPLY[-1]
    for frame in (PC60_PARAMS, PC60_PARAMS_2, PC60_PARAMS_3, PC60_WAVE, PC60_WAVE_FLAT, PC60_BATTERY, PC60_STATUS):
        assert crc8_maxim(frame[:-1]) == frame[-1], frame.hex()


# ---------------------------------------------------------------- decoders


def test_pc60fw_published_frames():
    d = Pc60fwDecoder("pc")
    assert values(d.feed(PC60_PARAMS, 10.0)) == {"spo2": 97.0, "pr": 64.0, "pi": 8.1}
    assert values(d.feed(PC60_PARAMS_2, 11.0)) == {"spo2": 98.0, "pr": 63.0, "pi": 8.1}
    assert values(d.feed(PC60_PARAMS_3, 12.0)) == {"spo2": 96.0, "pr": 62.0, "pi": 8.0}
    pleth = d.feed(PC60_WAVE, 13.0)
    assert [(round(r.t, 2), r.value) for r in pleth] == [(12.92, 110.0), (12.94, 95.0), (12.96, 76.0), (12.98, 55.0),
                                                         (13.0, 34.0)]  # 0xCC: the beat mark bit 7 cleared
    assert d.feed(PC60_BATTERY + PC60_STATUS, 14.0) == []  # battery 3 of 3, a working-status frame
    assert (d.frames, d.skipped) == (6, 0)


def test_pc60fw_stream_split_anywhere_with_garbage_and_a_bad_crc():
    stream = b"\x01\x02" + PC60_PARAMS + PC60_WAVE[:-1] + b"\x00" + PC60_PARAMS_2 + PC60_BATTERY
    for cut in range(1, len(stream)):
        d = Pc60fwDecoder("pc")
        items = d.feed(stream[:cut], 1.0) + d.feed(stream[cut:], 1.0)
        assert [i.value for i in items if isinstance(i, Reading) and i.vital == "spo2"] == [97.0, 98.0], cut
        assert not [i for i in items if isinstance(i, Reading) and i.vital == "pleth"]  # its CRC was wrong
        assert d.skipped > 0


def test_pc60fw_status_bits():
    def params(status: int, spo2: int = 97) -> bytes:
        body = bytes((0xAA, 0x55, 0x0F, 0x08, 0x01, spo2, 64, 0, 81, status, 0xC0))
        return body + bytes((crc8_maxim(body),))

    d = Pc60fwDecoder("pc")
    off = d.feed(params(0x02, spo2=0), 1.0)
    assert conditions(off) == [("sensor_off", True)] and values(off) == {"spo2": None, "pr": None, "pi": None}
    back = d.feed(params(0x04, spo2=0), 2.0)
    assert conditions(back) == [("sensor_off", False), ("searching", True)] and values(back)["spo2"] is None
    assert conditions(d.feed(params(0x08), 3.0)) == [("searching", False), ("probe_error", True)]


def test_o2ring_published_payloads():
    d = O2RingDecoder("ring")
    first = d.feed(o2ring_reply(O2R_PAYLOADS[0]), 1.0)
    assert conditions(first) == [("sensor_off", True)] and values(first) == {"spo2": None, "pr": None, "pi": None}
    assert conditions(d.feed(o2ring_reply(O2R_PAYLOADS[1]), 2.0)) == []  # still off: no new edge
    worn = d.feed(o2ring_reply(O2R_PAYLOADS[2]), 3.0)
    assert conditions(worn) == [("sensor_off", False)] and values(worn) == {"spo2": 98.0, "pr": 66.0, "pi": 1.0}


def test_o2ring_refusals_and_low_battery():
    d = O2RingDecoder("ring")
    assert d.feed(o2ring_reply("", status=1), 1.0) == [] and "status 1" in d.problem
    low = d.feed(o2ring_reply("604800000000000800000a01"), 2.0)  # SpO2 96, PR 72, battery 8 %
    assert ("low_battery", True) in conditions(low) and values(low)["spo2"] == 96.0
    calibrating = d.feed(o2ring_reply("000000000000005000000001"), 3.0)  # finger in, no values yet
    assert ("searching", True) in conditions(calibrating) and values(calibrating)["spo2"] is None


def test_oxyii_live_replies_and_other_replies():
    d = OxyIIDecoder("ring-s")
    assert values(d.feed(oxyii_live(1, 97, 72), 1.0)) == {"spo2": 97.0, "pr": 72.0}
    off = d.feed(oxyii_live(0, 0, 0), 2.0)
    assert conditions(off) == [("sensor_off", True)] and values(off) == {"spo2": None, "pr": None}
    assert d.feed(OXYII_F3_REPLY, 3.0) == [] and d.frames == 3  # a file-data reply: CRC-valid, not a reading
    assert d.feed(OXYII_GET_INFO, 4.0) == [] and d.frames == 3  # flag 0: a request, not from the ring


@pytest.mark.parametrize("decoder", [Pc60fwDecoder, O2RingDecoder, OxyIIDecoder])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([PC60_PARAMS, PC60_WAVE, o2ring_reply(O2R_PAYLOADS[2]),
                                                                          oxyii_live(1, 97, 72)])), max_size=12),
       flips=st.lists(st.integers(0, 400), max_size=3))
def test_decoders_take_any_bytes(decoder, chunks, flips):
    stream = bytearray(b"".join(chunks))
    for at in flips:
        if at < len(stream):
            stream[at] ^= 0x5A
    d = decoder("fuzz")
    for k in range(0, len(stream), 7):
        for item in d.feed(bytes(stream[k:k + 7]), 1.0):
            assert isinstance(item, (Reading, Condition))
            if isinstance(item, Reading) and item.status != NO_VALUE:
                spec = VITALS[item.vital]
                assert math.isfinite(item.value) and spec.low <= item.value <= spec.high
    assert len(d.buf) <= 7 + 1 + 1024 + 1


def test_kapmon_decode_wellue(capsys):
    assert main(["decode", "wellue-pc60fw", PC60_PARAMS.hex(" ")]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"vital": "spo2", "value": 97.0, "unit": "%"}, {"vital": "pr", "value": 64.0, "unit": "/min"},
        {"vital": "pi", "value": 8.1, "unit": "%"}]
    assert main(["decode", "wellue-o2ring", "55 00 ff 00 00 00 00 01"]) == 1
    assert "no valid O2Ring reply" in capsys.readouterr().err


# ---------------------------------------------------------------- the bleak source with fake devices


def ring(protocol=O2RING, reply: Callable[[bytes], list[bytes]] | None = None, name: str = "O2Ring 1234",
         address: str = "AA:BB:CC:DD:EE:21") -> FakePeripheral:
    """A fake device of ``protocol`` that answers each poll with ``reply(poll)`` notifications."""
    gatt = {protocol.service: {protocol.notify: ["notify"], protocol.write: ["write-without-response"]}}
    device = FakePeripheral(address, name, gatt, advertised=[])

    def on_write(_uuid: str, data: bytes) -> None:
        if reply is not None and data == protocol.poll:
            for piece in reply(data):
                device.send(protocol.notify, piece)

    device.on_write = on_write
    return device


def in_pieces(frame: bytes, size: int = 20) -> list[bytes]:
    return [frame[k:k + size] for k in range(0, len(frame), size)]


def source(uri: str, *devices: FakePeripheral) -> WellueSource:
    return open_wellue(parse_uri(uri), client_backend=FakeClient, scanner_backend=FakeScanner.of(*devices), timing=FAST)


def test_an_o2ring_is_polled_and_its_split_replies_become_readings():
    answer = o2ring_reply(O2R_PAYLOADS[2])  # 21 bytes: two notifications at the default MTU
    device = ring(reply=lambda _poll: in_pieces(answer))

    async def scenario(run: Run) -> None:
        await run.until(lambda: len(run.readings("spo2")) >= 3)

    run = drive(source("wellue://AA:BB:CC:DD:EE:21?protocol=o2ring&period=0.05", device), scenario)
    assert set(run.readings("spo2")) == {98.0} and set(run.readings("pr")) == {66.0}
    assert {data for _, data in device.written} == {READ_SENSORS}
    assert run.conditions("stale") == [] and run.conditions("disconnected") == []
    assert device.subscribed[0][1] == O2RING.notify


def test_an_o2ring_s_gets_its_handshake_in_20_byte_writes_then_polls():
    device = ring(OXYII, reply=lambda _poll: [oxyii_live(1, 95, 70)], name="S8-AW 0001")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.readings("spo2"))

    run = drive(source("wellue://S8-AW?period=0.05", device), scenario)  # protocol from the GATT service
    writes = [data for _, data in device.written]
    assert [len(w) for w in writes[:2]] == [20, 4] and writes[0][:2] == b"\xa5\xff"  # AUTH, 24 bytes, in two
    assert writes[2] == OXYII_SETUP and writes[3] == OXYII_LIVE
    assert run.readings("spo2")[0] == 95.0 and run.readings("pr")[0] == 70.0


def test_a_pc60fw_streams_without_being_asked():
    device = ring(PC60FW, name="PC-60F_SN010175")

    async def scenario(run: Run) -> None:
        await run.until(lambda: device.callbacks)
        for piece in in_pieces(PC60_PARAMS + PC60_WAVE + PC60_PARAMS_2, 7):
            assert device.send(PC60FW.notify, piece)
        await run.until(lambda: len(run.readings("spo2")) == 2)

    run = drive(source("wellue://PC-60F", device), scenario)
    assert run.readings("spo2") == [97.0, 98.0] and len(run.readings("pleth")) == 5
    assert device.written == []


def test_a_silent_ring_is_stale_and_reconnected_and_a_lost_link_is_a_condition():
    state = {"answer": True}
    answer = o2ring_reply(O2R_PAYLOADS[2])
    device = ring(reply=lambda _poll: in_pieces(answer) if state["answer"] else [])

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.readings("spo2"))
        state["answer"] = False  # the ring stops answering
        await run.until(lambda: run.conditions("stale") == [True])
        await run.until(lambda: device.connects >= 2)
        state["answer"] = True
        await run.until(lambda: run.conditions("stale") == [True, False])
        device.drop()
        await run.until(lambda: True in run.conditions("disconnected"))
        await run.until(lambda: run.conditions("disconnected")[-1] is False)
        count = len(run.readings("spo2"))
        await run.until(lambda: len(run.readings("spo2")) > count)

    drive(source("wellue://AA:BB:CC:DD:EE:21?protocol=o2ring&period=0.05&stale=0.3", device), scenario)
    assert {uuid for _, uuid, _ in device.subscribed} == {O2RING.notify} and len(device.subscribed) >= 3


def test_a_device_without_the_protocols_service_is_a_disconnected_condition():
    device = ring(PC60FW, name="O2Ring 9999")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.conditions("disconnected"))

    run = drive(source("wellue://AA:BB:CC:DD:EE:21?protocol=o2ring", device), scenario)
    detail = next(i.detail for i in run.items if isinstance(i, Condition))
    assert "offers no service of protocol o2ring" in detail


def test_any_finds_a_wellue_device_by_its_advertised_service():
    device = ring(OXYII, reply=lambda _poll: [oxyii_live(1, 96, 66)], name=None, address="AA:BB:CC:DD:EE:22")
    device.advertised = [OXYII.service]

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.readings("spo2"))

    assert drive(source("wellue://any?period=0.05", device), scenario).readings("spo2")[0] == 96.0


@pytest.mark.parametrize(("uri", "error"), [
    ("wellue://AA:BB:CC:DD:EE:21?protocol=o3ring", "unknown protocol 'o3ring'"),
    ("wellue://AA:BB:CC:DD:EE:21?profile=plx", "unknown parameter 'profile'"),
    ("wellue://AA:BB:CC:DD:EE:21?period=0", "period must be greater than 0"),
])
def test_bad_wellue_uris(uri, error):
    with pytest.raises(URIError) as caught:
        open_wellue(parse_uri(uri))
    assert error in str(caught.value)


def test_kapmon_scan_names_the_wellue_uri():
    assert describe(Found("AA:BB:CC:DD:EE:21", "O2Ring 1234", -60, ())).endswith("wellue://AA:BB:CC:DD:EE:21?protocol=o2ring")
    assert describe(Found("AA:BB:CC:DD:EE:23", "PC-60F_SN010175", -70, ())).endswith("?protocol=pc60fw")
    assert describe(Found("AA:BB:CC:DD:EE:24", "", -70, (OXYII.service,))).endswith("?protocol=oxyii")
    assert "->" not in describe(Found("AA:BB:CC:DD:EE:25", "Headphones", -70, ()))


def test_an_o2ring_session_is_recorded_with_its_finger_out_as_a_condition(tmp_path):
    from monitor.session.hub import Hub
    from monitor.session.start import build_plan
    from monitor.session.model import Session
    from monitor.rules.session_rules import SessionRules
    from monitor.session.store import Store

    worn = {"on": True}
    device = ring(reply=lambda _poll: in_pieces(o2ring_reply(O2R_PAYLOADS[2] if worn["on"] else O2R_PAYLOADS[0])))
    src = source("wellue://AA:BB:CC:DD:EE:21?protocol=o2ring&period=0.05", device)
    store = Store(tmp_path / "k.db")
    now = time.time()
    session = Session("ring", "P-RING", now, "iv", 70.0)
    store.create_session(session)
    hub = Hub(store, session, [src], WallClock(), SessionRules(build_plan(None, "iv", {}), now)).start()

    def wait_for(predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    try:
        wait_for(lambda: len(store.readings("ring", vitals=["spo2"])) >= 3)
        worn["on"] = False
        wait_for(lambda: any(e.data["condition"] == "sensor_off" for e in store.events("ring", kind="condition")))
    finally:
        hub.stop()
    spo2 = store.readings("ring", vitals=["spo2"])
    assert {r.value for r in spo2 if r.value is not None} == {98.0} and spo2[-1].status == NO_VALUE
    assert {r.source for r in spo2} == {"wellue://AA:BB:CC:DD:EE:21?protocol=o2ring&period=0.05"}
