"""Fail-safe recording: a store that refuses writes (full disk, another process's write lock, a read-only
remount) never stops the recorder or the alarms; a HIGH technical alarm says so; everything held is
written once the store accepts writes again, numerics first to keep (waveform is dropped first)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from devices.reading import reading
from devices.virtual.simulator import SimSource
from devices.source import FastClock, ScaledClock
from monitor.session.backlog import Backlog
from monitor.session.hub import LOCK_GRACE_S, Hub
from monitor.session.start import build_plan
from monitor.session.model import Session
from monitor.rules.session_rules import SessionRules
from monitor.session.store import Store
from tests.faults import FlakyStore
from tests.helpers import ListSource, wait_for

START = 1_900_000_000.0


def hub_over(store: Store, items, clock=None) -> Hub:
    session = Session("s1", "P-1", START, "iv", 70.0)
    store.create_session(session)
    return Hub(store, session, [ListSource(items)], clock or FastClock(START), SessionRules(build_plan("kap-iv", "iv", {}), START))


def numerics(items, start: float = 0.0):
    """(t from ``start``, vital, value) of every numeric reading, sorted."""
    return sorted((round(r.t - start, 6), r.vital, r.value) for r in items if getattr(r, "vital", "pleth") != "pleth")


def test_a_failing_store_keeps_readings_raises_high_and_writes_everything_when_it_recovers(tmp_path):
    store = FlakyStore(tmp_path / "k.db")
    items = [reading(float(t), v, 97 if v == "spo2" else 72, "ox") for t in range(120) for v in ("spo2", "pr")]
    items += [reading(float(t), "spo2", v, "ox") for t, v in ((120, 93), (121, 89), (122, 85), (123, 83))]
    hub = hub_over(store, items, ScaledClock(START, 60.0))

    def outage() -> None:
        time.sleep(0.3)
        store.full = True
        time.sleep(0.8)  # about 50 s of session time at 60x
        store.full = False

    threading.Thread(target=outage).start()
    hub.run()
    assert numerics(store.readings("s1"), START) == numerics(items)  # not one numeric reading lost
    failed = [a for _, a in store.alarm_events("s1") if a.alarm_id == "recording_failed"]
    assert [(a.event, a.priority, a.kind) for a in failed] == [("raised", "high", "technical"), ("cleared", "high", "technical")]
    assert "recording failed" in failed[0].message and "disk is full" in failed[0].message
    assert any(a.alarm_id == "spo2_critical" for _, a in store.alarm_events("s1"))  # alarms went on
    assert store.events("s1", kind="end") and not len(hub.backlog)


def test_while_the_store_refuses_writes_the_alarms_go_on(tmp_path):
    store = FlakyStore(tmp_path / "k.db")
    store.create_session(Session("s1", "P-1", START, "iv", 70.0))
    store.full = True
    hub = Hub(store, store.session("s1"), [ListSource([reading(float(t), "spo2", 80, "ox") for t in range(5)])],
              FastClock(START), SessionRules(build_plan("kap-iv", "iv", {}), START))
    hub.run()
    active = {a.alarm_id: a for a in hub.engine.active()}
    assert "spo2_critical" in active and active["recording_failed"].priority == "high"
    assert len(hub.backlog) > 0 and store.count_readings("s1") == 0


def test_waveform_is_dropped_before_numerics_and_the_gap_recorded(tmp_path):
    backlog = Backlog(max_waveform=10, max_numerics=100)
    store = Store(tmp_path / "k.db")
    store.create_session(Session("s1", "P-1", 0.0, "iv", 70.0))
    backlog.hold([reading(i / 75, "pleth", 50, "ox") for i in range(30)] + [reading(1.0, "spo2", 97, "ox")])
    assert len(backlog.waveform) == 30 and not backlog.gaps  # nothing is dropped before a write has failed
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    store.busy_timeout(0.01)
    assert not backlog.write(store, "s1")
    assert len(backlog.waveform) == 10 and len(backlog.numerics) == 1
    gap = backlog.gaps["pleth"]
    assert gap.count == 20 and gap.start == 0 and gap.end == pytest.approx(19 / 75)
    other.execute("ROLLBACK")
    assert backlog.write(store, "s1") and not backlog.gaps
    (event,) = store.events("s1", kind="gap")
    assert event.data["vital"] == "pleth" and event.data["samples"] == 20


def test_another_process_holding_the_write_lock_does_not_stall_or_lose_anything(tmp_path, store):
    items = [reading(float(t), "spo2", 97, "ox") for t in range(200)]
    hub = hub_over(store, items, ScaledClock(START, 50.0))
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    hub.start()
    time.sleep(0.5)
    other.execute("BEGIN IMMEDIATE")  # another process takes the write lock and keeps it
    flushes_before = hub.last_flush
    wait_for(  # the recorder keeps flushing (into memory) instead of waiting, and says it cannot save
        lambda: hub.last_flush > flushes_before and any(a.alarm_id == "recording_failed" for a in hub.engine.active()),
        LOCK_GRACE_S + 15,
        "the recording-failed alarm while flushing goes on",
    )
    shown = hub.view.snapshot()  # what the live page reads: the failure, a live heartbeat, nothing unsaved
    assert shown.recording_failed and shown.flushed > flushes_before
    assert shown.latest["spo2"].t == max(r.t for r in store.readings("s1", vitals=["spo2"]))
    other.execute("ROLLBACK")
    other.close()
    assert hub.finished.wait(15)
    assert numerics(store.readings("s1"), START) == numerics(items)


def test_another_writer_holding_the_lock_briefly_is_contention_no_alarm_and_nothing_lost(tmp_path, store):
    """Several sessions on a busy machine: another connection holds the write lock for a second. The recorder
    holds what it cannot write, raises no recording-failed alarm (held shorter than LOCK_GRACE_S), and writes
    everything once the lock is gone."""
    items = [reading(float(t), "spo2", 97, "ox") for t in range(200)]
    hub = hub_over(store, items, ScaledClock(START, 50.0))
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    hub.start()
    wait_for(lambda: store.count_readings("s1") > 0, 10, "the first readings stored")
    other.execute("BEGIN IMMEDIATE")
    wait_for(lambda: hub.backlog.failure is not None, 10, "a write refused on the lock")
    refused = time.monotonic()
    while time.monotonic() - refused < 1.0:  # the lock stays held for a second, the recorder flushing meanwhile
        assert not any(a.alarm_id == "recording_failed" for a in hub.engine.active())
        time.sleep(0.05)
    other.execute("ROLLBACK")
    other.close()
    assert hub.finished.wait(15)
    assert numerics(store.readings("s1"), START) == numerics(items)
    assert not [a for _, a in store.alarm_events("s1") if a.alarm_id == "recording_failed"]


def test_a_lock_that_outlasts_the_grace_alarms_and_a_full_disk_alarms_at_once(tmp_path):
    store = FlakyStore(tmp_path / "k.db")
    store.create_session(Session("s1", "P-1", START, "iv", 70.0))
    backlog = Backlog()
    backlog.hold([reading(START, "spo2", 97, "ox")])
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store.busy_timeout(0.01)
    assert not backlog.write(store, "s1") and backlog.busy
    assert not backlog.alarming(LOCK_GRACE_S) and backlog.alarming(0.0)  # told once the lock outlasts the grace
    store.full = True
    assert not backlog.write(store, "s1") and not backlog.busy and backlog.alarming(LOCK_GRACE_S)  # at once
    store.full = False
    other.execute("ROLLBACK")
    assert backlog.write(store, "s1") and not backlog.alarming(0.0) and backlog.failing_since is None
    assert store.count_readings("s1") == 1
    store.full = True
    backlog.hold([reading(START + 1, "spo2", 96, "ox")])
    assert not backlog.write(store, "s1") and backlog.alarming(LOCK_GRACE_S)  # a full disk alone: at once


def test_a_session_ending_while_another_writer_holds_the_lock_waits_for_it_and_keeps_everything(tmp_path, store):
    items = [reading(float(t), "spo2", 97, "ox") for t in range(20)]
    hub = hub_over(store, items, ScaledClock(START, 50.0))
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(2.0, lambda: (other.execute("ROLLBACK"), other.close())).start()
    hub.run()  # the source ends while the lock is held
    assert numerics(store.readings("s1"), START) == numerics(items) and store.events("s1", kind="end")
    assert not len(hub.backlog) and not [a for _, a in store.alarm_events("s1") if a.alarm_id == "recording_failed"]


def test_stopping_while_another_writer_holds_the_lock_waits_for_it_and_keeps_everything(tmp_path, store):
    """The nurse ends the session while another connection holds the store's write lock for 3 s more: stop()
    returns once the recorder has written everything, the end included."""
    items = [reading(float(t), "spo2", 97, "ox") for t in range(600)]
    hub = hub_over(store, items, ScaledClock(START, 1.0))
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None, check_same_thread=False)
    hub.start()
    wait_for(lambda: store.count_readings("s1") > 0, 10, "the first readings stored")
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(3.0, lambda: (other.execute("ROLLBACK"), other.close())).start()
    hub.stop()
    assert hub.finished.is_set() and not len(hub.backlog)
    shown = hub.view.snapshot().latest["spo2"]
    assert store.events("s1", kind="end") and store.latest("s1", "spo2").t == shown.t


def test_a_lock_that_outlasts_the_end_is_waited_for_once_and_what_is_held_is_logged(tmp_path, store, monkeypatch, caplog):
    monkeypatch.setattr("monitor.session.hub.BUSY_TIMEOUT_S", 1.0)
    items = [reading(float(t), "spo2", 97, "ox") for t in range(600)]
    hub = hub_over(store, items, ScaledClock(START, 1.0))
    waits: list[float] = []
    write = store.write

    def timed_write(*args, **kwargs):
        began = time.monotonic()
        try:
            return write(*args, **kwargs)
        finally:
            waits.append(time.monotonic() - began)

    monkeypatch.setattr(store, "write", timed_write)
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    hub.start()
    wait_for(lambda: store.count_readings("s1") > 0, 10, "the first readings stored")
    other.execute("BEGIN IMMEDIATE")  # and never lets go
    wait_for(lambda: hub.backlog.failure is not None, 10, "a write refused on the lock")
    waits.clear()
    hub.stop()
    other.execute("ROLLBACK")
    other.close()
    assert hub.finished.is_set() and len(hub.backlog) > 0 and "could not be saved" in caplog.text
    assert sum(w >= 0.9 for w in waits) == 1 and len(waits) >= 2  # the first of the last writes waited, the rest did not


def test_an_import_while_another_writer_holds_the_lock_alarms_when_it_first_failed_and_loses_nothing(tmp_path, store):
    """Nobody watches an import as it runs: the record says when recording first failed, not seconds later."""
    items = [reading(float(t), "spo2", 97, "ox") for t in range(3600)]
    hub = hub_over(store, items, FastClock(START))
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(1.0, lambda: (other.execute("ROLLBACK"), other.close())).start()
    hub.run()
    assert numerics(store.readings("s1"), START) == numerics(items)
    raised = [(t, a) for t, a in store.alarm_events("s1") if a.alarm_id == "recording_failed" and a.event == "raised"]
    assert raised and raised[0][0] - START < 60  # stamped at the first flush that failed, a minute of session at most


needs_mount = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a small tmpfs needs root")


@needs_mount
def test_a_full_disk_for_ten_seconds_loses_no_numeric_reading(tmp_path):
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        store = Store(disk / "k.db")
        session = Session("s1", "P-1", START, "iv", 70.0)
        store.create_session(session)
        source = SimSource("typical_iv", seed=5, pleth=True, duration=400)
        hub = Hub(store, session, [source], ScaledClock(START, 12.0), SessionRules(build_plan("kap-iv", "iv", {}), START))
        hub.start()
        time.sleep(2)
        filler = disk / "filler"
        with filler.open("wb") as fh, contextlib.suppress(OSError):  # fill the disk, until it says it is full
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        deadline = time.time() + 10
        while time.time() < deadline and not any(a.alarm_id == "recording_failed" for a in hub.engine.active()):
            time.sleep(0.1)
        assert any(a.alarm_id == "recording_failed" for a in hub.engine.active()), "the full disk was not noticed"
        time.sleep(10)  # ten seconds of a full disk
        filler.unlink()
        assert hub.finished.wait(60)
        assert numerics(store.readings("s1"), START) == numerics(source.items(START), START)
        failed = [a.event for _, a in store.alarm_events("s1") if a.alarm_id == "recording_failed"]
        assert failed[:2] == ["raised", "cleared"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
