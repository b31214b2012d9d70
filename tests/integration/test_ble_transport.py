"""The bleak transport through the real ``BleakClient``/``BleakScanner`` with fake backends injected
via ``backend=``: notifications, indications, disconnects, reconnects with re-subscription, the
silence watchdog, backoff, discovery by address, service and name."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from devices.virtual.fake_ble import FakeClient, FakePeripheral, FakeScanner, peripheral
from devices.ble.source import BleSource, Timing, open_ble
from devices.errors import URIError
from devices.reading import Condition, Reading
from devices.registry import open_source
from devices.uri import parse_uri
from source_run import Run, drive

FAST = Timing(scan=0.5, connect=0.5, backoff_min=0.01, backoff_max=0.05, poll=0.02)
HR = "2a37"
BPM = "2a35"
PLX_CONT = "2a5f"
HR_85 = bytes.fromhex("0055")
BP_VECTOR = bytes.fromhex("1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00")
PLX_97 = bytes.fromhex("0061004800")


def source(uri: str, *peripherals: FakePeripheral, scanner_error: Exception | None = None) -> BleSource:
    return open_ble(
        parse_uri(uri), client_backend=FakeClient,
        scanner_backend=FakeScanner.of(*peripherals, error=scanner_error), timing=FAST,
    )


def test_notifications_become_readings() -> None:
    strap = peripheral("hr")

    async def scenario(run: Run) -> None:
        await run.until(lambda: strap.callbacks)
        assert strap.send(HR, HR_85)
        await run.until(lambda: run.readings("hr"))

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=hr", strap), scenario)
    (reading,) = [i for i in run.items if isinstance(i, Reading)]
    assert (reading.vital, reading.value, reading.unit) == ("hr", 85.0, "/min")
    assert reading.source == "ble://AA:BB:CC:DD:EE:01?profile=hr"
    assert abs(reading.t - time.time()) < 5
    assert strap.subscribed == [(1, "00002a37-0000-1000-8000-00805f9b34fb", {"bluez": {"use_start_notify": True}, "cb": {}})]


def test_indicated_bp_measurement_then_disconnect_is_normal() -> None:
    cuff = peripheral("bp")

    async def scenario(run: Run) -> None:
        await run.until(lambda: len(cuff.callbacks) == 2)
        assert cuff.send(BPM, BP_VECTOR)  # 2A35 is indicate-only
        cuff.advertising = False
        cuff.drop()
        await asyncio.sleep(0.3)  # scans fail while the cuff is off: still not a fault
        cuff.advertising = True
        await run.until(lambda: cuff.connects == 2 and len(cuff.callbacks) == 2)
        cuff.send(BPM, BP_VECTOR)
        await run.until(lambda: len(run.readings("sbp")) == 2)

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=bp", cuff), scenario)
    assert run.readings("sbp") == [138.0, 138.0] and run.readings("pr") == [60.0, 60.0]
    assert run.conditions("disconnected") == [] and run.conditions("stale") == []
    assert run.conditions("cuff_loose") == [True]  # reported once while it persists
    assert {uuid[4:8] for _, uuid, _ in cuff.subscribed} == {"2a35", "2a36"}


def test_oximeter_disconnect_alarms_reconnects_and_resubscribes(caplog) -> None:
    caplog.set_level(logging.INFO, logger="devices.ble.source")
    oxi = peripheral("plx")

    async def scenario(run: Run) -> None:
        await run.until(lambda: oxi.callbacks)
        oxi.send(PLX_CONT, PLX_97)
        oxi.drop()
        await run.until(lambda: run.conditions("disconnected") == [True, False])
        assert oxi.send(PLX_CONT, PLX_97)  # the new connection subscribed again
        await run.until(lambda: len(run.readings("spo2")) == 2)

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx", oxi), scenario)
    assert oxi.connects == 2
    assert sorted({(n, uuid[4:8]) for n, uuid, _ in oxi.subscribed}) == [(1, "2a5e"), (1, "2a5f"), (2, "2a5e"), (2, "2a5f")]
    disconnected = [i for i in run.items if isinstance(i, Condition) and i.condition == "disconnected"]
    assert disconnected[0].detail == "connection lost"
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "devices.ble.source"]
    uri = "ble://AA:BB:CC:DD:EE:01?profile=plx"
    assert logged == [("WARNING", f"{uri}: disconnected: connection lost"), ("INFO", f"{uri}: disconnected no longer")]


def test_silent_oximeter_goes_stale_and_is_reconnected() -> None:
    oxi = peripheral("plx")

    async def scenario(run: Run) -> None:
        await run.until(lambda: oxi.callbacks)
        oxi.send(PLX_CONT, PLX_97)
        await run.until(lambda: run.conditions("stale") == [True], timeout=2.0)
        await run.until(lambda: oxi.connects == 2 and oxi.callbacks)
        oxi.send(PLX_CONT, PLX_97)
        await run.until(lambda: run.conditions("stale") == [True, False])

    started = time.monotonic()
    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx&stale=0.2", oxi), scenario)
    assert time.monotonic() - started < 3
    assert run.conditions("disconnected") == []  # a deliberate reconnect is not a link loss
    assert run.readings("spo2") == [97.0, 97.0]


def test_values_keep_the_watchdog_quiet() -> None:
    oxi = peripheral("plx")

    async def scenario(run: Run) -> None:
        await run.until(lambda: oxi.callbacks)
        for _ in range(10):
            oxi.send(PLX_CONT, PLX_97)
            await asyncio.sleep(0.05)

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx&stale=0.2", oxi), scenario)
    assert run.conditions("stale") == [] and oxi.connects == 1


def test_malformed_value_is_a_condition_and_does_not_feed_the_watchdog() -> None:
    oxi = peripheral("plx")

    async def scenario(run: Run) -> None:
        await run.until(lambda: oxi.callbacks)
        oxi.send(PLX_CONT, b"\x00\x61")
        await run.until(lambda: run.conditions("invalid") == [True])
        for _ in range(6):
            oxi.send(PLX_CONT, b"\x00\x61")
            await asyncio.sleep(0.05)
        await run.until(lambda: run.conditions("stale") == [True])
        await run.until(lambda: oxi.callbacks)
        oxi.send(PLX_CONT, PLX_97)
        await run.until(lambda: run.conditions("invalid") == [True, False])

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx&stale=0.2", oxi), scenario)
    invalid = next(i for i in run.items if isinstance(i, Condition) and i.condition == "invalid")
    assert "truncated" in invalid.detail


def test_status_conditions_are_reported_as_transitions() -> None:
    oxi = peripheral("plx")
    low_perfusion = bytes.fromhex("08 61 00 48 00 20 00 00")

    async def scenario(run: Run) -> None:
        await run.until(lambda: oxi.callbacks)
        for data in (low_perfusion, low_perfusion, PLX_97):
            oxi.send(PLX_CONT, data)
        await run.until(lambda: len(run.readings("spo2")) == 3)

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx", oxi), scenario)
    assert run.conditions("low_perfusion") == [True, False]


def test_connect_failures_back_off_then_connect() -> None:
    oxi = peripheral("plx", connect_failures=3)

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.conditions("disconnected") == [True, False])

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx", oxi), scenario)
    assert oxi.connects == 4
    first = next(i for i in run.items if isinstance(i, Condition))
    assert "fake connection failure" in first.detail


def test_missing_oximeter_is_reported_disconnected_once() -> None:
    async def scenario(run: Run) -> None:
        await asyncio.sleep(1.5)  # three failed scans

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx"), scenario)
    assert run.conditions("disconnected") == [True]
    assert "not found" in run.items[0].detail


def test_scanner_error_is_a_condition_not_an_exception() -> None:
    async def scenario(run: Run) -> None:
        await run.until(lambda: run.conditions("disconnected"))

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=hr", scanner_error=FileNotFoundError("no D-Bus")), scenario)
    assert "no D-Bus" in run.items[0].detail


def test_profile_detected_from_gatt_services() -> None:
    oxi = peripheral("plx", advertised=[])

    async def scenario(run: Run) -> None:
        await run.until(lambda: oxi.callbacks)
        oxi.send(PLX_CONT, PLX_97)
        await run.until(lambda: run.readings("spo2"))

    drive(source("ble://aa:bb:cc:dd:ee:01", oxi), scenario)
    assert {uuid[4:8] for _, uuid, _ in oxi.subscribed} == {"2a5e", "2a5f"}


def test_bp_profile_detected_from_advertisement_never_alarms() -> None:
    cuff = peripheral("bp")

    async def scenario(run: Run) -> None:
        await run.until(lambda: cuff.callbacks)
        cuff.advertising = False
        cuff.drop()
        await asyncio.sleep(0.3)

    run = drive(source("ble://AA:BB:CC:DD:EE:01", cuff), scenario)
    assert run.items == []


def test_device_without_the_profile_is_a_fault() -> None:
    strap = peripheral("hr")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.conditions("disconnected"))

    run = drive(source("ble://AA:BB:CC:DD:EE:01?profile=plx", strap), scenario)
    assert "no characteristic of profile plx" in run.items[0].detail


def test_find_by_service_and_by_name() -> None:
    strap = peripheral("hr", address="AA:BB:CC:DD:EE:01", name="Polar H10 1234")
    oxi = peripheral("plx", address="AA:BB:CC:DD:EE:02", name="Nonin3150_501")

    async def by_service(run: Run) -> None:
        await run.until(lambda: oxi.callbacks)

    drive(source("ble://any?profile=plx", strap, oxi), by_service)
    assert strap.connects == 0 and oxi.connects == 1

    async def by_name(run: Run) -> None:
        await run.until(lambda: strap.callbacks)

    drive(source("ble://Polar%20H10?profile=hr", oxi, strap), by_name)
    assert strap.connects == 1


def test_cancelling_the_stream_disconnects() -> None:
    strap = peripheral("hr")

    async def scenario(run: Run) -> None:
        await run.until(lambda: strap.callbacks)

    drive(source("ble://AA:BB:CC:DD:EE:01?profile=hr", strap), scenario)
    assert not strap.connected


def test_open_ble_rejects_unknown_profile() -> None:
    with pytest.raises(URIError, match="unknown profile 'ecg'"):
        open_ble(parse_uri("ble://AA:BB:CC:DD:EE:01?profile=ecg"))


def test_registry_opens_ble_uris() -> None:
    src = open_source("ble://AA:BB:CC:DD:EE:01?profile=hr,plx&stale=3")
    assert isinstance(src, BleSource)
    assert [p.name for p in src.profiles] == ["hr", "plx"] and src.stale_after == 3.0
