import math
import sqlite3
import threading

import pytest

from devices.reading import no_value, reading
from monitor.rules.alarm_events import AlarmEvent
from monitor.session.model import Dose, Session
from monitor.session.store import BUSY_TIMEOUT_S, IDLE_CONNECTIONS, SCHEMA_VERSION, Store, StoreError
from tests.helpers import open_files


def make_session(sid="s1", started=1000.0):
    return Session(sid, "P-001", started, "iv", 70.0, "kap-iv", "clinical", {"screening": {"age": 40}})


def test_round_trip_and_reopen(tmp_path):
    path = tmp_path / "k.db"
    store = Store(path)
    store.create_session(make_session())
    rs = [reading(1001.0, "hr", 72, "ox"), no_value(1002.0, "spo2", "ox"), reading(1003.0, "sbp", 128, "cuff")]
    alarm = AlarmEvent(1003.0, "raised", "sbp_high", "medium", "physiological", "sbp", 128.0, 120.0, "r: sbp_high", "m")
    store.write("s1", rs, [(1001.5, "note", {"text": "anxious"}, "nurse A")], [alarm])
    store.add_dose("s1", Dose(1000.5, "iv", "ketamine", 35.0, 3400.5), who="Dr B")
    store.close()

    again = Store(path)
    assert again.session("s1") == make_session()
    got = again.readings("s1")
    assert [(r.t, r.vital, r.value, r.status) for r in got] == [
        (1001.0, "hr", 72.0, "ok"), (1002.0, "spo2", None, "no_value"), (1003.0, "sbp", 128.0, "ok")]
    assert again.readings("s1", after_id=got[0].id, vitals=["sbp"])[0].value == 128.0
    assert again.latest("s1", "spo2").value is None
    assert [e.data for e in again.events("s1", kind="note")] == [{"text": "anxious"}]
    assert again.doses("s1") == [Dose(1000.5, "iv", "ketamine", 35.0, 3400.5)]
    assert again.events("s1", kind="dose")[0].who == "Dr B"
    assert [a for _, a in again.alarm_events("s1")] == [alarm]


def test_many_sessions_in_one_file(store):
    store.create_session(make_session("a", 1.0))
    store.create_session(make_session("b", 2.0))
    store.write("a", [reading(1.5, "hr", 60, "x")])
    store.write("b", [reading(2.5, "hr", 90, "x")])
    assert [s.id for s in store.sessions()] == ["b", "a"]
    assert [r.value for r in store.readings("a")] == [60.0]


def test_a_numeric_vital_as_columns_is_in_time_order_then_id_order(store):
    """A late reading (a hand-taken BP entered after the monitor's, a device that buffered) is stored after readings
    taken later: the columns put it where its time is, and readings of one time in the order they were stored."""
    store.create_session(make_session())
    store.write("s1", [reading(1010.0, "hr", 70, "ox"), reading(1020.0, "hr", 71, "ox")])
    store.write("s1", [reading(1005.0, "hr", 90, "manual"), reading(1020.0, "hr", 72, "ecg"), no_value(1015.0, "hr", "ox")])
    store.write("s1", [reading(1012.0, "spo2", 97, "ox")])
    ids, t, value, ok, source = store.numeric_columns("s1", "hr")
    assert t.tolist() == [1005.0, 1010.0, 1015.0, 1020.0, 1020.0]
    assert [None if v != v else v for v in value.tolist()] == [90.0, 70.0, None, 71.0, 72.0]
    assert ok.tolist() == [True, True, False, True, True]
    assert source.tolist() == ["manual", "ox", "ox", "ox", "ecg"]
    assert ids[3] < ids[4]
    assert [len(c) for c in store.numeric_columns("s1", "rr")] == [0] * 5


def test_readings_are_append_only(tmp_path, store):
    store.create_session(make_session())
    store.write("s1", [reading(1.0, "hr", 60, "x")])
    conn = sqlite3.connect(tmp_path / "k.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE readings SET value = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM readings")


def test_no_value_can_never_be_stored_as_a_number(tmp_path, store):
    store.create_session(make_session())
    conn = sqlite3.connect(tmp_path / "k.db")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO readings (session_id,t,vital,value,unit,source,status) "
                     "VALUES ('s1',1,'spo2',127,'%','x','no_value')")


