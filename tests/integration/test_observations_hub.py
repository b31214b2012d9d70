"""Charted observations through the hub: recorded with who charted them, judged at once (alarm, hold), marked
entered in error (the alarm and hold go, saying why), scripted ones played at their times, and a resumed
session that carries on with the same charted state. The hub is driven by hand in the test's thread."""

from __future__ import annotations

import pytest

from devices.reading import reading
from devices.screening import complete
from monitor.rules.session_rules import SessionRules
from monitor.session.hub import Hub, Scheduled
from monitor.session.model import Dose, Observation, Session
from monitor.session.resume import restore_rules
from monitor.session.start import build_plan
from monitor.session.store import Store

START = 1_900_000_000.0


class HandClock:
    def __init__(self) -> None:
        self.t = START

    def now(self) -> float:
        return self.t


def hub_on(store: Store, scheduled=()) -> tuple[Hub, HandClock]:
    session = Session("s1", "P-1", START, "im", 70.0, "kap-im", metadata={"screening": complete(45)})
    store.create_session(session)
    clock = HandClock()
    rules = SessionRules(build_plan("kap-im", "im", complete(45)), START, weight_kg=70.0)
    return Hub(store, session, [], clock, rules, scheduled), clock


def feed(hub: Hub, clock: HandClock, seconds: range) -> None:
    for t in seconds:
        hub._pending += [reading(START + t, "spo2", 97, "ox"), reading(START + t, "pr", 72, "ox")]
        if t % 300 == 0:
            hub._pending += [reading(START + t, v, x, "cuff") for v, x in (("sbp", 120), ("dbp", 78), ("map", 92))]
    clock.t = START + seconds.stop
    hub._flush()


def dosed_at_one_minute(tmp_path) -> tuple[Store, Hub, HandClock]:
    """A session with a minute of quiet vitals and IM ketamine 50 mg given at its first minute."""
    store = Store(tmp_path / "k.db")
    hub, clock = hub_on(store)
    feed(hub, clock, range(0, 60))
    hub.add_dose(Dose(START + 60, "im", "ketamine", 50.0), "RN Li")
    return store, hub, clock


def test_a_charted_sedation_alarms_holds_and_marked_in_error_both_go_saying_why(tmp_path):
    store, hub, clock = dosed_at_one_minute(tmp_path)
    feed(hub, clock, range(60, 1860))
    hub.observe(Observation(clock.t, "moaas", 2, "RN Li"))
    assert {"moaas_deep", "moaas_low"} <= {a.alarm_id for a in hub.active_alarms()}
    assert hub.decision().state == "gated"
    (event,) = store.events("s1", kind="observation")
    assert (event.data, event.who) == ({"scale": "moaas", "level": 2}, "RN Li")
    said = hub.retract(event.id, "charted for the wrong patient", "RN Li")
    assert "observation" in said and "entered in error" in said
    assert not {"moaas_deep", "moaas_low"} & {a.alarm_id for a in hub.active_alarms()}
    assert hub.decision().state == "clear"
    cleared = [a for _, a in store.alarm_events("s1") if a.event == "cleared" and a.alarm_id == "moaas_deep"]
    assert cleared and "entered in error by RN Li: charted for the wrong patient" in cleared[0].message
    assert store.observations("s1") == []


def test_scripted_observations_are_played_at_their_times_and_judged_from_the_start(tmp_path):
    scripted = [Scheduled(START + 1800, "observation", {"scale": "breathing", "level": 3}, "scenario")]
    store = Store(tmp_path / "k.db")
    hub, clock = hub_on(store, scripted)
    feed(hub, clock, range(0, 60))
    hub.add_dose(Dose(START + 60, "im", "ketamine", 50.0), "RN Li")
    feed(hub, clock, range(60, 1900))
    assert "breathing_obstructed" in {a.alarm_id for a in hub.active_alarms()}
    raised = [a for _, a in store.alarm_events("s1") if a.event == "raised" and a.alarm_id == "breathing_obstructed"]
    assert [a.t for a in raised] == [START + 1800]


