"""Topic layout, message encoding and the central station's duplicate and gap handling (no broker)."""

from __future__ import annotations

from argparse import Namespace
from types import SimpleNamespace

import pytest

from monitor import mqtt_topics as mt
from monitor.broker import BrokerError, config_from_args, parse_broker
from monitor.session import Session
from tests.mqtt_broker import site_key_home  # noqa: F401


def test_topics_round_trip_and_names():
    assert mt.topic("clinic", "room-1", "state") == "kapmon/clinic/room-1/state"
    assert mt.parse_topic(mt.data_topic("clinic", "room-1", "readings")) == ("clinic", "room-1", "data/readings")
    assert mt.subscription() == "kapmon/+/+/#" and mt.subscription("north") == "kapmon/north/+/#"
    for bad in ("", "a/b", "a+", "#", ".hidden", "x" * 65, "room 1"):
        with pytest.raises(ValueError):
            mt.check_name("room", bad)
    with pytest.raises(mt.MessageError):
        mt.parse_topic("other/clinic/room/state")
    with pytest.raises(mt.MessageError):
        mt.parse_topic("kapmon/clinic/room/nonsense")


def test_batches_carry_their_cursor_and_reject_disorder():
    b = mt.parse_batch(mt.decode(mt.encode(mt.batch("readings", "s1", 10, [[11, 1.0, "hr", 70.0, "/min", "ox", "ok"],
                                                                          [14, 2.0, "hr", None, "/min", "ox", "no_value"]]))))
    assert (b.after, b.last, b.session) == (10, 14, "s1")
    assert [r[0] for r in b.new_rows(11)] == [14] and b.new_rows(14) == []
    assert mt.batch("events", "s1", 3, [[4, 1.0, "note", {}, None]])["id"] == "s1/events/4"
    for bad in ({"kind": "readings", "session": "s", "after": 5, "last": 5, "rows": [[5]]},
                {"kind": "readings", "session": "s", "after": 0, "last": 2, "rows": [[2], [1]]},
                {"kind": "nope", "session": "s", "after": 0, "last": 0, "rows": []},
                {"kind": "readings"}):
        with pytest.raises(mt.MessageError):
            mt.parse_batch(bad)
    with pytest.raises(mt.MessageError):
        mt.decode(b"[1]")
    with pytest.raises(ValueError):
        mt.encode({"x": float("nan")})


def test_broker_addresses():
    assert parse_broker("mqtt://127.0.0.1") == ("127.0.0.1", 1883, False)
    assert parse_broker("mqtts://broker.clinic:9999") == ("broker.clinic", 9999, True)
    for bad in ("http://x", "mqtt://", "mqtt://x:notaport", "mqtt://x/path"):
        with pytest.raises(BrokerError):
            parse_broker(bad)
    assert config_from_args("mqtt://localhost:1883", Namespace()).loopback
    with pytest.raises(BrokerError, match="credentials"):
        config_from_args("mqtt://10.1.2.3", Namespace())


def _central(tmp_path):
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed")
    from monitor.central import Central, CentralStore

    central = Central(CentralStore(tmp_path / "c.db"), config_from_args("mqtt://127.0.0.1:1", Namespace()))
    sent: list = []
    central.client.publish = lambda topic, payload, qos=0, retain=False: sent.append((topic, unsigned(payload)))
    return central, sent


def unsigned(payload: bytes) -> dict:
    """A command without its signature fields (time, nonce, MAC)."""
    return {k: v for k, v in mt.decode(payload).items() if k not in ("t", "nonce", "mac")}


def deliver(central, leaf: str, payload: dict, room: str = "room-1") -> None:
    central._on_message(None, None, SimpleNamespace(topic=mt.topic("clinic", room, leaf), payload=mt.encode(payload)))


def test_central_applies_each_row_once_and_asks_again_after_a_gap(tmp_path):
    central, sent = _central(tmp_path)
    session = Session("20260101-0000-abcd", "P-1", 1000.0, "iv", 70.0, "kap-iv", "clinical", {"x": 1})
    rows = [[i, 1000.0 + i, "hr", 60.0 + i, "/min", "ox", "ok"] for i in range(1, 31)]

    # Data before the room's state is ignored; the state then asks for everything.
    deliver(central, "data/readings", mt.batch("readings", session.id, 0, rows[:5]))
    assert central.store.session(session.id) is None
    deliver(central, "state", mt.state(session, [], None, {"readings": 5, "events": 0, "alarms": 0}, 1005, 1.0, False))
    assert central.store.session(session.id) == session
    assert sent[-1] == (mt.topic("clinic", "room-1", "cmd"), mt.sync_command(session.id, {}))

    deliver(central, "data/readings", mt.batch("readings", session.id, 0, rows[:10]))
    deliver(central, "data/readings", mt.batch("readings", session.id, 0, rows[:10]))  # a duplicate
    deliver(central, "data/readings", mt.batch("readings", session.id, 5, rows[5:15]))  # overlapping
    assert [r.value for r in central.store.readings(session.id)] == [r[3] for r in rows[:15]]

    central.rooms["clinic/room-1"].last_sync = 0
    deliver(central, "data/readings", mt.batch("readings", session.id, 20, rows[20:25]))  # 16-20 went missing
    assert central.store.count_readings(session.id) == 15
    assert sent[-1][1] == mt.sync_command(session.id, {"readings": 15})
    deliver(central, "data/readings", mt.batch("readings", session.id, 15, rows[15:30]))
    assert [r.value for r in central.store.readings(session.id)] == [r[3] for r in rows]
    assert central.store.cursors(session.id)["readings"] == 30

    # The cursor survives a restart of the central station.
    central2, _ = _central(tmp_path)
    deliver(central2, "state", mt.state(session, [], None, {"readings": 30}, 1030, 1.0, False))
    deliver(central2, "data/readings", mt.batch("readings", session.id, 0, rows))
    assert central2.store.count_readings(session.id) == 30


def test_central_room_status_and_urgency(tmp_path):
    central, _ = _central(tmp_path)
    session = Session("20260101-0000-beef", "P-2", 1000.0, "iv")
    alarm = SimpleNamespace(alarm_id="spo2_low", priority="medium", kind="physiological", message="SpO2 88 < 90",
                            since=1001.0, vital="spo2", value=88.0, acknowledged=False, latched=False)
    deliver(central, "status", mt.status(True), room="a")
    deliver(central, "state", mt.state(session, [alarm], "http://x/live/1", {}, 1002, 1.0, False, "medium"), room="a")
    deliver(central, "status", mt.status(True), room="b")
    deliver(central, "state", mt.state(Session("20260101-0000-f00d", "P-3", 1000.0, "im"), [], None, {}, 1002, 1.0,
                                       False), room="b")
    deliver(central, "status", mt.status(True), room="c")
    deliver(central, "state", mt.state(Session("20260101-0000-cafe", "P-4", 1000.0, "im"), [], None, {}, 1002, 1.0,
                                       False), room="c")
    deliver(central, "status", mt.status(False), room="c")
    assert [r.key for r in central.snapshot()] == ["clinic/c", "clinic/a", "clinic/b"]
    assert central.room("clinic/a").highest_alarm().alarm_id == "spo2_low"
    assert central.room("clinic/c").status == "offline"
