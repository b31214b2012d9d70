"""Against a real BLE device: opt in with ``pytest -m hardware`` and name the device, e.g.
``KAPMON_BLE_DEVICE='ble://AA:BB:CC:DD:EE:FF?profile=plx' pytest -m hardware tests/integration/test_ble_hardware.py``.
``KAPMON_BLE_SECONDS`` (default 60) bounds the wait: take a blood-pressure measurement within it."""

import asyncio
import os

import pytest

from devices.ble.discovery import discover
from devices.ble.source import ADDRESS, BleSource
from devices.reading import Reading
from devices.registry import open_source
from devices.source import WallClock

DEVICE = os.environ.get("KAPMON_BLE_DEVICE", "")
SECONDS = float(os.environ.get("KAPMON_BLE_SECONDS", "60"))

pytestmark = [
    pytest.mark.hardware,
    pytest.mark.skipif(not DEVICE, reason="set KAPMON_BLE_DEVICE=ble://ADDRESS?profile=hr|bp|plx"),
]


def _source() -> BleSource:
    source = open_source(DEVICE if "://" in DEVICE else f"ble://{DEVICE}")
    assert isinstance(source, BleSource)
    return source


async def _first_reading(source: BleSource) -> Reading:
    async for item in source.stream(WallClock()):
        print(item)
        if isinstance(item, Reading) and item.has_value:
            return item
    raise AssertionError("stream ended")


def test_scan_hears_the_device() -> None:
    target = _source().target
    found = asyncio.run(discover(10.0))
    if ADDRESS.match(target):
        assert target.lower() in {f.address.lower() for f in found}
    else:
        assert found, "no BLE devices heard"


def test_device_sends_a_reading() -> None:
    reading = asyncio.run(asyncio.wait_for(_first_reading(_source()), SECONDS))
    assert reading.source == _source().uri
