import asyncio
import queue
import sqlite3
import time

import numpy as np
import pytest

from devices.reading import Condition, Samples, no_value, reading
from devices.source import FastClock, ScaledClock, WallClock
from monitor.session.hub import Hub, Scheduled
from monitor.rules.session_rules import SessionRules
from monitor.session.start import build_plan
from monitor.session.model import Session
from monitor.session.store import Store
from tests.helpers import ListSource, wait_for

START = 1_000_000.0


def new_hub(tmp_path, items, clock=None, **kw):
    store = Store(tmp_path / "k.db")
    session = Session("s1", "P-1", START, "iv", 70.0)
    store.create_session(session)
    return store, Hub(store, session, [ListSource(items)], clock or FastClock(START), SessionRules(build_plan("kap-iv", "iv", {}), START), **kw)


def test_every_item_is_stored_before_listeners_see_it(tmp_path):
    items = [reading(float(i), "hr", 60 + i % 5, "ox") for i in range(300)] + [
        Condition(300.0, "sensor_off", "ox", vitals=("spo2",)), no_value(300.0, "spo2", "ox")]
    store, hub = new_hub(tmp_path, items)
    seen_before_stored = []

    def listener(batch, _alarms):
        stored = store.count_readings("s1")
        seen_before_stored.extend(i for i in batch if stored == 0)

    hub.listeners.append(listener)
    hub.run()
    assert not seen_before_stored
    rows = store.readings("s1")
    assert len(rows) == 301
    assert [r.t for r in rows[:3]] == [START, START + 1, START + 2]
    assert rows[-1].value is None and rows[-1].status == "no_value"
    assert store.events("s1", kind="condition")[0].data["condition"] == "sensor_off"
    assert store.events("s1", kind="end")


def test_sustained_breach_raises_and_acknowledge_is_audited(tmp_path):
    items = [reading(float(i), "spo2", 97 if i < 20 else 86, "ox") for i in range(60)]
    store, hub = new_hub(tmp_path, items, clock=ScaledClock(START, 200.0))
    hub.start()
    assert hub.finished.wait(5)
    raised = [a for _, a in store.alarm_events("s1") if a.event == "raised"]
    assert [a.alarm_id for a in raised] == ["spo2_low"]
    assert raised[0].t >= START + 20 + 15  # the 15 s condition delay is honoured
    assert raised[0].message == "SpO2 86 — below 90"
    hub.acknowledge("spo2_low", "nurse K")
    acks = [a for _, a in store.alarm_events("s1") if a.event == "acknowledged"]
    assert acks and acks[0].who == "nurse K"


def test_a_failing_source_becomes_a_technical_condition_not_a_crash(tmp_path):
    class Broken:
        uri = "test://broken"

        async def stream(self, clock):
            yield reading(clock.now(), "hr", 70, "b")
            raise OSError("cable pulled")

    store = Store(tmp_path / "k.db")
    session = Session("s1", "P-1", START, "iv", 70.0)
    store.create_session(session)
    good = ListSource([reading(float(i), "spo2", 97, "ox") for i in range(60)])  # past the technical delay
    hub = Hub(store, session, [Broken(), good], FastClock(START), SessionRules(build_plan("kap-iv", "iv", {}), START))
    hub.run()
    conds = [e.data for e in store.events("s1", kind="condition")]
    assert conds[0]["condition"] == "disconnected" and "cable pulled" in conds[0]["detail"]
    assert store.count_readings("s1") == 61
    assert any(a.kind == "technical" for _, a in store.alarm_events("s1"))


def test_scheduled_dose_is_recorded_at_its_time(tmp_path):
    items = [reading(float(i), "hr", 70, "ox") for i in range(0, 100, 10)]
    dose = Scheduled(START + 30, "dose", {"route": "iv", "drug": "ketamine", "mg": 35.0, "end": START + 2430})
    store, hub = new_hub(tmp_path, items, clock=ScaledClock(START, 500.0), scheduled=[dose])
    hub.start()
    assert hub.finished.wait(5)
    doses = store.doses("s1")
    assert len(doses) == 1 and doses[0].t == START + 30 and doses[0].mg == 35.0