def test_a_resumed_session_keeps_the_charting_schedule(tmp_path):
    store, hub, clock = dosed_at_one_minute(tmp_path)
    feed(hub, clock, range(60, 120))
    hub.observe(Observation(clock.t, "moaas", 5, "RN Li"))
    session = store.session("s1")
    fresh = SessionRules(build_plan("kap-im", "im", complete(45)), START, weight_kg=70.0)
    rules, _ = restore_rules(store, session, fresh)
    assert rules.engine.charted("moaas") == START + 120
    events = rules.advance(START + 120 + 900 + 300 + 1)
    assert "moaas_overdue" in {e.alarm_id for e in events if getattr(e, "event", "") == "raised"}


def test_a_charting_marked_in_error_that_leaves_a_scale_overdue_records_the_reminder_raised(tmp_path):
    store, hub, clock = dosed_at_one_minute(tmp_path)
    feed(hub, clock, range(60, 120))
    hub.observe(Observation(clock.t, "moaas", 5, "RN Li"))  # due at 17 min, overdue from 22 min
    feed(hub, clock, range(120, 1000))
    hub.observe(Observation(clock.t, "moaas", 5, "RN Li"))
    feed(hub, clock, range(1000, 1500))
    wrong = store.events("s1", kind="observation")[-1]
    hub.retract(wrong.id, "charted for the wrong patient", "RN Li")
    assert "moaas_overdue" in {a.alarm_id for a in hub.active_alarms()}
    raised = [a for _, a in store.alarm_events("s1") if a.alarm_id == "moaas_overdue" and a.event == "raised"]
    assert [a.t for a in raised] == [START + 1500]  # the history (review, summary, central station) has it too
    assert raised[0].message.endswith("observation entered in error by RN Li: charted for the wrong patient")


def writes_during(store: Store, monkeypatch, act) -> list[tuple[list[str], list[str]]]:
    """The store writes ``act`` makes: for each, the kinds of its events and the ids of its alarm transitions."""
    made: list[tuple[list[str], list[str]]] = []
    write = store.write

    def recording(session_id, readings=(), events=(), alarms=()):
        made.append(([e[1] for e in events], [f"{a.alarm_id} {a.event}" for a in alarms]))
        return write(session_id, readings, events, alarms)

    monkeypatch.setattr(store, "write", recording)
    act()
    monkeypatch.undo()
    return made


def test_an_entry_and_the_alarms_and_hold_it_causes_are_stored_in_one_write(tmp_path, monkeypatch):
    """A recorder killed between storing a charting and storing what the rules decided on it would come back
    with the alarm active (judged again from the record) but no "raised" row in the alarm log: both go in one
    transaction, and so do a dose ordered outside the bounds, its audit row and its alarm."""
    store, hub, clock = dosed_at_one_minute(tmp_path)
    feed(hub, clock, range(60, 1860))
    made = writes_during(store, monkeypatch, lambda: hub.observe(Observation(clock.t, "moaas", 2, "RN Li")))
    ((kinds, alarms),) = [w for w in made if "observation" in w[0]]
    assert kinds == ["observation", "dosing"]
    assert {"moaas_deep raised", "moaas_low raised"} <= set(alarms)
    made = writes_during(
        store, monkeypatch, lambda: hub.add_dose(Dose(clock.t, "im", "ketamine", 900.0), "RN Li", ("Dr Ode", "research protocol"))
    )
    ((kinds, alarms),) = [w for w in made if "dose" in w[0]]
    assert kinds[0] == "dose" and alarms[:2] == ["dose_bounds overridden", "dose_bounds raised"]


def test_an_entry_is_stored_even_when_the_rules_fail_on_it(tmp_path, monkeypatch):
    store, hub, clock = dosed_at_one_minute(tmp_path)

    def broken(*_args, **_kwargs):
        raise RuntimeError("rules broken")

    monkeypatch.setattr(hub.rules, "act", broken)
    with pytest.raises(RuntimeError, match="rules broken"):  # the fault is not hidden from the page
        hub.observe(Observation(clock.t, "moaas", 4, "RN Li"))
    assert [(o.scale, o.level) for o in store.observations("s1")] == [("moaas", 4)]
