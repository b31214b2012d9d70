"""The live read model (``monitor.session.live_view``) and the live page's tick that reads it."""

from __future__ import annotations

import ast
import re
import threading
from pathlib import Path

import numpy as np

from devices.reading import Samples, reading
from devices.virtual.scenarios import screening
from monitor.session.live_view import LiveView, first_dose_time, recent_entries
from monitor.session.model import Session
from monitor.rules.session_rules import SessionRules
from monitor.session.start import build_plan, session_rules
from monitor.session.store import Store, StoredEvent, Written
from tests.helpers import ROOT
from tests.tick_probe import CAUGHT_UP, running, ticks

LAYOUTS = ROOT / "layouts"
START = 1_800_000_000.0


def shape(sql: str) -> str:
    """A statement with its numbers and quoted values blanked: what it asks, not where its cursor is."""
    return re.sub(r"'[^']*'|\b\d+(\.\d+)?\b", "?", sql)


def test_a_steady_tick_runs_a_few_statements_whatever_the_session_length(tmp_path):
    """Ten minutes or two hours into a session, a tick once the page has caught up runs the same three
    statements (events, trend rows, pleth samples after the page's cursor), reading only what is new."""
    measured = {}
    for seconds in (600, 7200):
        with running(tmp_path / f"h{seconds}.db", seconds, pleth=False) as (store, hub):
            measured[seconds] = ticks(store, hub, 4)[CAUGHT_UP:]
    for steady in measured.values():
        assert all(len(t.statements) <= 3 for t in steady), [t.statements for t in steady]
        assert all(" id>" in sql for t in steady for sql in t.statements), "a read that is not after a cursor"
    short, long = ([shape(s) for t in measured[h] for s in t.statements] for h in (600, 7200))
    assert short == long
    assert max(t.steps for t in measured[7200]) <= 2 * max(t.steps for t in measured[600]) + 200, \
        "a steady tick's SQLite work grows with the session"


FORBIDDEN_MODULES = {"monitor.rules.alarms"}
FORBIDDEN_ATTRIBUTES = {"engine", "rules", "active_alarms"}  # the hub's alarm engine, its rules, a call into its thread


def engine_uses(path: Path) -> list[str]:
    """Where a layouts module imports the alarm engine's module or reaches into a hub's engine."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_MODULES:
            found.append(f"{path.name}:{node.lineno} imports {node.module}")
        elif isinstance(node, ast.Import) and any(a.name in FORBIDDEN_MODULES for a in node.names):
            found.append(f"{path.name}:{node.lineno} imports the alarm engine")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"{path.name}:{node.lineno} uses .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "call" and isinstance(node.value, ast.Name) \
                and "hub" in node.value.id:
            found.append(f"{path.name}:{node.lineno} calls into the hub's thread")
        elif isinstance(node, ast.Name) and node.id == "AlarmEngine":
            found.append(f"{path.name}:{node.lineno} names AlarmEngine")
    return found


def test_no_page_touches_the_alarm_engine():
    modules = sorted(LAYOUTS.glob("*.py"))
    assert len(modules) > 10
    assert [use for path in modules for use in engine_uses(path)] == []


def test_the_engine_check_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from monitor.rules.alarms import AlarmEngine\nx = hub.engine.plan\ny = live_hub.call(f)\nz = AlarmEngine\n")
    assert len(engine_uses(bad)) == 4


def session_with(tmp_path: Path, *writes: dict) -> tuple[Store, SessionRules, LiveView]:
    """A stored session (its ``writes`` to the store made first), its rules and a live view of it."""
    store = Store(tmp_path / "k.db")
    session = Session("s1", "P-1", START, "iv", 70.0)
    store.create_session(session)
    for write in writes:
        store.write("s1", **write)
    rules = session_rules(build_plan(None, "iv", screening(age=45)), START, {}, 70.0)
    return store, rules, LiveView(store, session, rules.engine, rules.decision)


def test_every_snapshot_is_whole_while_the_hub_writes(tmp_path):
    """A writer publishing cuff readings that alternately raise and clear an alarm, a reader taking snapshots
    meanwhile: each snapshot's alarms, groups and latest values belong to its own cursor."""
    _, rules, view = session_with(tmp_path)
    updates = 1500
    done = threading.Event()

    def hub() -> None:
        for k in range(1, updates + 1):
            r = reading(START + 10 * k, "sbp", 200 if k % 2 else 120, "cuff")
            rules.add([r])
            rules.advance(r.t + 1)
            view.saved([r], [(r.t, "note", {"text": str(k)}, "RN Li")], Written(reading_id=k, event_id=k))
            view.publish(rules.engine, rules.decision, float(k), r.t + 1, None)
        done.set()

    writer = threading.Thread(target=hub)
    writer.start()
    seen = 0
    last = 0
    while not done.is_set() or seen == 0:
        snap = view.snapshot()
        assert snap.version >= last
        last = snap.version
        if snap.reading_id == 0:
            continue
        seen += 1
        sbp = snap.latest["sbp"]
        ids = {a.alarm_id for a in snap.alarms}
        assert sbp.id == snap.reading_id == snap.event_id == snap.flushed
        assert sbp.t + 1 == snap.at
        assert ("sbp_high" in ids) == (sbp.value == 200), (snap.reading_id, ids)
        assert ids == {a.alarm_id for g in snap.groups for a in g.alarms}
        assert len(snap.nibp) == snap.reading_id and snap.nibp[-1] == sbp.t
        assert snap.entries[0].data["text"] == str(snap.reading_id)
    writer.join()
    assert seen > 0 and view.snapshot().reading_id == updates


