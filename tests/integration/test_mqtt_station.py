"""Bedsides publishing to a real Mosquitto broker and a central station mirroring them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from argparse import Namespace
from pathlib import Path

import pytest

from devices.reading import reading
from monitor.central.broker import BrokerError, config_from_args
from monitor.cli.main import main
from monitor.cli.demo import start_demo
from monitor.session.start import start_session
from monitor.central.site_key import create_key, load_key
from monitor.session.store import Store
from tests.helpers import ROOT, ListSource
from tests.mqtt_broker import (  # noqa: F401
    MOSQUITTO, SKIP_REASON, Broker, Collector, make_password_file, site_key_home, wait_for,
)

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=SKIP_REASON)
paho = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed (pip install -e '.[test]')")

from monitor.central.station import Central, CentralStore  # noqa: E402
from monitor.central.publisher import Publisher  # noqa: E402



@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def config(b: Broker, **kw):
    return config_from_args(b.url, Namespace(**kw))


def record(store: Store, session_id: str) -> tuple[list, list, list]:
    """A session's record without row ids: what the central station must hold exactly."""
    readings = [(r.t, r.vital, r.value, r.unit, r.source, r.status) for r in store.readings(session_id)]
    events = [(e.t, e.kind, e.data, e.who) for e in store.events(session_id)]
    alarms = [a for _, a in store.alarm_events(session_id)]
    return readings, events, alarms


def mirrored(bedside: Store, central: Store, session_id: str) -> bool:
    return central.session(session_id) is not None and record(bedside, session_id) == record(central, session_id)


def test_each_kind_is_published_and_mirrored(tmp_path, broker):
    collector = Collector(broker)
    bedside = Store(tmp_path / "bedside.db")
    hub = start_demo(bedside, "typical_iv", speed=30.0)  # a dose at minute 2, a probe-off at minute 5
    publisher = Publisher(hub, config(broker), "clinic", "room-1", url="http://10.0.0.5:8050/live/x").start()
    central_store = CentralStore(tmp_path / "central.db")
    central = Central(central_store, config(broker)).start()
    try:
        sid = hub.session.id
        def rows(leaf):
            return [row for m in collector.on(leaf) for row in json.loads(m.payload)["rows"]]

        wait_for(lambda: collector.on("/data/alarms") and "dose" in {r[2] for r in rows("/data/events")}, 30,
                 "alarms and a dose")
        states = wait_for(lambda: collector.on("/state"), 5, "room state")
        state = json.loads(states[-1].payload)
        assert state["session"]["id"] == sid and state["session"]["patient"] == hub.session.patient
        assert state["url"] == "http://10.0.0.5:8050/live/x" and "alarms" in state and "cursors" in state
        assert collector.on("/status")[0].payload.startswith(b'{"status":"online"')
        for leaf in ("/data/alarms", "/data/events", "/data/readings", "/state", "/status"):
            assert all(m.qos == 1 for m in collector.on(leaf)), leaf
        assert {"hr", "spo2", "sbp"} <= {r[2] for r in rows("/data/readings")}
        assert {"raised"} <= {r[2] for r in rows("/data/alarms")}
        # Retained state: a subscriber that arrives late gets status and state at once.
        late = Collector(broker)
        wait_for(lambda: late.on("/state") and late.on("/status"), 5, "retained state for a late subscriber")
        assert late.on("/state")[0].retain and late.on("/status")[0].retain
        late.close()

        hub.stop()
        assert publisher.wait_until_published(10)
        wait_for(lambda: mirrored(bedside, central_store, sid), 15, "the central record to equal the bedside's")
        assert central_store.session(sid) == hub.session
        assert central_store.room_of(sid) == ("clinic", "room-1")
        assert any(e.kind == "end" for e in central_store.events(sid))
        room = wait_for(lambda: (r := central.room("clinic/room-1")).ended and r, 5, "the room to show the session ended")
        assert room.status == "online"
    finally:
        publisher.close()
        central.stop()
        collector.close()
        hub.stop()


