"""A hostile peer, a broken bedside and a failing store against the central station and a bedside, through a
real Mosquitto broker: what they send is refused where it arrives, and every other room carries on."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from argparse import Namespace

import pytest

from devices.reading import reading
from monitor.central import topics as mt
from monitor.central.broker import config_from_args
from monitor.session.start import start_session
from monitor.session.model import Session
from monitor.central.site_key import create_key, sign
from monitor.session.store import Store
from tests.helpers import ListSource
from tests.mqtt_broker import MOSQUITTO, SKIP_REASON, Broker, Collector, site_key_home, wait_for  # noqa: F401

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=SKIP_REASON)
pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (pip install -e '.[test]')")

from layouts.central import create_central_app  # noqa: E402
from monitor.central.station import Central, CentralStore  # noqa: E402
from monitor.central.publisher import Publisher  # noqa: E402

TICK_OUTPUTS = [("c-rooms", "children"), ("c-broker", "children"), ("c-broker", "className"), ("c-audio", "data")]


class Station:
    """A broker, a central station and one genuine bedside (clinic/room-1, 1 Hz SpO2 and HR for 10 min)."""

    def __init__(self, tmp_path) -> None:
        self.tmp = tmp_path
        self.broker = Broker(tmp_path / "broker").start()
        self.config = config_from_args(self.broker.url, Namespace())
        self.bedside = Store(tmp_path / "bedside.db")
        items = [reading(float(t), v, x, "ox") for t in range(600) for v, x in (("hr", 72), ("pr", 72), ("spo2", 97))]
        self.hub = start_session(self.bedside, [ListSource(items)], patient="P-1", route="iv", weight_kg=70.0)
        self.publisher = Publisher(self.hub, self.config, "clinic", "room-1").start()
        self.central_store = CentralStore(tmp_path / "central.db")
        self.central = Central(self.central_store, self.config).start()
        self.peer = Collector(self.broker)
        self.sid = self.hub.session.id
        wait_for(lambda: self.central_store.count_readings(self.sid) > 3, 15, "room-1 mirrored")

    def keeps_mirroring(self, what: str) -> None:
        """Room-1's new readings still reach the central store (nothing froze it)."""
        before = self.central_store.count_readings(self.sid)
        wait_for(lambda: self.central_store.count_readings(self.sid) > before + 3, 15, f"room-1 mirrored after {what}")
        latest = self.central_store.latest(self.sid, "spo2")
        assert latest.value == 97 and abs(latest.t - time.time()) < 5

    def restart_central(self) -> None:
        self.central.stop()
        self.central = Central(self.central_store, self.config).start()
        wait_for(lambda: self.central.room("clinic/room-1") and self.central.room("clinic/room-1").state, 10,
                 "room-1 after the restart")

    def close(self) -> None:
        self.peer.close()
        self.publisher.close()
        self.central.stop()
        self.hub.stop()
        self.broker.stop()


@pytest.fixture
def station(tmp_path):
    s = Station(tmp_path)
    yield s
    s.close()


def tick(central: Central) -> tuple[int, dict | None]:
    """The station page's once-a-second update, as the browser asks for it: (HTTP status, response)."""
    app = create_central_app(central)
    body = {"output": ".." + "...".join(f"{i}.{p}" for i, p in TICK_OUTPUTS) + "..",
            "outputs": [{"id": i, "property": p} for i, p in TICK_OUTPUTS],
            "inputs": [{"id": "c-tick", "property": "n_intervals", "value": 1}],
            "changedPropIds": ["c-tick.n_intervals"], "state": []}
    response = app.server.test_client().post("/_dash-update-component", json=body)
    return response.status_code, response.get_json(silent=True)


def tile_text(response: dict, room: str) -> str:
    """The visible text of one room's tile in a tick response."""
    tiles = response["response"]["c-rooms"]["children"]
    tile = next(t for t in tiles if t["props"].get("data-room") == room)

    def words(node) -> str:
        if isinstance(node, (str, int, float)):
            return str(node)
        if isinstance(node, list):
            return " ".join(words(n) for n in node)
        if isinstance(node, dict):
            return words(node.get("props", {}).get("children", ""))
        return ""

    return words(tile)


def state_of(session: Session, **changes) -> dict:
    state = mt.state(session, [], None, {}, time.time(), 1.0, False)
    state.update(changes)
    return state