def test_stop_ends_an_endless_source_and_keeps_its_data(tmp_path):
    class Endless:
        uri = "test://endless"

        async def stream(self, clock):
            while True:
                await clock.sleep_until(clock.now() + 0.01)
                yield reading(clock.now(), "hr", 70, "e")

    store = Store(tmp_path / "k.db")
    session = Session("s1", "P-1", START, "iv", 70.0)
    store.create_session(session)
    hub = Hub(store, session, [Endless()], ScaledClock(START, 1.0), SessionRules(build_plan("kap-iv", "iv", {}), START), flush_interval=0.05).start()
    wait_for(lambda: store.count_readings("s1") > 5, 10, "readings from the endless source")
    hub.stop()
    assert not hub.running
    n = store.count_readings("s1")
    assert n > 5
    assert store.events("s1", kind="end")


def test_a_running_recorder_leaves_a_heartbeat_other_processes_can_read(tmp_path):
    store, hub = new_hub(tmp_path, [reading(float(i), "hr", 60, "ox") for i in range(5)])
    before = time.time()
    hub.run()
    beats = Store(tmp_path / "k.db").heartbeats()  # a second connection, as another process would open
    assert set(beats) == {"s1"} and beats["s1"] >= before


def test_a_critical_bp_asks_every_cuff_that_can_for_a_repeat_measurement(tmp_path):
    class Cuff(ListSource):
        asked: list[float] = []

        def request_measurement(self) -> bool:
            self.asked.append(1.0)
            return True

    items = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 120), ("dbp", 78), ("map", 92))]
    items += [reading(400.0, v, x, "cuff") for v, x in (("sbp", 186), ("dbp", 96), ("map", 126))]
    store = Store(tmp_path / "k.db")
    session = Session("s1", "P-1", START, "iv", 70.0)
    store.create_session(session)
    cuff = Cuff(items)
    dose = Scheduled(START + 60, "dose", {"route": "iv", "drug": "ketamine", "mg": 35.0, "end": None})
    Hub(store, session, [cuff], FastClock(START), SessionRules(build_plan("kap-iv", "iv", {}), START), [dose]).run()
    assert cuff.asked == [1.0]  # once for the reading that asked for it


def live_hub(tmp_path, items, **answers):
    from monitor.session.start import start_session
    from devices.virtual.scenarios import screening

    store = Store(tmp_path / "live.db")
    hub = start_session(store, [ListSource(items)], patient="E-1", route="iv", weight_kg=70.0,
                        screening=screening(45, **answers))
    return store, hub


def test_a_wrong_hand_taken_bp_marked_entered_in_error_leaves_alarms_summaries_and_dosing(tmp_path):
    from monitor.analysis.summary import load_record, summarise

    cuff = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 118), ("dbp", 76), ("map", 90))]
    store, hub = live_hub(tmp_path, cuff + [reading(float(t), "spo2", 97, "ox") for t in range(1, 60)])
    try:
        hub.add_manual_bp(250, 120, 163, "RN Okafor")  # typed 250/120 for 150/80
        wait = time.time() + 5
        while not any(a.alarm_id == "sbp_critical" for a in hub.active_alarms()) and time.time() < wait:
            time.sleep(0.05)
        assert hub.decision().state == "blocked"
        (entry,) = store.events(hub.session.id, kind="manual_nibp")
        said = hub.retract(entry.id, "typed 250/120 for 150/80", "RN Okafor")
        assert "entered in error by RN Okafor" in said
        assert not any(a.alarm_id == "sbp_critical" for a in hub.active_alarms())
        assert hub.decision().state == "clear"
        cleared = [a for _, a in store.alarm_events(hub.session.id) if a.alarm_id == "sbp_critical" and a.event == "cleared"]
        assert cleared and "entered in error by RN Okafor: typed 250/120" in cleared[0].message
        record = load_record(store, hub.session.id)
        assert [r.value for r in record.readings if r.vital == "sbp"] == [118]
        assert summarise(record).peak_sbp.value == 118 and [e.kind for e in record.retracted] == ["manual_nibp"]
        with pytest.raises(ValueError, match="already marked"):
            hub.retract(entry.id, "again", "RN Okafor")
        with pytest.raises(ValueError, match="no dose, note, hand-taken BP or observation"):
            hub.retract(999999, "x", "RN Okafor")
    finally:
        hub.stop()