def test_broker_killed_and_restarted_mid_session(tmp_path, broker):
    bedside = Store(tmp_path / "bedside.db")
    hub = start_demo(bedside, "typical_iv", speed=20.0)
    publisher = Publisher(hub, config(broker), "clinic", "room-2").start()
    central_store = CentralStore(tmp_path / "central.db")
    central = Central(central_store, config(broker)).start()
    sid = hub.session.id
    try:
        wait_for(lambda: central_store.count_readings(sid) > 20, 15, "readings at the central station")
        broker.kill()
        during = bedside.count_readings(sid)
        time.sleep(4)
        assert bedside.count_readings(sid) > during + 20, "the bedside must keep recording without a broker"
        assert central_store.count_readings(sid) <= during
        broker.start()
        wait_for(lambda: publisher.connected and central.connected, 15, "both sides to reconnect")
        time.sleep(3)  # more of the session after the outage
        hub.stop()
        assert publisher.wait_until_published(15)
        wait_for(lambda: mirrored(bedside, central_store, sid), 30, "the central record to equal the bedside's", 0.25)
        ids = [r.id for r in central_store.readings(sid)]
        assert len(ids) == len(set(ids)) == bedside.count_readings(sid)
    finally:
        publisher.close()
        central.stop()
        hub.stop()


BEDSIDE_SCRIPT = textwrap.dedent("""
    import sys, time
    from argparse import Namespace
    from monitor.central.broker import config_from_args
    from monitor.cli.demo import start_demo
    from monitor.central.publisher import Publisher
    from monitor.session.store import Store
    hub = start_demo(Store(sys.argv[2]), "typical_iv", speed=1.0)
    Publisher(hub, config_from_args(sys.argv[1], Namespace()), "clinic", "room-3").start()
    print("started", flush=True)
    time.sleep(600)
""")


def test_bedside_killed_shows_offline_within_15_s(tmp_path, broker):
    central = Central(CentralStore(tmp_path / "central.db"), config(broker)).start()
    proc = subprocess.Popen([sys.executable, "-c", BEDSIDE_SCRIPT, broker.url, str(tmp_path / "bedside.db")],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"started"
        wait_for(lambda: (r := central.room("clinic/room-3")) and r.status == "online" and r.state, 15, "room online")
        proc.kill()
        proc.wait(5)
        killed = time.monotonic()
        wait_for(lambda: central.room("clinic/room-3").status == "offline", 15, "OFFLINE after the bedside died")
        took = time.monotonic() - killed
        assert took < 15
        room = central.snapshot()[0]
        assert room.urgency() == 4, "a room gone offline mid-session sorts near the top"
    finally:
        proc.kill()
        central.stop()


def test_acknowledge_round_trip(tmp_path, broker):
    bedside = Store(tmp_path / "bedside.db")
    items = [reading(float(t), v, val, "ox") for t in range(120) for v, val in (("hr", 72), ("pr", 72), ("spo2", 97))]
    hub = start_session(bedside, [ListSource(items)], patient="ACK-1", route="iv", weight_kg=70.0)
    publisher = Publisher(hub, config(broker), "clinic", "room-4").start()
    central_store = CentralStore(tmp_path / "central.db")
    central = Central(central_store, config(broker)).start()
    sid = hub.session.id
    try:
        hub.add_readings([reading(hub.now(), "spo2", 82, "ox-2")])  # below 85 (a second probe, so no implausible jump): a latching high alarm at once
        room = wait_for(lambda: (r := central.room("clinic/room-4")) and r.highest_alarm() and r, 10, "the alarm")
        top = room.highest_alarm()
        assert top.alarm_id == "spo2_critical" and top.priority == "high" and not top.acknowledged
        assert central.snapshot()[0].urgency() == 5

        ok, message = central.acknowledge("clinic/room-4", "spo2_critical", "RN Lee")
        assert ok, message
        acks = [a for _, a in bedside.alarm_events(sid) if a.event == "acknowledged"]
        assert acks and acks[0].who == "RN Lee (central station)"
        wait_for(lambda: any(a.event == "acknowledged" and a.who == "RN Lee (central station)"
                             for _, a in central_store.alarm_events(sid)), 5, "the mirrored acknowledgement")
        wait_for(lambda: central.room("clinic/room-4").highest_alarm().acknowledged, 5, "acknowledged state")
        audit = [e for e in central_store.audit_log(sid) if e.action == "ack"]
        assert [(e.action, e.alarm_id, e.who) for e in audit] == [("ack", "spo2_critical", "RN Lee")] * 2
        assert audit[0].result == "requested" and audit[1].result.startswith("done")
        bedside_audit = [(action, who, detail["alarm_id"]) for _, _, action, who, detail in bedside.audit()
                         if action == "central_ack"]
        assert bedside_audit == [("central_ack", "RN Lee", "spo2_critical")]

        ok, message = central.acknowledge("clinic/room-4", "spo2_critical", "RN Lee")
        assert not ok and "already acknowledged" in message
        ok, message = central.acknowledge("clinic/room-4", "spo2_critical", "  ")
        assert not ok and "name" in message
    finally:
        publisher.close()
        central.stop()
        hub.stop()


@contextmanager
def published_room(tmp_path, broker, room: str, seconds: int, **session):
    """A session with a pre-dose BP and quiet vitals for ``seconds``, published as ``clinic/<room>`` to a central
    station: yields the hub and the station."""
    cuff = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 118), ("dbp", 76), ("map", 90))]
    items = cuff + [reading(float(t), v, val, "ox") for t in range(1, seconds) for v, val in (("hr", 72), ("spo2", 97))]
    hub = start_session(Store(tmp_path / "bedside.db"), [ListSource(items)], weight_kg=70.0, **session)
    publisher = Publisher(hub, config(broker), "clinic", room).start()
    central = Central(CentralStore(tmp_path / "central.db"), config(broker)).start()
    try:
        yield hub, central
    finally:
        publisher.close()
        central.stop()
        hub.stop()


