"""Crash safety: a recorder killed with SIGKILL loses at most the last second, and restarting it with
``--resume`` continues the same session with its alarm engine rebuilt from the store. One recorder per
session: a second one is refused while the first runs, and a busy port starts nothing."""

import os
import signal
import socket
import time

import pytest

from devices.reading import reading
from devices.source import ScaledClock
from monitor.rules.session_rules import SessionRules
from monitor.session.hub import Hub, Scheduled
from monitor.cli.main import main
from monitor.session.resume import find_unfinished, is_finished, restore_rules
from monitor.session.start import StartError, build_plan, resume_session, start_session
from monitor.session.model import Session
from monitor.session.lock import SessionLock, SessionLocked, lock_path
from monitor.session.store import Store
from tests.faults import RECORDER_DEVICE, kill_recorder, query, start_recorder, stored, wait_for
from tests.helpers import ListSource

START = 1_000_000.0


def test_sigkill_loses_at_most_one_second_and_resume_continues_the_same_session(tmp_path):
    db = tmp_path / "k.db"
    first = start_recorder(db)
    try:
        wait_for(lambda: stored(db) > 200)
        time.sleep(1.5)
        killed_at, lost = kill_recorder(db, first)
    finally:
        first.kill()
    [(session_id, last_t, n_before)] = query(db, "SELECT session_id, MAX(t), COUNT(*) FROM readings")
    print(f"killed at {killed_at:.3f}, last stored reading {last_t:.3f}: {lost:.3f} s lost, {n_before} readings kept")
    assert lost <= 1.0
    assert not query(db, "SELECT 1 FROM events WHERE kind='end'")

    second = start_recorder(db)
    try:
        lines = [second.stdout.readline() for _ in range(2)]  # "resuming ...", then "serving ..."
        wait_for(lambda: stored(db, after=killed_at) > 50)
        second.send_signal(signal.SIGTERM)
        out = "".join(lines) + second.communicate(timeout=10)[0]
    finally:
        second.kill()
    assert f"resuming session {session_id}" in out
    assert query(db, "SELECT COUNT(*) FROM sessions") == [(1,)]
    assert query(db, "SELECT DISTINCT session_id FROM readings") == [(session_id,)]
    kinds = [k for (k,) in query(db, "SELECT kind FROM events ORDER BY id")]
    assert kinds[0] == "protocol" and "resumed" in kinds and kinds[-1] == "end", (second.returncode, out)  # SIGTERM ends it cleanly


def run_session(tmp_path):
    store = Store(tmp_path / "k.db")
    session = Session("s1", "P-1", START, "iv", 70.0, protocol="kap-iv")
    store.create_session(session)
    items = [reading(float(t), v, x, "cuff") for t in range(0, 300, 60) for v, x in (("sbp", 128), ("dbp", 82), ("map", 97))]
    items += [reading(float(t), "spo2", 97 if t < 400 else 85, "ox") for t in range(0, 600)]
    items += [reading(float(t), "pr", 72, "ox") for t in range(0, 600)]
    items.sort(key=lambda r: r.t)
    dose = Scheduled(START + 320, "dose", {"route": "iv", "drug": "ketamine", "mg": 35.0, "end": START + 2720})
    rules = SessionRules(build_plan("kap-iv", "iv", {}), START)
    hub = Hub(store, session, [ListSource(items)], ScaledClock(START, 1000.0), rules, [dose])
    hub.run()
    return store, session, rules.engine


def test_the_alarm_engine_is_rebuilt_from_the_store(tmp_path):
    store, session, engine = run_session(tmp_path)
    active = engine.active()
    assert any(a.alarm_id == "spo2_low" for a in active)
    store.write("s1", alarms=engine.acknowledge("spo2_low", "nurse K", START + 599))
    rules, last_t = restore_rules(store, session, SessionRules(build_plan("kap-iv", "iv", {}), START))
    restored = rules.engine
    assert restored.baseline == engine.baseline and restored.baseline.get("sbp") == 128
    assert restored.first_dose_t == engine.first_dose_t == START + 320 and restored.last_dose_end == START + 2720
    assert [(a.alarm_id, a.acknowledged) for a in restored.active()] == [(a.alarm_id, a.acknowledged) for a in engine.active()]
    assert last_t == max(r.t for r in store.readings("s1"))