def test_a_snapshot_never_changes_once_published(tmp_path):
    _, rules, view = session_with(tmp_path)
    before = view.snapshot()
    view.saved([reading(START + 1, "hr", 80, "ox")], [], Written(reading_id=1))
    assert "hr" not in before.latest and "hr" not in view.snapshot().latest  # saved, not yet published
    after = view.publish(rules.engine, rules.decision, 1.0, START + 1, None)
    assert after.latest["hr"].value == 80 and "hr" not in before.latest


def test_a_write_shows_each_vitals_last_reading_with_its_stored_id(tmp_path):
    """One write of several readings of a vital with pleth chunks between them: the live view's latest value of
    each vital is its last reading, with the id the store gave it, and every cuff time is kept in order."""
    store, rules, view = session_with(tmp_path)
    pleth = [Samples(START + k, "pleth", 75.0, np.linspace(0.0, 1.0, 75), "au", "ox") for k in range(3)]
    batch = [reading(START, "hr", 80, "ox"), pleth[0], reading(START, "spo2", 97, "ox"), reading(START + 1, "hr", 81, "ox"),
             reading(START + 1, "sbp", 120, "cuff"), pleth[1], reading(START + 2, "hr", 82, "ox"), pleth[2],
             reading(START + 2, "sbp", 124, "cuff")]
    view.saved(batch, [], store.write("s1", readings=batch))
    latest = view.publish(rules.engine, rules.decision, 1.0, START + 3, None).latest
    stored = {r.vital: r for r in store.latest_readings("s1") if r.vital != "pleth"}
    assert list(latest) == ["hr", "spo2", "sbp"] and latest == stored
    assert [latest[v].value for v in latest] == [82, 97, 124]
    assert view.snapshot().nibp == (START + 1, START + 2)


def test_a_resumed_session_starts_from_what_is_stored(tmp_path):
    """A hub attached to a session with a past (a resume) shows its latest values, cuff times, doses and
    entries from the store, corrections applied."""
    dose = {"route": "iv", "drug": "ketamine", "mg": 35.0, "end": None}
    _, _, view = session_with(
        tmp_path,
        {"readings": [reading(START + 5, "sbp", 130, "cuff"), reading(START + 6, "hr", 70, "ox"),
                      reading(START + 7, "pleth", 55, "ox"), reading(START + 8, "sbp", None, "cuff")]},
        {"events": [(START + 10, "dose", dose, "RN Li"), (START + 20, "dose", dose, "RN Li"),
                    (START + 30, "note", {"text": "calm"}, "RN Li")]},
        {"events": [(START + 40, "correction", {"corrects": 1, "kind": "dose", "reason": "typo"}, "RN Li")]})
    snap = view.snapshot()
    assert snap.latest["sbp"].value is None and snap.latest["hr"].value == 70 and "pleth" not in snap.latest
    assert snap.nibp == (START + 5,) and snap.reading_id == 4 and snap.event_id == 4
    assert snap.first_dose == START + 20  # the first dose was entered in error
    assert [e.id for e in snap.entries] == [3, 2]


