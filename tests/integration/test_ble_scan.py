"""``kapmon scan`` through ``BleakScanner`` with a fake scanner backend."""

import argparse
import asyncio
import io

import pytest
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakError

from devices.ble.discovery import Found, describe, discover, service_label
from devices.virtual.fake_ble import FakePeripheral, FakeScanner, peripheral
from monitor.cli import scan as scan_command

VENDOR = "ecbe3980-c9a2-11e1-b1bd-0002a5d5c51b"


def nearby() -> type[FakeScanner]:
    return FakeScanner.of(
        peripheral("hr", address="AA:BB:CC:DD:EE:01", name="Polar H10", rssi=-80, advertised=["180d", "180f"]),
        peripheral("plx", address="AA:BB:CC:DD:EE:02", name="Nonin3150", rssi=-50),
        FakePeripheral("AA:BB:CC:DD:EE:03", "BLEsmart_0000011F", {}, advertised=[VENDOR], rssi=-60),
    )


def test_discover_lists_strongest_first_with_services() -> None:
    found = asyncio.run(discover(0.05, nearby()))
    assert [f.name for f in found] == ["Nonin3150", "BLEsmart_0000011F", "Polar H10"]
    assert found[0].profiles == ("plx",) and found[1].profiles == () and found[2].profiles == ("hr",)


def test_describe_names_standard_services_and_the_uri() -> None:
    hr = Found("AA:BB:CC:DD:EE:01", "Polar H10", -80,
               ("0000180d-0000-1000-8000-00805f9b34fb", "0000180f-0000-1000-8000-00805f9b34fb"))
    assert describe(hr) == (
        "AA:BB:CC:DD:EE:01   -80 dBm  Polar H10  [Heart Rate (0x180D), Battery Service (0x180F)]"
        "  ->  ble://AA:BB:CC:DD:EE:01?profile=hr"
    )
    assert describe(Found("AA:BB:CC:DD:EE:03", "", -60, ())) == (
        "AA:BB:CC:DD:EE:03   -60 dBm  (no name)  [no services advertised]"
    )


def test_service_label_keeps_vendor_uuids() -> None:
    assert service_label(VENDOR) == VENDOR
    assert service_label("00001822-0000-1000-8000-00805F9B34FB") == "Pulse Oximeter (0x1822)"


def test_scan_prints_one_line_per_device(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert scan_command.scan(0.05, nearby(), out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].endswith("ble://AA:BB:CC:DD:EE:02?profile=plx")


def test_scan_with_nothing_heard(capsys: pytest.CaptureFixture[str]) -> None:
    assert scan_command.scan(0.05, FakeScanner.of()) == 0
    assert "no devices heard" in capsys.readouterr().err


@pytest.mark.parametrize("error", [
    FileNotFoundError(2, "No such file or directory"),  # no D-Bus system bus socket
    BleakError("No Bluetooth adapters found."),
    BleakBluetoothNotAvailableError("Bluetooth is off", BleakBluetoothNotAvailableReason.POWERED_OFF),
])
def test_scan_without_adapter_fails_on_one_line(capsys: pytest.CaptureFixture[str], error: Exception) -> None:
    assert scan_command.scan(0.05, FakeScanner.of(error=error)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("kapmon scan: Bluetooth is not available") and "Traceback" not in captured.err


def test_timeout_must_be_positive() -> None:
    parser = argparse.ArgumentParser()
    scan_command.add_arguments(parser)
    assert parser.parse_args(["--timeout", "2.5"]).timeout == 2.5
    with pytest.raises(SystemExit):
        parser.parse_args(["--timeout", "0"])