def test_only_an_unfinished_session_of_the_same_patient_and_devices_is_resumed(store):
    for sid, patient, devices in (("a", "P-1", ["sim://x"]), ("b", "P-1", ["sim://y"]), ("c", "P-2", ["sim://x"])):
        store.create_session(Session(sid, patient, START, "iv", 70.0, "kap-iv", metadata={"devices": devices}))
    assert find_unfinished(store, "P-1", "iv", ["sim://x"]).id == "a"
    assert find_unfinished(store, "P-1", "im", ["sim://x"]) is None
    store.write("a", events=[(START + 10, "end", {}, None)])
    assert is_finished(store, "a")
    assert find_unfinished(store, "P-1", "iv", ["sim://x"]) is None
    assert find_unfinished(store, "P-1", "iv", ["sim://y"]).id == "b"


def test_resume_refuses_other_rules_than_the_session_ran_under(store):
    session = Session("s1", "P-1", START, "iv", 70.0, protocol="kap-im")
    store.create_session(session)
    try:
        resume_session(store, session, [], protocol="kap-iv")
    except Exception as exc:
        assert "kap-im" in str(exc)
    else:
        raise AssertionError("resumed under other rules")


# --- one recorder per session -------------------------------------------------------------------------

def test_a_second_recorder_is_refused_while_the_first_runs_and_kill_9_frees_the_session(tmp_path):
    db = tmp_path / "k.db"
    first = start_recorder(db)
    try:
        wait_for(lambda: stored(db) > 0)
        [(session_id,)] = query(db, "SELECT DISTINCT session_id FROM readings")
        second = start_recorder(db)
        try:
            out = second.communicate(timeout=60)[0]
        finally:
            second.kill()  # one that attached (no lock) must not outlive the test
        assert second.returncode == 2, out
        assert out.splitlines() == [f"kapmon monitor: session {session_id} is being recorded by another kapmon recorder "
                                    f"(pid {first.pid}): stop that recorder first (a second one would record "
                                    "everything twice)"]
        assert query(db, "SELECT kind FROM events WHERE kind IN ('resumed', 'end')") == []
        assert first.poll() is None  # the first goes on recording
        kill_recorder(db, first)
    finally:
        first.kill()
    third = start_recorder(db)  # at once: the kernel dropped the killed recorder's lock
    try:
        assert third.stdout.readline().strip() == f"kapmon monitor: resuming session {session_id}"
        assert "serving" in third.stdout.readline()  # SIGTERM is handled from here on: it ends the session
    finally:
        third.send_signal(signal.SIGTERM)
        third.communicate(timeout=10)
        third.kill()
    assert [k for (k,) in query(db, "SELECT kind FROM events WHERE kind IN ('resumed', 'end') ORDER BY id")] \
        == ["resumed", "end"]


def long_source():
    return ListSource([reading(600.0, "spo2", 97.0, "ox")])


def test_a_session_is_locked_while_its_hub_runs_and_freed_when_it_ends(store):
    hub = start_session(store, [long_source()], patient="P-1", route="iv", weight_kg=70.0)
    try:
        with pytest.raises(StartError, match=f"session {hub.session.id} is being recorded .*pid {os.getpid()}"):
            resume_session(store, hub.session, [long_source()])
        assert lock_path(store.path, hub.session.id).read_text() == f"{os.getpid()}\n"
    finally:
        hub.stop()

    def lock_free() -> bool:
        try:
            SessionLock(store.path, hub.session.id).release()
        except SessionLocked:
            return False
        return True

    wait_for(lock_free)
    with pytest.raises(StartError, match="has ended: nothing to resume"):
        resume_session(store, hub.session, [long_source()])
    assert [e.kind for e in store.events(hub.session.id)].count("resumed") == 0


def test_an_odd_session_id_gets_a_safe_lock_file_name(tmp_path):
    path = lock_path(tmp_path / "k.db", "../../etc/passwd")
    assert path.parent == tmp_path / "k.db.locks" and "/" not in path.name and ".." not in path.name


@pytest.mark.parametrize("command", [
    ["monitor", "--device", RECORDER_DEVICE, "--patient", "P-PORT", "--weight", "70", "--route", "iv"],
    ["demo"],
])
def test_a_busy_port_starts_nothing_and_leaves_the_store_untouched(command, tmp_path, capsys):
    db = tmp_path / "k.db"
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code = main([*command, "--db", str(db), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [f"kapmon {command[0]}: cannot serve on 127.0.0.1 port {port}: Address already in use "
                                "(another program is using it: stop that program or choose another --port)"]
    assert not db.exists()
