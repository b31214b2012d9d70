"""A BLE pulse oximeter recorded through the hub, store and alarm engine (bleak with a fake backend),
as ``kapmon monitor --device ble://...`` runs it."""

import time

from devices.virtual.fake_ble import FakeClient, FakeScanner, peripheral
from devices.ble.source import Timing, open_ble
from devices.source import WallClock
from devices.uri import parse_uri
from monitor.rules.session_rules import SessionRules
from monitor.session.hub import Hub
from monitor.session.start import build_plan
from monitor.session.model import Session
from monitor.session.store import Store

FAST = Timing(scan=0.5, connect=0.5, backoff_min=0.01, backoff_max=0.05, poll=0.02)
PLX_CONT = "2a5f"


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_ble_oximeter_session_is_recorded_and_its_disconnect_is_a_condition(tmp_path):
    oximeter = peripheral("plx")
    source = open_ble(parse_uri("ble://AA:BB:CC:DD:EE:01?profile=plx"), client_backend=FakeClient,
                      scanner_backend=FakeScanner.of(oximeter), timing=FAST)
    store = Store(tmp_path / "k.db")
    now = time.time()
    session = Session("ble", "P-1", now, "iv", 70.0)
    store.create_session(session)
    hub = Hub(store, session, [source], WallClock(), SessionRules(build_plan(None, "iv", {}), now)).start()
    try:
        wait_for(lambda: hub.call(lambda: bool(oximeter.callbacks)))
        for spo2 in (97, 96, 95):
            assert hub.call(lambda s=spo2: oximeter.send(PLX_CONT, bytes([0, s, 0, 72, 0])))
        wait_for(lambda: len(store.readings("ble", vitals=["spo2"])) == 3)
        assert [r.value for r in store.readings("ble", vitals=["spo2"])] == [97.0, 96.0, 95.0]
        assert [r.value for r in store.readings("ble", vitals=["pr"])] == [72.0, 72.0, 72.0]
        hub.call(oximeter.drop)
        wait_for(lambda: any(e.data["condition"] == "disconnected" and e.data["active"]
                             for e in store.events("ble", kind="condition")))
    finally:
        hub.stop()
