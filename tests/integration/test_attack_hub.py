"""Hostile review of the hub's corrections and of resuming after a crash: a failing disk, a nurse
correcting an entry, a recorder that dies between two flushes. The hub is driven by hand in the
test's thread (not started: ``Hub.call`` then runs in the caller), on a clock the test moves."""

from __future__ import annotations

import pytest

from devices.reading import Reading, reading
from devices.screening import complete
from monitor.session.hub import Hub, Scheduled, dosing_data
from monitor.session.start import build_plan, create_session, resume_session, session_rules
from monitor.session.model import Dose, Session, new_session_id
from monitor.rules.session_rules import DosingChange, SessionRules, alarm_events
from monitor.session.store import Store
from monitor.analysis.summary import load_record, summarise
from tests.faults import FlakyStore  # writes fail with 'disk is full' while .full is set

START = 1_900_000_000.0
PAST = 1_700_000_000.0  # a session that started before the wall clock's now (a resume runs on the wall clock)


class HandClock:
    """Session time the test sets."""

    def __init__(self) -> None:
        self.t = START

    def now(self) -> float:
        return self.t


def cuff(t: float, sbp: float, dbp: float, start: float = START) -> list[Reading]:
    return [reading(start + t, v, x, "cuff") for v, x in (("sbp", sbp), ("dbp", dbp), ("map", round((sbp + 2 * dbp) / 3)))]


def hub_on(store: Store, scheduled=()) -> tuple[Hub, HandClock]:
    session = Session("s1", "P-1", START, "iv", 70.0, metadata={"screening": complete(45)})
    store.create_session(session)
    clock = HandClock()
    rules = SessionRules(build_plan("kap-iv", "iv", complete(45)), START, weight_kg=70.0)
    return Hub(store, session, [], clock, rules, scheduled), clock


def feed(hub: Hub, clock: HandClock, seconds: range, spo2: float) -> None:
    """Oximeter readings over ``seconds``, then a flush with the clock at the end of them."""
    for t in seconds:
        hub._pending += [reading(START + t, "spo2", spo2, "ox"), reading(START + t, "pr", 72, "ox")]
    clock.t = START + seconds.stop
    hub._flush()


def test_marking_a_dose_in_error_while_the_disk_is_full_keeps_the_alarms_and_takes_the_dose_out(tmp_path):
    store = FlakyStore(tmp_path / "k.db")
    hub, clock = hub_on(store)
    hub._pending += cuff(0, 118, 76)
    feed(hub, clock, range(0, 60), 97)
    hub.add_dose(Dose(START + 60, "iv", "ketamine", 700.0), "RN Li")  # 700 typed for 70
    store.full = True
    feed(hub, clock, range(60, 70), 97)
    feed(hub, clock, range(70, 75), 90)
    feed(hub, clock, range(75, 80), 86)
    feed(hub, clock, range(80, 120), 80)
    assert {"spo2_critical", "recording_failed"} <= {a.alarm_id for a in hub.active_alarms()}
    (dose,) = store.events("s1", kind="dose")
    try:
        hub.retract(dose.id, "700 typed for 70", "RN Li")
        refused = False
    except ValueError:
        refused = True  # refusing while the store cannot take the correction is a fix too
    active = {a.alarm_id for a in hub.active_alarms()}
    assert {"spo2_critical", "recording_failed"} <= active
    if not refused:
        assert hub.engine.first_dose_t is None and "dose_bounds" not in active


def test_marking_a_hand_taken_bp_in_error_keeps_the_scenarios_scheduled_doses(tmp_path):
    dose = Scheduled(START + 300, "dose", {"route": "iv", "drug": "ketamine", "mg": 35.0, "end": START + 2700})
    hub, clock = hub_on(Store(tmp_path / "k.db"), [dose])
    hub._pending += cuff(0, 118, 76)
    feed(hub, clock, range(0, 60), 97)
    hub.add_manual_bp(150, 80, 103, "RN Li")
    feed(hub, clock, range(60, 61), 97)
    (entry,) = hub.store.events("s1", kind="manual_nibp")
    hub.retract(entry.id, "wrong patient", "RN Li")
    feed(hub, clock, range(61, 600), 97)
    assert hub.engine.first_dose_t == START + 300


def test_resuming_after_a_crash_records_no_transition_twice(store):
    plan = build_plan("kap-iv", "iv", complete(45))
    session = create_session(store, plan, new_session_id(PAST), patient="P-1", weight_kg=70.0, started=PAST, kind="clinical",
                             metadata={}, who=None)
    items = [reading(PAST + t, v, x, "ox") for t in range(301) for v, x in (("spo2", 97), ("pr", 72))]
    items = sorted(items + cuff(0, 120, 78, PAST) + cuff(300, 190, 95, PAST), key=lambda i: i.t)
    live = session_rules(plan, PAST, {}, 70.0)  # what the recorder had done when it was killed
    admitted = live.admit(items)
    live.add(admitted)
    outputs = live.advance(PAST + 300.5)
    store.write(session.id, admitted, [(o.t, "dosing", dosing_data(o.decision), None) for o in outputs
                                       if isinstance(o, DosingChange)], alarm_events(outputs))
    assert [a.event for _, a in store.alarm_events(session.id) if a.alarm_id == "sbp_critical"] == ["raised"]
    hub = resume_session(store, session, [], speed=1.0, protocol="kap-iv")
    assert hub.finished.wait(30)
    assert [a.event for _, a in store.alarm_events(session.id) if a.alarm_id == "sbp_critical"] == ["raised"]
    assert [s.count for s in summarise(load_record(store, session.id)).alarms if s.priority == "high"] == [1]