def test_recent_entries_and_the_first_dose_leave_out_what_was_entered_in_error():
    def event(i: int, kind: str, **data: object) -> StoredEvent:
        return StoredEvent(i, START + i, kind, data, "RN Li")

    events = [event(1, "dose", route="iv", drug="ketamine", mg=35.0), event(2, "note", text="a"),
              event(3, "phase"), event(4, "dose", route="iv", drug="ketamine", mg="lots"),
              event(5, "dose", route="iv", drug="ketamine", mg=20.0), event(6, "manual_nibp", sbp=120)]
    assert [e.id for e in recent_entries(events, {2}, limit=3)] == [6, 5, 4]
    assert first_dose_time([e for e in events if e.kind == "dose"], {1}) == START + 5  # 4's amount is invalid
    assert first_dose_time([], ()) is None


def test_a_live_view_that_cannot_update_never_stops_the_recorder(tmp_path):
    """A fault while publishing is logged; the hub keeps storing and judging, and pages keep the last whole
    snapshot (whose old heartbeat then makes the page say NO DATA)."""
    from monitor.session.start import start_session
    from tests.helpers import ListSource, wait_for

    store = Store(tmp_path / "k.db")
    items = [reading(float(t), v, 72, "ox") for t in range(60) for v in ("hr", "pr")]
    hub = start_session(store, [ListSource(items)], patient="P-1", route="iv", weight_kg=70.0,
                        screening=screening(age=45))
    try:
        wait_for(lambda: hub.view.snapshot().reading_id > 0, 10, "a first snapshot")

        def broken(*_args: object) -> None:
            raise RuntimeError("no memory for a snapshot")

        hub.view.publish = broken  # type: ignore[method-assign]
        kept = hub.view.snapshot()
        stored = store.last_reading_id(hub.session.id)
        wait_for(lambda: store.last_reading_id(hub.session.id) > stored + 4, 10, "the recorder to keep storing")
        assert hub.view.snapshot() is kept and hub.running
    finally:
        hub.stop()


def test_news_is_a_numeric_an_event_or_a_change_of_alarm_not_a_waveform_or_the_clock(tmp_path):
    """A page is woken for what it must show at once; pleth samples and a flush with nothing new wait for
    its 1-s tick."""
    _, rules, view = session_with(tmp_path)
    wake = threading.Event()
    with view.watching(wake):
        counts = [view.news_count]

        def publish(readings=(), events=(), reading_id=0, event_id=0, at=START + 1) -> None:
            if readings or events:
                view.saved(list(readings), list(events), Written(reading_id=reading_id, event_id=event_id))
            rules.add([r for r in readings if r.vital != "pleth"])
            rules.advance(at)
            view.publish(rules.engine, rules.decision, at, at, None)
            counts.append(view.news_count)

        publish(at=START + 1)  # a flush with nothing new
        publish([reading(START + 1.5, "pleth", 0.4, "ox")], reading_id=1)  # a waveform sample
        assert counts[-1] == counts[0] and not wake.is_set()
        publish([reading(START + 2, "hr", 80, "ox")], reading_id=2, at=START + 2)
        assert counts[-1] == counts[-2] + 1 and wake.is_set()
        wake.clear()
        publish(events=[(START + 3, "note", {"text": "calm"}, "RN Li")], event_id=1, at=START + 3)
        assert counts[-1] == counts[-2] + 1 and wake.is_set()
        wake.clear()
        publish([reading(START + 4, "sbp", 200, "cuff")], reading_id=3, at=START + 5)  # raises an alarm
        assert any(a.vital == "sbp" for a in view.snapshot().alarms) and counts[-1] == counts[-2] + 1
    wake.clear()
    publish([reading(START + 6, "hr", 81, "ox")], reading_id=4, at=START + 6)
    assert counts[-1] == counts[-2] + 1 and not wake.is_set()  # no longer watching: no longer woken


def test_an_alarm_acknowledged_is_news_though_no_row_was_read(tmp_path):
    _, rules, view = session_with(tmp_path)
    r = reading(START + 1, "sbp", 200, "cuff")
    view.saved([r], [], Written(reading_id=1))
    rules.add([r])
    rules.advance(START + 2)
    view.publish(rules.engine, rules.decision, START + 2, START + 2, None)
    before = view.news_count
    alarm = next(a for a in rules.engine.active() if a.vital == "sbp")
    rules.act(START + 3, lambda engine: engine.acknowledge(alarm.alarm_id, "RN Li", START + 3))
    view.publish(rules.engine, rules.decision, START + 3, START + 3, None)
    assert view.news_count == before + 1