def test_a_bad_retained_state_never_blanks_the_station_even_after_a_restart(station):
    bad = Session("20260101-0000-bad1", "P-9", time.time(), "iv")
    alarm = {"alarm_id": "spo2_low", "priority": "high", "kind": "physiological", "message": "SpO2 88 < 90",
             "since": time.time()}
    station.peer.publish("kapmon/clinic/room-9/status", mt.status(True), retain=True)
    station.peer.publish("kapmon/clinic/room-9/state", state_of(bad, alarms=[alarm]), retain=True)  # no "acknowledged"
    for restarted in (False, True):
        if restarted:
            station.restart_central()
        wait_for(lambda: station.central.room("clinic/room-9"), 10, "room-9's messages at the central station")
        status, response = tick(station.central)
        assert status == 200, "one room's bad state must never fail the station page"
        assert "97" in tile_text(response, "clinic/room-1") and "LIVE" in tile_text(response, "clinic/room-1")
        room9 = tile_text(response, "clinic/room-9")
        assert "NO VALID DATA" in room9 and "acknowledged: missing" in room9
    assert station.central_store.session(bad.id) is None, "nothing of a refused state is stored"
    station.keeps_mirroring("a bad retained state")


def test_a_room_cannot_write_another_rooms_session(station):
    """Room-2 names room-1's session: its state and its batch (a cursor jump, impossible values, times far in
    the future) are refused; room-1 is neither changed nor frozen, also after the central station restarts."""
    sid, now = station.sid, time.time()
    cursor = station.central_store.cursors(sid)["readings"]
    station.peer.publish("kapmon/clinic/room-2/status", mt.status(True))
    station.peer.publish("kapmon/clinic/room-2/state", state_of(station.hub.session, cursors={"readings": 10**12}))
    jump = mt.batch("readings", sid, cursor, [[10**12, now + 10**6, "spo2", 500.0, "%", "evil", "ok"]])
    station.peer.publish("kapmon/clinic/room-2/data/readings", jump)
    station.keeps_mirroring("room-2's forgeries")  # published after them: they have been handled
    assert station.central_store.room_of(sid) == ("clinic", "room-1")
    assert all(r.source == "ox" and r.t < time.time() + 1 for r in station.central_store.readings(sid))
    room2 = station.central.room("clinic/room-2")
    assert room2.state is None and room2.refused == 2 and "belongs to clinic/room-1" in room2.refusal

    station.restart_central()
    station.peer.publish("kapmon/clinic/room-2/data/readings", jump)
    station.keeps_mirroring("a restart")
    assert not [r for r in station.central_store.readings(sid) if r.source == "evil"]
    assert "belongs to clinic/room-1" in station.central.room("clinic/room-2").refusal


def test_impossible_rows_are_refused_row_by_row_and_the_rest_kept(station):
    """A room's own batch with SpO2 500, HR -40, a "no value" carrying a number, a wrong unit, a time an hour
    ahead and NaN: those rows are refused (counted on the room), the good rows around them are stored."""
    session = Session("20260101-0000-0a0a", "P-5", time.time() - 60, "im")
    station.peer.publish("kapmon/clinic/room-5/status", mt.status(True))
    station.peer.publish("kapmon/clinic/room-5/state", state_of(session))
    wait_for(lambda: station.central_store.session(session.id), 10, "room-5's session")
    now = time.time()
    rows = [[1, now - 5, "spo2", 96.0, "%", "ox", "ok"],
            [2, now - 4, "spo2", 500.0, "%", "ox", "ok"],
            [3, now - 4, "hr", -40.0, "/min", "ox", "ok"],
            [4, now - 3, "hr", 80.0, "/min", "ox", "no_value"],
            [5, now - 3, "sbp", 120.0, "kPa", "cuff", "ok"],
            [6, now + 3600, "hr", 70.0, "/min", "ox", "ok"],
            [7, now - 2, "hr", True, "/min", "ox", "ok"],
            [8, now - 1, "hr", 71.0, "/min", "ox", "ok"]]
    station.peer.publish("kapmon/clinic/room-5/data/readings", mt.batch("readings", session.id, 0, rows))
    wait_for(lambda: station.central_store.cursors(session.id)["readings"] == 8, 10, "the batch applied")
    assert [(r.vital, r.value) for r in station.central_store.readings(session.id)] == [("spo2", 96.0), ("hr", 71.0)]
    room = station.central.room("clinic/room-5")
    assert room.refused == 1 and room.refusal.startswith("data/readings: 6 row(s) refused, the first row 2: value: spo2 500")

    nan = mt.encode(mt.batch("readings", session.id, 8, [[9, now, "hr", 70.0, "/min", "ox", "ok"]]))
    station.peer.publish("kapmon/clinic/room-5/data/readings", nan.replace(b"70.0", b"NaN"))
    wait_for(lambda: station.central.room("clinic/room-5").refused == 2, 10, "NaN refused")
    assert "NaN is not a number" in station.central.room("clinic/room-5").refusal
    dose = mt.batch("events", session.id, 0, [[1, now, "dose", {"route": "iv", "drug": "ketamine", "mg": 1e308}, "x"]])
    station.peer.publish("kapmon/clinic/room-5/data/events", dose)
    wait_for(lambda: station.central.room("clinic/room-5").refused == 3, 10, "the impossible dose refused")
    assert station.central_store.doses(session.id) == []
    station.keeps_mirroring("room-5's bad rows")