def test_a_rooms_dosing_hold_reaches_the_central_station_and_lifts_with_the_override(tmp_path, broker):
    from devices.virtual.scenarios import screening

    with published_room(tmp_path, broker, "room-5", 120, patient="HOLD-1", route="iv",
                        screening=screening(45, psychosis=True)) as (hub, central):
        room = wait_for(lambda: (r := central.room("clinic/room-5")) and r.state and r.state.dosing and r, 10, "the state")
        assert room.state.dosing.state == "blocked" and room.state.dosing.headline.startswith("DOSING BLOCKED: psychosis")
        hub.override("psychosis", "Dr Rahman", "remote history, assessed today")
        wait_for(lambda: central.room("clinic/room-5").state.dosing.state == "clear", 10, "the hold to lift at the station")


def test_a_rooms_observations_reach_the_central_station_abnormal_then_overdue(tmp_path, broker):
    from devices.virtual.scenarios import screening
    from monitor.session.model import Dose, Observation

    with published_room(tmp_path, broker, "room-6", 2400, patient="OBS-1", route="im", screening=screening(45),
                        playback=True, kind="training") as (hub, central):  # a clock that may skip ahead
        start = hub.now()
        hub.add_dose(Dose(start, "im", "ketamine", 35.0), "RN Li")
        hub.observe(Observation(start, "moaas", 2, "RN Li"))

        def charts():
            room = central.room("clinic/room-6")
            return {c.scale: c for c in room.state.charts} if room and room.state else {}

        moaas = wait_for(lambda: (c := charts().get("moaas")) and c.level == 2 and c, 15, "MOAA/S 2 at the station")
        assert moaas.status == "not_due" and moaas.t == start
        assert list(charts()) == [r.scale for r in hub.view.snapshot().plan.protocol.observations]
        room = wait_for(lambda: (r := central.room("clinic/room-6")) and any(a.vital == "moaas" for a in r.alarms) and r, 15,
                        "the sedation alarm at the station")
        assert {a.priority for a in room.alarms if a.vital == "moaas"} == {"high", "medium"} and room.refused == 0
        sid = hub.session.id
        wait_for(lambda: [e.data for e in central.store.events(sid, kind="observation")] == [{"scale": "moaas", "level": 2}],
                 15, "the observation mirrored")
        hub.clock.skip_to(start + 21 * 60)  # past MOAA/S's 15 min and its 5 min grace
        wait_for(lambda: charts().get("moaas") and charts()["moaas"].status == "overdue", 15, "MOAA/S overdue at the station")
        assert charts()["breathing"].status == "overdue" and charts()["breathing"].level is None
        assert charts()["nausea"].status == "not_due"  # every 30 min


def test_the_central_store_reads_its_sign_in_audit_beside_its_room_actions(tmp_path):
    store = CentralStore(tmp_path / "c.db")
    store.write_audit(1.0, "sign_in", "nurse.k", {"address": "10.0.0.5"})  # the central page's sign-ins
    store.write_central_audit("clinic", "room1", "s1", "ack", "a1", "nurse.k", "requested")
    assert [(action, who) for _, _, action, who, _ in store.audit()] == [("sign_in", "nurse.k")]
    assert [(e.room, e.action, e.result) for e in store.audit_log("s1")] == [("room1", "ack", "requested")]