def test_wal_mode_and_schema_version(tmp_path):
    Store(tmp_path / "k.db")
    conn = sqlite3.connect(tmp_path / "k.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    with pytest.raises(StoreError, match=f"schema version 99.*version {SCHEMA_VERSION}"):
        Store(tmp_path / "k.db")


def test_not_a_store(tmp_path):
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a kapmon store"):
        Store(bad)


def test_a_failed_write_leaves_nothing_half_written(store):
    store.create_session(make_session())
    with pytest.raises(sqlite3.IntegrityError):
        store.write("nope", [reading(1.0, "hr", 60, "x")])  # unknown session: foreign key
    assert store.count_readings("s1") == 0


def in_thread(work) -> None:
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_the_connections_of_ended_threads_are_reused_or_closed(tmp_path):
    # A threaded web server answers each connection in a new thread: one connection per thread ever seen would
    # keep a file handle and a page cache per request answered.
    path = tmp_path / "k.db"
    store = Store(path)
    store.create_session(make_session())
    for _ in range(100):
        in_thread(store.sessions)
    # this thread's, the one the threads pass on, and one SQLite may keep open while other connections in the
    # process hold locks on the file
    assert open_files(path) <= 3


def test_threads_in_turn_share_one_connection_and_many_at_once_keep_a_few(tmp_path):
    store = Store(tmp_path / "k.db")
    used: list[int] = []
    for _ in range(5):
        in_thread(lambda: used.append(id(store._conn())))
    assert len(set(used)) == 1

    def burst() -> None:
        gate = threading.Barrier(12)
        many = [threading.Thread(target=lambda: (store.sessions(), gate.wait(10))) for _ in range(12)]
        for thread in many:
            thread.start()
        for thread in many:
            thread.join()
        in_thread(store.sessions)  # takes one of the twelve, keeps IDLE_CONNECTIONS and closes the rest

    burst()
    assert len(store._idle) == IDLE_CONNECTIONS
    handles = open_files(tmp_path / "k.db")  # SQLite may keep a closed one's file open while others hold locks
    for _ in range(5):
        burst()
    assert len(store._idle) == IDLE_CONNECTIONS and open_files(tmp_path / "k.db") <= handles


def test_a_thread_that_ended_inside_a_write_leaves_no_lock_and_nothing_written(store):
    store.create_session(make_session())

    def dies_writing() -> None:
        conn = store._conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events (session_id, t, kind, data) VALUES ('s1', 1000.0, 'note', '{}')")

    in_thread(dies_writing)
    in_thread(lambda: store.write("s1", events=[(1001.0, "note", {"text": "next"}, "RN")]))
    assert [e.t for e in store.events("s1")] == [1001.0]


def test_a_connection_passed_on_waits_for_locks_as_long_as_a_new_one(store):
    def recorder() -> None:
        store.busy_timeout(0.2)  # the recorder's own, shorter wait

    in_thread(recorder)
    waits: list[int] = []
    in_thread(lambda: waits.append(store._conn().execute("PRAGMA busy_timeout").fetchone()[0]))
    assert waits == [int(BUSY_TIMEOUT_S * 1000)]


def test_a_running_thread_keeps_its_connection_while_others_come_and_go(store):
    store.create_session(make_session())
    inside, others_done = threading.Event(), threading.Event()
    seen: list = []

    def reader() -> None:
        with store.snapshot():
            seen.append(store.session("s1"))
            inside.set()
            others_done.wait(10)
            seen.append(store.session("s1"))

    thread = threading.Thread(target=reader)
    thread.start()
    assert inside.wait(10)
    for _ in range(5):
        in_thread(store.sessions)
    others_done.set()
    thread.join()
    assert seen == [make_session(), make_session()]


def test_trend_columns_are_the_numeric_readings_after_a_cursor_as_the_arrays_a_trend_draws(store):
    store.create_session(make_session())
    store.write("s1", [reading(1000.0 + i, v, 60 + i, "ox") for i in range(4) for v in ("hr", "spo2", "rr")])
    store.write("s1", [no_value(1005.0, "hr", "ox"), reading(1005.0, "temp", 36.8, "probe")])
    every = [r for r in store.readings("s1") if r.vital in ("hr", "spo2")]
    read = store.trend_columns("s1", 0, ("hr", "spo2"), 100)
    assert read.count == len(every) == 9 and read.last_id == every[-1].id
    times, values = read.points["hr"]
    assert list(times) == [r.t for r in every if r.vital == "hr"]
    assert list(values[:-1]) == [60.0, 61.0, 62.0, 63.0] and math.isnan(values[-1])  # no value: a gap, never a number
    assert list(read.points["spo2"][1]) == [60.0, 61.0, 62.0, 63.0]
    cursor = every[1].id
    two = store.trend_columns("s1", cursor, ("hr", "spo2"), 2)
    assert (two.count, two.last_id) == (2, every[3].id)
    upto = store.trend_columns("s1", cursor, ("hr", "spo2"), 100, through_id=every[4].id)
    assert (upto.count, upto.last_id) == (3, every[4].id)
    recent = store.trend_columns("s1", 0, ("hr", "spo2"), 100, since=1002.0)
    assert list(recent.points["spo2"][0]) == [1002.0, 1003.0] and recent.count == 5
    nothing = store.trend_columns("s1", every[-1].id, ("hr",), 100)
    assert (nothing.count, nothing.last_id, len(nothing.points["hr"][0])) == (0, None, 0)
    with pytest.raises(ValueError, match="waveforms"):
        store.trend_columns("s1", 0, ("hr", "pleth"), 100)