def test_a_dose_entered_in_error_leaves_the_record_and_the_rules(tmp_path):
    from monitor.session.model import Dose
    from monitor.analysis.summary import load_record

    cuff = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 118), ("dbp", 76), ("map", 90))]
    store, hub = live_hub(tmp_path, cuff + [reading(float(t), "spo2", 97, "ox") for t in range(1, 60)])
    try:
        hub.add_dose(Dose(hub.now(), "iv", "ketamine", 700.0), "RN Li")  # 700 for 70.0 mg
        assert any(a.alarm_id == "dose_bounds" for a in hub.active_alarms())
        (dose,) = store.events(hub.session.id, kind="dose")
        hub.retract(dose.id, "700 typed for 70", "RN Li")
        assert not any(a.alarm_id == "dose_bounds" for a in hub.active_alarms())
        assert hub.engine.first_dose_t is None and store.doses(hub.session.id) == []
        assert load_record(store, hub.session.id).doses == []
    finally:
        hub.stop()


def test_screening_answered_on_the_page_changes_the_plan_and_is_recorded_with_who(tmp_path):
    cuff = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 118), ("dbp", 76), ("map", 90))]
    store, hub = live_hub(tmp_path, cuff + [reading(float(t), "spo2", 97, "ox") for t in range(1, 60)], psychosis=None)
    try:
        assert hub.decision().state == "gated"  # the psychosis question is not answered
        from devices.virtual.scenarios import screening

        decision = hub.rescreen(screening(45, psychosis=True, cns_depressant=True), "RN Li")
        assert decision.state == "blocked"
        (given,) = store.events(hub.session.id, kind="screening")
        assert given.who == "RN Li" and given.data["answers"]["psychosis"] is True
        assert next(p.limit for p in hub.engine.plan.limits if p.limit.id == "spo2_low").threshold == 92
    finally:
        hub.stop()


def test_discharge_before_the_minimum_observation_needs_a_physicians_order(tmp_path):
    from monitor.session.model import Dose

    cuff = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 118), ("dbp", 76), ("map", 90))]
    store, hub = live_hub(tmp_path, cuff + [reading(float(t), "spo2", 97, "ox") for t in range(1, 60)])
    try:
        with pytest.raises(ValueError, match=r"minimum observation not over: no dose recorded yet"):
            hub.discharge("RN Li")
        hub.add_dose(Dose(hub.now(), "iv", "ketamine", 35.0), "RN Li")
        with pytest.raises(ValueError, match=r"minimum observation not over: 60 more min"):
            hub.discharge("RN Li")
        with pytest.raises(ValueError, match=r"needs the physician's name and a reason"):
            hub.discharge("RN Li", ordered_by=(" ", "escort waiting"))
        said = hub.discharge("RN Li", ordered_by=("Dr Rahman", "escort waiting, stable, seen by me"))
        assert said.startswith("discharged by RN Li")
        (override,) = [a for _, a in store.alarm_events(hub.session.id) if a.event == "overridden"]
        assert override.who == "Dr Rahman" and "escort waiting" in override.message
        assert store.events(hub.session.id, kind="discharge")[0].who == "RN Li"
    finally:
        hub.stop()


def test_a_dose_outside_the_bounds_on_a_physicians_order_is_audited_and_still_alarmed(tmp_path):
    from monitor.session.model import Dose

    cuff = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 118), ("dbp", 76), ("map", 90))]
    store, hub = live_hub(tmp_path, cuff + [reading(float(t), "spo2", 97, "ox") for t in range(1, 60)])
    try:
        dose = Dose(hub.now(), "iv", "ketamine", 84.0)
        assert [p.priority for p in hub.dose_problems(dose)] == ["high", "high"]
        hub.add_dose(dose, "RN Li", ordered_by=("Dr Rahman", "1.2 mg/kg, tolerated before"))
        events = [a for _, a in store.alarm_events(hub.session.id)]
        assert [(a.event, a.who) for a in events if a.event == "overridden"] == [("overridden", "Dr Rahman")]
        assert any(a.alarm_id == "dose_bounds" and a.event == "raised" for a in events)
    finally:
        hub.stop()