def test_refuses_a_remote_broker_without_credentials(tmp_path, capsys):
    with pytest.raises(BrokerError, match="credentials"):
        config_from_args("mqtt://192.0.2.10:1883", Namespace())
    with pytest.raises(BrokerError, match="credentials"):
        config_from_args("mqtt://broker.example:1883", Namespace(mqtt_user="room-1"))
    with pytest.raises(BrokerError, match="not in the address"):
        config_from_args("mqtt://u:p@192.0.2.10:1883", Namespace())
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    with pytest.raises(BrokerError, match="--site-key FILE"):  # a key made here could never match the others'
        config_from_args("mqtts://192.0.2.10", Namespace(mqtt_user="room-1", mqtt_password_file=pw))
    assert main(["central", "--broker", "mqtts://192.0.2.10", "--mqtt-user", "central", "--mqtt-password-file",
                 str(pw), "--db", str(tmp_path / "c.db")]) == 2
    assert "--site-key FILE" in capsys.readouterr().err
    readable = tmp_path / "readable.key"
    readable.write_text("ab" * 32)
    readable.chmod(0o644)
    assert main(["central", "--broker", "mqtt://127.0.0.1:1", "--site-key", str(readable),
                 "--db", str(tmp_path / "c.db")]) == 2
    assert "chmod 600" in capsys.readouterr().err
    key = tmp_path / "site.key"
    create_key(key)
    ok = config_from_args("mqtts://192.0.2.10", Namespace(mqtt_user="room-1", mqtt_password_file=pw, site_key=key))
    assert (ok.port, ok.tls, ok.password, ok.site_key) == (8883, True, "secret", load_key(key))
    assert "secret" not in repr(ok) and ok.site_key.hex() not in repr(ok)

    # The command refuses before a session starts: nothing recorded, nothing published.
    db = tmp_path / "k.db"
    out = subprocess.run([sys.executable, "-m", "monitor.cli.main", "demo", "--db", str(db), "--publish",
                          "mqtt://192.0.2.10:1883"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**{k: v for k, v in os.environ.items() if k != "KAPMON_MQTT_PASSWORD"},
                              "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "refusing to use the broker" in out.stderr, out.stderr
    assert not db.exists() or Store(db).sessions() == []


def test_no_mqtt_import_without_a_broker():
    code = ("import sys; from monitor.cli.main import build_parser; build_parser(); "
            "import monitor.cli.demo, monitor.cli.monitor, monitor.central.publisher; "
            "assert not any(m.startswith('paho') for m in sys.modules), 'paho imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_password_file_and_room_acls(tmp_path):
    users = {"central": "c-pass", "room-1": "r1-pass", "room-2": "r2-pass"}
    pwfile = make_password_file(tmp_path / "passwd", users)
    acl = tmp_path / "acl"
    acl.write_text((ROOT / "sample_data/mosquitto/acl").read_text())
    b = Broker(tmp_path / "secure", password_file=pwfile, acl_file=acl).start()
    bedside = Store(tmp_path / "bedside.db")
    hub = start_demo(bedside, "typical_iv", speed=20.0)
    pws = {}
    for user, password in users.items():
        pws[user] = tmp_path / f"{user}.pw"
        pws[user].write_text(password)
    central_store = CentralStore(tmp_path / "central.db")
    central = Central(central_store, config(b, mqtt_user="central", mqtt_password_file=pws["central"])).start()
    anonymous = Publisher(hub, config(b), "clinic", "room-1")
    wrong = Publisher(hub, config(b, mqtt_user="room-2", mqtt_password_file=pws["room-2"]), "clinic", "room-1")
    right = Publisher(hub, config(b, mqtt_user="room-1", mqtt_password_file=pws["room-1"]), "clinic", "room-1")
    try:
        anonymous.start()
        wrong.start()  # room-2's credentials may not publish as room-1
        time.sleep(2)
        assert not anonymous.connected
        assert wrong.connected, "room-2 signs in, but the ACL keeps it out of room-1's topics"
        assert central.room("clinic/room-1") is None, "nothing from a refused or foreign client"
        right.start()
        wait_for(lambda: central_store.count_readings(hub.session.id) > 5, 15, "readings through the ACL")
        room = central.room("clinic/room-1")
        assert room.status == "online" and room.state is not None
    finally:
        for p in (anonymous, wrong, right):
            if p._thread is not None:
                p.close()
        central.stop()
        hub.stop()
        b.stop()
