"""Topic layout, message encoding and checking, the site key, and the central station's duplicate and gap
handling (no broker)."""

from __future__ import annotations

import json
import math
import os
import re
import time
from argparse import Namespace
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from monitor.central import checks as checks
from monitor.central import topics as mt
from monitor.central.broker import BrokerError, config_from_args, parse_broker
from monitor.session.model import Session
from monitor.central.site_key import CLOCK_SKEW_S, SiteKeyError, Verifier, create_key, load_key, sign, site_key
from monitor.central.throttle import Throttle
from tests.mqtt_broker import site_key_home  # noqa: F401

NOW = 1_780_000_000.0


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
    from monitor.central.station import Central, CentralStore

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
    assert central.store.audit_log(session.id)[-1].result == "sent: rows after readings 15, events 0, alarms 0"
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


# --- bounded decoding ------------------------------------------------------------------------

def test_decode_bounds_size_and_nesting_before_parsing():
    assert mt.decode(b'{"a": [[1], {"b": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}]}')["a"][0] == [1]  # brackets in text
    assert mt.nesting_within(b"[" * 32 + b"]" * 32, 32) and not mt.nesting_within(b"[" * 33 + b"]" * 33, 32)
    assert not mt.nesting_within(b'{"a":' * 40 + b"1" + b"}" * 40, 32)
    with pytest.raises(mt.MessageError, match="nested more than 32"):
        mt.decode(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(mt.MessageError, match="bytes, more than"):
        mt.decode(b'{"x": "' + b"a" * mt.MAX_MESSAGE_BYTES + b'"}')
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(mt.MessageError, match="not a number"):
            mt.decode(b'{"x": ' + constant + b"}")
    for junk in (b"\xff\xfe", b'{"a": ', b"1" * 5000, b'"a"'):
        with pytest.raises(mt.MessageError):
            mt.decode(junk)


def test_stored_oddities_are_sanitised_and_batches_fit():
    rows = [(1, [1, NOW, "dose", {"mg": math.nan, "drug": "k" * 10_000, "raw": b"x"}, None]),
            (2, None),  # unreadable data
            (3, [3, NOW, "note", {"text": "fine"}, "RN"])]
    payload, last, problems = mt.encode_batch("events", "s1", 0, rows)
    data = mt.decode(payload)
    assert last == 3 and data["last"] == 3 and [r[0] for r in data["rows"]] == [1, 3]
    assert data["rows"][0][3] == {"mg": None, "drug": "k" * mt.TEXT_MAX, "raw": None}
    assert sorted(problems) == ["row 1: nan is not a number; a text of 10000 characters cut to 4096; a bytes is not a "
                                "JSON value", "row 2: unreadable, left out"]
    assert mt.parse_batch(data).last == 3

    big = [(i, [i, NOW, "note", {"text": "x" * 4000}, None]) for i in range(1, 501)]  # ~2 MB: sent in parts
    payload, last, problems = mt.encode_batch("events", "s1", 0, big)
    assert len(payload) <= mt.MAX_MESSAGE_BYTES and 0 < last < 500 and not problems
    assert mt.decode(payload)["rows"][-1][0] == last
    assert mt.encode_batch("events", "s1", 0, [(1, [1, NOW, "note", {}, None])])[2] == []  # nothing to change


def test_a_row_that_cannot_be_encoded_even_sanitised_is_left_out():
    huge = 10**5000  # a finite int, but more digits than Python turns into text
    rows = [(1, [1, NOW, "note", {"n": huge}, None]), (2, [2, NOW, "note", {"text": "fine"}, None])]
    payload, last, problems = mt.encode_batch("events", "s1", 0, rows)
    assert last == 1 and mt.decode(payload)["rows"] == []
    assert problems == ["row 1: cannot be sent even sanitised, left out"]
    payload, last, problems = mt.encode_batch("events", "s1", 1, rows[1:])
    assert last == 2 and mt.decode(payload)["rows"] == [[2, NOW, "note", {"text": "fine"}, None]] and not problems


def test_batches_are_checked_strictly():
    ok = {"kind": "readings", "session": "s1", "after": 0, "last": 9, "rows": [[3, NOW, "hr"]]}
    assert mt.parse_batch(ok).last == 9  # rows left out by the bedside: the cursor still reaches 9
    for change in ({"after": True}, {"last": 2**60}, {"after": -1}, {"session": "../x"}, {"session": 5},
                   {"rows": [["3"]]}, {"rows": [[]]}, {"rows": "x"}, {"rows": [[10]]}, {"last": -1},
                   {"rows": [[1]] * (mt.MAX_BATCH_ROWS + 1)}):
        with pytest.raises(mt.MessageError):
            mt.parse_batch({**ok, **change})


# --- the site key -------------------------------------------------------------------------

def test_site_key_file(tmp_path, site_key_home):
    key = create_key(tmp_path / "k")
    assert load_key(tmp_path / "k") == key and len(key) == 32
    assert os.stat(tmp_path / "k").st_mode & 0o777 == 0o600
    with pytest.raises(SiteKeyError, match="never replaces"):
        create_key(tmp_path / "k")
    os.chmod(tmp_path / "k", 0o644)
    with pytest.raises(SiteKeyError, match="chmod 600"):
        load_key(tmp_path / "k")
    (tmp_path / "short").write_text("abcd")
    os.chmod(tmp_path / "short", 0o600)
    with pytest.raises(SiteKeyError, match="64 hex digits"):
        load_key(tmp_path / "short")
    with pytest.raises(SiteKeyError, match="--site-key FILE"):
        site_key(None, loopback=False)  # never made for a broker elsewhere: it could not match the others'
    with ThreadPoolExecutor(8) as pool:  # a central station and bedsides started together agree on one key
        made = set(pool.map(lambda _: site_key(None, loopback=True), range(16)))
    assert len(made) == 1 and site_key(None, loopback=False) in made
    assert sorted(p.name for p in site_key_home.iterdir()) == ["site.key"]


def test_signed_commands_refused_when_forged_stale_replayed_or_for_another_room():
    key, topic = bytes(range(32)), "kapmon/clinic/room-1/cmd"
    verifier = Verifier(key)
    cmd = mt.ack_command("r", "s", "spo2_low", "RN")
    signed = sign(key, topic, cmd, NOW)
    assert verifier.refusal(topic, json.loads(json.dumps(signed)), NOW + 1) is None
    assert "replay" in verifier.refusal(topic, signed, NOW + 2)
    assert "not signed" in verifier.refusal(topic, cmd, NOW)
    assert "wrong signature" in verifier.refusal(topic, {**sign(key, topic, cmd, NOW), "who": "Mallory"}, NOW)
    assert "wrong signature" in verifier.refusal(topic, sign(bytes(32), topic, cmd, NOW), NOW)
    assert "wrong signature" in verifier.refusal("kapmon/clinic/room-2/cmd", sign(key, topic, cmd, NOW), NOW)
    assert "check NTP" in verifier.refusal(topic, sign(key, topic, cmd, NOW - CLOCK_SKEW_S - 1), NOW)
    assert "check NTP" in verifier.refusal(topic, sign(key, topic, cmd, NOW + CLOCK_SKEW_S + 1), NOW)
    assert "wrong signature" in verifier.refusal(topic, {**cmd, "mac": 5}, NOW)


def test_throttle_counts_what_it_holds_back():
    throttle = Throttle(60)
    assert [throttle.due("a", t) for t in (0, 1, 2, 30)] == [1, 0, 0, 0]
    assert throttle.due("b", 3) == 1 and throttle.due("a", 61) == 4


# --- what the central station accepts --------------------------------------------------------

SESSION = Session("20260101-0000-abcd", "P-1", NOW - 600, "iv", 70.0, "kap-iv", "clinical", {})


def state(**changes) -> dict:
    return {**mt.state(SESSION, [], "http://10.0.0.5:8050/live/x", {"readings": 5}, NOW, 1.0, False), **changes}


def test_room_state_is_checked_field_by_field():
    good = checks.parse_state(state(), NOW)
    assert good.session == SESSION and good.cursors == {"readings": 5, "events": 0, "alarms": 0} and good.real_time
    alarm = {f: None for f in mt.ALARM_FIELDS} | {"alarm_id": "sbp_high", "priority": "high", "kind": "physiological",
                                                 "message": "SBP 186 >= 180 (kap-iv: sbp_high)", "since": NOW,
                                                 "acknowledged": False, "rule": "kap-iv: sbp_high"}
    assert checks.parse_state(state(alarms=[alarm]), NOW).alarms[0].priority == "high"
    limit = {"id": "spo2_low", "vital": "spo2", "comparison": "below", "threshold": 90, "priority": "medium",
             "text": "spo2 < 90 for 15 s -> medium"}
    assert checks.parse_state(state(limits=[limit]), NOW).limits[0].threshold == 90
    refused = {
        "alarms[0].acknowledged: missing": state(alarms=[{**alarm, "acknowledged": None}]),
        "alarms[0].priority": state(alarms=[{**alarm, "priority": "urgent"}]),
        "alarms[0].since": state(alarms=[{**alarm, "since": "yesterday"}]),
        "alarms: not a list": state(alarms=[alarm] * 101),
        "limits[0].threshold": state(limits=[{**limit, "threshold": True}]),
        "session.route": state(session={**mt.session_dict(SESSION), "route": "iv; DROP"}),
        "session.weight": state(session={**mt.session_dict(SESSION), "weight_kg": 1.0}),
        "session.id": state(session={**mt.session_dict(SESSION), "id": "x/../y"}),
        "session.patient": state(session={**mt.session_dict(SESSION), "patient": "p" * 65}),
        "session: not an object": state(session=None),
        "url: not an http": state(url="javascript:alert(1)"),
        "now: 3600 s ahead of the central station's clock": state(now=NOW + 3600),
        "speed": state(speed=0),
        "cursors.readings": state(cursors={"readings": -1}),
        "audio": state(audio="loud"),
        "now: missing": {k: v for k, v in state().items() if k != "now"},
    }
    for what, bad in refused.items():
        with pytest.raises(mt.MessageError, match=re.escape(what)):
            checks.parse_state(bad, NOW)
    demo = Session("20260101-0000-dddd", "P-2", NOW - 600, "iv", None, "", "demo")
    fast = checks.parse_state(state(session=mt.session_dict(demo), now=NOW + 86_400, speed=30.0), NOW)
    assert not fast.real_time, "a simulated clock may run ahead of the wall clock"


def test_rows_are_checked_against_physical_ranges_and_the_rooms_clock():
    def row(kind: str, *values) -> tuple:
        return checks.checked_row(kind, [1, *values], NOW)

    assert row("readings", NOW, "spo2", 97.0, "%", "ox", "ok") == (NOW, "spo2", 97.0, "%", "ox", "ok")
    assert row("readings", NOW, "hr", None, "/min", "ox", "no_value")[2] is None
    assert row("events", NOW, "dose", {"route": "iv", "drug": "ketamine", "mg": 35, "end": NOW + 2400}, "RN")[1] == "dose"
    assert row("alarms", NOW, "raised", "spo2_low", "medium", "physiological", "spo2", 88.0, 90.0, "r", "m", None, "ox")
    refused = {
        "spo2 500 is outside 0-100": ("readings", NOW, "spo2", 500.0, "%", "ox", "ok"),
        "hr -40 is outside": ("readings", NOW, "hr", -40.0, "/min", "ox", "ok"),
        "a number exactly when": ("readings", NOW, "hr", 70.0, "/min", "ox", "no_value"),
        "a number exactly when ": ("readings", NOW, "hr", None, "/min", "ox", "ok"),
        "unit: hr is in /min": ("readings", NOW, "hr", 70.0, "bpm", "ox", "ok"),
        "value: True is not": ("readings", NOW, "hr", True, "/min", "ox", "ok"),
        "t: 61 s ahead": ("readings", NOW + CLOCK_SKEW_S + 1, "hr", 70.0, "/min", "ox", "ok"),
        "t: inf is not": ("readings", math.inf, "hr", 70.0, "/min", "ox", "ok"),
        "vital": ("readings", NOW, "mood", 7.0, "", "ox", "ok"),
        "fields": ("readings", NOW, "hr"),
        "dose mg: 1e+308": ("events", NOW, "dose", {"route": "iv", "drug": "k", "mg": 1e308}, None),
        "dose mg: True": ("events", NOW, "dose", {"route": "iv", "drug": "k", "mg": True}, None),
        "dose route": ("events", NOW, "dose", {"route": "rectal", "drug": "k", "mg": 5}, None),
        "dose drug": ("events", NOW, "dose", {"route": "iv", "drug": "k" * 65, "mg": 5}, None),
        "dose end": ("events", NOW, "dose", {"route": "iv", "drug": "k", "mg": 5, "end": NOW - 1}, None),
        "data: not an object": ("events", NOW, "note", "text", None),
        "who": ("events", NOW, "note", {}, "w" * 101),
        "event": ("alarms", NOW, "exploded", "a", "high", "physiological", None, None, None, "r", "m", None, None),
        "value: spo2 150": ("alarms", NOW, "raised", "a", "high", "physiological", "spo2", 150.0, None, "r", "m",
                            None, None),
    }
    for what, (kind, *values) in refused.items():
        with pytest.raises(mt.MessageError, match=re.escape(what.strip())):
            row(kind, *values)


def test_an_offline_room_keeps_its_last_unacknowledged_high_alarm(tmp_path):
    central, _ = _central(tmp_path)
    alarm = SimpleNamespace(alarm_id="spo2_critical", priority="high", kind="physiological", message="SpO2 82 < 85",
                            since=NOW, vital="spo2", value=82.0, limit=85.0, rule="", acknowledged=False,
                            latched=True, response="Stimulate, give oxygen")
    deliver(central, "status", mt.status(True))
    deliver(central, "state", mt.state(SESSION, [alarm], None, {}, time.time(), 1.0, False, "high"))
    deliver(central, "status", mt.status(False))
    room = central.room("clinic/room-1")
    assert room.status == "offline" and room.highest_alarm().alarm_id == "spo2_critical" and room.urgency() == 5
    deliver(central, "state", {"session": "junk"}, room="room-2")
    assert central.room("clinic/room-2").unreadable and central.room("clinic/room-2").urgency() == 4
    assert [r.key for r in central.snapshot()] == ["clinic/room-1", "clinic/room-2"]


def test_a_room_whose_state_stops_is_offline_whatever_its_status_says(tmp_path):
    from monitor.central.station import SILENT_S

    central, _ = _central(tmp_path)
    deliver(central, "status", mt.status(True))
    deliver(central, "state", mt.state(SESSION, [], None, {}, time.time(), 1.0, False))
    assert central.room("clinic/room-1").status == "online"
    central.rooms["clinic/room-1"].state_received -= SILENT_S + 1  # no state (the heartbeat) since then
    room = central.room("clinic/room-1")
    assert room.status == "offline" and time.time() - room.status_changed > SILENT_S and room.urgency() == 4
    deliver(central, "status", mt.status(True))  # a forged retained "online" changes nothing
    assert central.snapshot()[0].status == "offline"


def test_a_reply_counts_only_from_the_room_that_was_asked(tmp_path):
    import threading

    central, _ = _central(tmp_path)
    done = threading.Event()
    central._replies["r1"] = (mt.topic("clinic", "room-1", "reply"), done, [])
    answer = mt.reply("r1", True, "acknowledged")
    deliver(central, "reply", sign(central.config.site_key, mt.topic("clinic", "room-2", "reply"), answer, time.time()),
            room="room-2")
    assert not done.is_set() and "sent to another room" in central.room("clinic/room-2").refusal
    deliver(central, "reply", answer)  # unsigned
    assert done.is_set() and central._replies["r1"][2][0][0] is False


def test_observation_state_alarms_limits_and_rows_are_accepted_and_checked_strictly():
    chart = {"scale": "moaas", "status": "overdue", "level": 2, "t": NOW - 1500}
    charts = checks.parse_state(state(charts=[chart, {"scale": "nausea", "status": "due", "level": None, "t": None}]), NOW).charts
    assert charts == (checks.RoomChart("moaas", "overdue", 2, NOW - 1500), checks.RoomChart("nausea", "due", None, None))
    assert checks.parse_state(state(), NOW).charts == ()
    assert checks.parse_state({k: v for k, v in state().items() if k != "charts"}, NOW).charts == ()  # an older bedside
    alarm = {f: None for f in mt.ALARM_FIELDS} | {"alarm_id": "moaas_deep", "priority": "high", "kind": "physiological",
                                                 "message": "MOAA/S 2", "since": NOW, "acknowledged": False,
                                                 "vital": "moaas", "value": 2.0, "limit": 2.0, "rule": "kap-im: moaas_deep"}
    assert checks.parse_state(state(alarms=[alarm]), NOW).alarms[0].vital == "moaas"
    limit = {"id": "moaas_deep", "vital": "moaas", "comparison": "at_most", "threshold": 2, "priority": "high",
             "text": "moaas <= 2 -> high"}
    assert checks.parse_state(state(limits=[limit]), NOW).limits[0].vital == "moaas"
    refused = {
        "charts[0].scale: 'rass' is not one of": state(charts=[{**chart, "scale": "rass"}]),
        "charts[0].level: MOAA/S level 6 is not one of 0-5": state(charts=[{**chart, "level": 6}]),
        "charts[0].level: MOAA/S level True": state(charts=[{**chart, "level": True}]),
        "charts[0].level: a charted level comes with the time": state(charts=[{**chart, "t": None}]),
        "charts[0].status": state(charts=[{**chart, "status": "late"}]),
        "charts[0].t: 3600 s ahead of the room's clock": state(charts=[{**chart, "t": NOW + 3600}]),
        "charts[1].scale: moaas is listed twice": state(charts=[chart, chart]),
        "charts: not a list of at most 5": state(charts=[chart] * 6),
        "charts[0]: not an object": state(charts=["moaas"]),
        "alarms[0].vital: 'rass'": state(alarms=[{**alarm, "vital": "rass"}]),
        "limits[0].vital: 'mood'": state(limits=[{**limit, "vital": "mood"}]),
    }
    for what, bad in refused.items():
        with pytest.raises(mt.MessageError, match=re.escape(what)):
            checks.parse_state(bad, NOW)

    def row(kind: str, *values) -> tuple:
        return checks.checked_row(kind, [1, *values], NOW)

    assert row("events", NOW, "observation", {"scale": "moaas", "level": 2}, "RN Li")[2] == {"scale": "moaas", "level": 2}
    assert row("alarms", NOW, "raised", "moaas_deep", "high", "physiological", "moaas", 2.0, 2.0, "r", "m", None, None)
    refused_rows = {
        "observation data: unknown observation scale 'rass'": ("events", NOW, "observation", {"scale": "rass", "level": 1}),
        "observation data: MOAA/S level 9": ("events", NOW, "observation", {"scale": "moaas", "level": 9}),
        "observation data: MOAA/S level None": ("events", NOW, "observation", {"scale": "moaas"}),
        "value: moaas 7 is outside 0-5": ("alarms", NOW, "raised", "a", "high", "physiological", "moaas", 7.0, None, "r",
                                          "m", None, None),
        "vital": ("alarms", NOW, "raised", "a", "high", "physiological", "rass", 1.0, None, "r", "m", None, None),
    }
    for what, (kind, *values) in refused_rows.items():
        with pytest.raises(mt.MessageError, match=re.escape(what)):
            row(kind, *values, None) if kind == "events" else row(kind, *values)