def test_huge_and_deeply_nested_messages_never_stop_a_bedside_or_the_station(station, caplog):
    """100k nested brackets on room-1's cmd topic (and on the station's topics) are refused before parsing;
    the bedside keeps publishing and, after the broker restarts, reconnects."""
    caplog.set_level(logging.WARNING)
    bomb = b"[" * 100_000 + b"]" * 100_000
    station.peer.publish("kapmon/clinic/room-1/cmd", bomb)
    station.peer.publish("kapmon/clinic/room-7/state", bomb)
    station.peer.publish("kapmon/clinic/room-7/data/readings", b'{"rows": "' + b"x" * 2**21 + b'"}')  # 2 MB
    station.keeps_mirroring("a nesting bomb")

    station.broker.kill()
    wait_for(lambda: not station.publisher.connected, 15, "the bedside to see the broker gone")
    station.broker.start()
    wait_for(lambda: station.publisher.connected and station.central.connected, 20, "both to reconnect")
    wait_for(lambda: station.central.room("clinic/room-1").status == "online", 10, "room-1 online again")
    station.keeps_mirroring("a broker restart")
    assert "nested more than 32 deep" in caplog.text
    assert station.central.room("clinic/room-7").refused == 2
    assert "more than 1048576" in station.central.room("clinic/room-7").refusal
    assert any(a[2] == "central_command_refused" and "nested" in a[4]["reason"] for a in station.bedside.audit())


def test_forged_replayed_and_stale_commands_are_refused_and_audited_on_both_sides(station):
    station.hub.add_readings([reading(station.hub.now(), "spo2", 82, "ox-2")])  # a latching high alarm at once
    wait_for(lambda: (r := station.central.room("clinic/room-1")) and r.highest_alarm(), 10, "the alarm")
    topic, sid = "kapmon/clinic/room-1/cmd", station.sid
    ack = mt.ack_command("r-1", sid, "spo2_critical", "Mallory")
    station.peer.publish(topic, ack)
    answer = json.loads(wait_for(lambda: station.peer.on("room-1/reply"), 10, "an answer to the forgery")[0].payload)
    assert answer["ok"] is False and "not signed" in answer["message"]
    assert not [a for _, a in station.bedside.alarm_events(sid) if a.event == "acknowledged"]
    other_key = station.tmp / "other.key"
    forgeries = {
        "wrong signature": sign(create_key(other_key), topic, ack, time.time()),
        "from this machine's clock": sign(station.config.site_key, topic, ack, time.time() - 3600),
        "wrong signature ": sign(station.config.site_key, "kapmon/clinic/room-2/cmd", ack, time.time()),  # another room's
    }
    for payload in forgeries.values():
        station.peer.publish(topic, payload)
    reasons = wait_for(lambda: (found := [a[4]["reason"] for a in station.bedside.audit()
                                          if a[2] == "central_command_refused"]) and len(found) >= 3 and found,
                       10, "the bedside's audit of the refusals")
    assert any("not signed with the site key" in r for r in reasons)
    for why in forgeries:
        assert any(why.strip() in r for r in reasons), (why, reasons)
    replies = wait_for(lambda: len(station.peer.on("room-1/reply")) >= 4 and station.peer.on("room-1/reply"), 10,
                       "refusals answered")
    assert all(json.loads(m.payload)["ok"] is False and "refused by the bedside" in json.loads(m.payload)["message"]
               for m in replies)
    assert not [a for _, a in station.bedside.alarm_events(sid) if a.event == "acknowledged"]
    audit = wait_for(lambda: [e for e in station.central_store.audit_log(sid) if e.action == "forged ack"], 10,
                     "the central station's audit of the forgery")
    assert audit[0].who == "Mallory" and "refused by the bedside" in audit[0].result

    # A genuine acknowledgement, captured on the broker and sent again, is a replay: refused.
    ok, message = station.central.acknowledge("clinic/room-1", "spo2_critical", "RN Lee")
    assert ok, message
    genuine = next(m for m in station.peer.on("room-1/cmd") if json.loads(m.payload).get("who") == "RN Lee")
    station.peer.publish(topic, genuine.payload)
    wait_for(lambda: any(a[2] == "central_command_refused" and "replay" in a[4]["reason"]
                         for a in station.bedside.audit()), 10, "the replay refused")
    accepted = [(a[3], a[4]["alarm_id"]) for a in station.bedside.audit() if a[2] == "central_ack"]
    assert accepted == [("RN Lee", "spo2_critical")]
    assert [a.who for _, a in station.bedside.alarm_events(sid) if a.event == "acknowledged"] == [
        "RN Lee (central station)"]