class Fed:
    """A device whose items the test hands over, as a serial port delivers what arrives."""

    uri = "test://fed"

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue = queue.SimpleQueue()

    async def stream(self, clock):
        while True:
            try:
                yield self.queue.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.005)


def fed_hub(tmp_path, fed: Fed) -> tuple[Store, Hub]:
    """A session recorded in real time whose regular flush would come only after 10 minutes."""
    store = Store(tmp_path / "k.db")
    now = time.time()
    session = Session("s1", "P-1", now, "iv", 70.0)
    store.create_session(session)
    rules = SessionRules(build_plan("kap-iv", "iv", {}), now)
    return store, Hub(store, session, [fed], WallClock(), rules, flush_interval=600.0).start()


def test_a_live_numeric_reading_is_stored_judged_and_shown_without_waiting_for_the_regular_flush(tmp_path):
    """SpO2 80 from a device on a live session: stored, alarming and on the live read model at once; the
    pleth samples that came before it wait for a numeric (or the regular flush) and go in the same write."""
    fed = Fed()
    store, hub = fed_hub(tmp_path, fed)
    try:
        published = hub.view.snapshot().version
        fed.queue.put(Samples(time.time(), "pleth", 75.0, np.full(75, 50.0), "%", "ox"))
        time.sleep(0.5)
        assert hub.view.snapshot().version == published and store.count_readings("s1") == 0
        fed.queue.put(reading(time.time(), "spo2", 80, "ox"))
        snap = wait_for(lambda: (s := hub.view.snapshot()).latest.get("spo2") and s, 10, "SpO2 on the live view")
        assert snap.latest["spo2"].value == 80
        assert any(a.vital == "spo2" and a.priority == "high" for a in snap.alarms)
        assert store.count_readings("s1") == 76  # the pleth samples went in the same write
    finally:
        hub.stop()


def test_a_reading_entered_by_hand_and_a_failing_device_are_recorded_at_once(tmp_path):
    class Failing(Fed):
        async def stream(self, clock):
            await clock.sleep_until(clock.now() + 0.2)
            raise OSError("port gone")
            yield  # an async generator

    store, hub = fed_hub(tmp_path, Failing())
    try:
        hub.add_readings([reading(hub.now(), "hr", 72, "manual")])
        wait_for(lambda: (r := store.latest("s1", "hr")) and r.value == 72, 10, "the HR entered by hand")
        wait_for(lambda: store.events("s1", kind="condition"), 10, "the device's disconnection")
        assert "port gone" in store.events("s1", kind="condition")[0].data["detail"]
    finally:
        hub.stop()


def test_a_session_run_at_full_speed_flushes_only_at_its_regular_interval():
    session = Session("s1", "P-1", START, "iv", 70.0)
    rules = SessionRules(build_plan("kap-iv", "iv", {}), START)
    assert Hub(Store(":memory:"), session, [], FastClock(START), rules).prompt_s is None


def test_a_live_reading_alarms_at_once_while_another_process_holds_the_store_and_is_stored_after(tmp_path):
    """Another process holds the store's write lock: SpO2 80 still alarms at once and the page is told the
    recording failed; the next reading after the lock is gone brings both into the store."""
    fed = Fed()
    store, hub = fed_hub(tmp_path, fed)
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        fed.queue.put(reading(time.time(), "spo2", 80, "ox"))
        wait_for(
            lambda: (s := hub.view.snapshot()).recording_failed and any(a.vital == "spo2" for a in s.alarms),
            10,
            "the SpO2 alarm and the failed recording on the live view",
        )
        assert store.count_readings("s1") == 0
        other.execute("ROLLBACK")
        fed.queue.put(reading(time.time(), "hr", 70, "ox"))
        wait_for(lambda: store.count_readings("s1") == 2, 10, "both readings stored once the lock is gone")
        assert hub.view.snapshot().recording_failed is None
    finally:
        other.close()
        hub.stop()