def test_stored_oddities_never_stop_publishing(station, caplog):
    """Rows that older code could write straight into the bedside store (a dose of NaN, Infinity, 1e308 or
    true mg, a 1 MB drug name, unreadable data, an infinite reading) are sanitised or left out and logged;
    everything after them is still published."""
    caplog.set_level(logging.WARNING)
    now = time.time()
    with sqlite3.connect(station.bedside.path) as db:
        for mg in ("NaN", "Infinity", "1e308", "true"):
            db.execute("INSERT INTO events (session_id, t, kind, data, who) VALUES (?,?,?,?,?)",
                       (station.sid, now, "dose", f'{{"route": "iv", "drug": "ketamine", "mg": {mg}, "end": null}}', "old"))
        db.execute("INSERT INTO events (session_id, t, kind, data, who) VALUES (?,?,?,?,?)",
                   (station.sid, now, "dose", json.dumps({"route": "iv", "drug": "k" * 1_000_000, "mg": 20}), "old"))
        db.execute("INSERT INTO events (session_id, t, kind, data, who) VALUES (?,?,?,?,?)",
                   (station.sid, now, "note", "{not json", "old"))
        db.execute("INSERT INTO readings (session_id, t, vital, value, unit, source, status) VALUES (?,?,?,?,?,?,?)",
                   (station.sid, now, "spo2", float("inf"), "%", "old", "ok"))
    station.hub.add_event("note", {"text": "after the oddities"}, "RN Lee")
    wait_for(lambda: any(e.data.get("text") == "after the oddities" for e in station.central_store.events(station.sid)),
             15, "the note written after the oddities")
    station.keeps_mirroring("stored oddities")
    assert station.central_store.doses(station.sid) == [], "no impossible dose reaches the mirror"
    assert not [r for r in station.central_store.readings(station.sid) if r.source == "old"]
    assert "published with changes or rows left out" in caplog.text
    refusal = wait_for(lambda: station.central.room("clinic/room-1").refused and station.central.room("clinic/room-1"),
                       5, "the refused rows counted").refusal
    assert "row(s) refused" in refusal


def test_a_signed_acknowledgement_whose_name_is_not_one_line_is_recorded_as_one_and_still_mirrored(station):
    """A name with a line break and a terminal escape, sent by the site's own station (or typed there): the room
    records it as one line of text, so the central station's check of the mirrored row takes it."""
    station.hub.add_readings([reading(station.hub.now(), "spo2", 82, "ox-2")])  # a latching high alarm at once
    wait_for(lambda: (r := station.central.room("clinic/room-1")) and r.highest_alarm(), 10, "the alarm")
    topic, sid = "kapmon/clinic/room-1/cmd", station.sid
    ack = mt.ack_command("r-9", sid, "spo2_critical", "RN\x1b[2J\nLee")
    station.peer.publish(topic, sign(station.config.site_key, topic, ack, time.time()))
    recorded = "RN[2J Lee (central station)"
    wait_for(lambda: [a for _, a in station.bedside.alarm_events(sid) if a.event == "acknowledged" and a.who == recorded],
             10, "the acknowledgement, its name on one line")
    wait_for(lambda: [a for _, a in station.central_store.alarm_events(sid) if a.event == "acknowledged" and a.who == recorded],
             10, "the mirrored acknowledgement")
    assert station.central.room("clinic/room-1").refused == 0
