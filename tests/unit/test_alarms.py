"""The alarm engine, one behaviour at a time, with time given explicitly."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devices.reading import Condition, no_value, reading
from devices.vocabulary import HIGH, LOW, MEDIUM, PHYSIOLOGICAL, TECHNICAL
from monitor.rules.alarms import AlarmEngine
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.discharge import engine_readiness
from monitor.rules.plan import make_plan
from monitor.rules.protocol import load

T0 = 1_700_000_000.0


def engine(oximeter: bool = True, **answers) -> AlarmEngine:
    """kap-iv for a patient with ``answers``; ``oximeter=False`` for a test about something else that feeds
    no SpO2 (the protocol would otherwise, rightly, say SpO2 is missing)."""
    protocol = load("kap-iv")
    if not oximeter:
        protocol = replace(protocol, technical=replace(protocol.technical, required=()))
    return AlarmEngine(make_plan(protocol, {**SAMPLE_SCREENING, **answers}), start=T0)


def feed(e: AlarmEngine, vital: str, values, start: float = 0.0, step: float = 1.0, source: str = "ox"):
    """Feed one value per ``step`` seconds from ``start`` (relative to T0); return all events."""
    events = []
    for i, v in enumerate(values):
        events += e.on_item(reading(T0 + start + i * step, vital, v, source))
    return events


def nibp(e: AlarmEngine, t: float, sbp: float, dbp: float, mean: float | None = None):
    mean = mean if mean is not None else round((sbp + 2 * dbp) / 3)
    return [ev for v, x in (("sbp", sbp), ("dbp", dbp), ("map", mean)) for ev in e.on_item(reading(T0 + t, v, x, "cuff"))]


def kinds(events):
    return [(ev.event, ev.alarm_id) for ev in events]


def test_condition_delay_spo2_below_90_for_15_s():
    e = engine()
    events = feed(e, "spo2", [97] * 5 + [88] * 15)
    assert events == []
    events = feed(e, "spo2", [88], start=20)
    assert kinds(events) == [("raised", "spo2_low")]
    (ev,) = events
    assert (ev.t - T0, ev.priority, ev.kind, ev.value, ev.limit) == (20, MEDIUM, PHYSIOLOGICAL, 88, 90)
    assert ev.message == "SpO2 88 — below 90" and ev.rule == "kap-iv: spo2_low" and ev.source == "ox"


def test_a_short_dip_resets_the_delay():
    e = engine()
    events = feed(e, "spo2", [88] * 10 + [95] + [88] * 14)
    assert events == []


def test_delay_elapses_on_tick_without_new_readings():
    e = engine()
    feed(e, "spo2", [88])
    assert e.tick(T0 + 15) == []  # due at 15: fires once time has passed it
    (ev,) = e.tick(T0 + 15.2)
    assert (ev.event, ev.alarm_id, ev.t) == ("raised", "spo2_low", T0 + 15)  # stamped with its due time


def test_zero_delay_critical_limit_raises_on_the_reading_and_latches():
    e = engine()
    (ev,) = feed(e, "spo2", [84])
    assert (ev.alarm_id, ev.priority) == ("spo2_critical", HIGH)
    events = feed(e, "spo2", [98] * 5, start=1)
    assert kinds(x for x in events if x.alarm_id == "spo2_critical") == [("latched", "spo2_critical")]
    (alarm,) = [a for a in e.active() if a.alarm_id == "spo2_critical"]
    assert alarm.latched and not alarm.condition_active


def test_acknowledging_a_latched_alarm_whose_condition_ended_clears_it():
    e = engine()
    feed(e, "spo2", [84] + [98] * 3)
    events = e.acknowledge("spo2_critical", "nurse K", T0 + 4)
    assert kinds(events) == [("acknowledged", "spo2_critical"), ("cleared", "spo2_critical")]
    assert events[0].who == "nurse K"
    assert e.active() == []


def test_acknowledged_alarm_is_silent_until_its_condition_clears():
    e = engine()
    feed(e, "spo2", [84])
    e.acknowledge("spo2_critical", "nurse K", T0 + 1)
    assert e.audio_priority(T0 + 1) is None
    (alarm,) = e.active()
    assert alarm.acknowledged and alarm.condition_active
    events = feed(e, "spo2", [97], start=2)
    assert kinds(events) == [("cleared", "spo2_critical")]


def test_hysteresis_keeps_the_alarm_until_the_value_is_clearly_back():
    e = engine()
    feed(e, "spo2", [88] * 16)
    assert feed(e, "spo2", [90] * 3, start=16) == []
    assert kinds(feed(e, "spo2", [91], start=19)) == [("cleared", "spo2_low")]


def test_spo2_below_90_for_two_minutes_escalates_to_high_and_then_latches():
    e = engine()
    events = feed(e, "spo2", [88] * 122)
    assert kinds(events) == [("raised", "spo2_low"), ("escalated", "spo2_low")]
    assert events[1].priority == HIGH and events[1].t - T0 == 120
    assert "escalated to high after 120 s" in events[1].message
    feed(e, "spo2", [97] * 3, start=122)
    (alarm,) = e.active()
    assert alarm.latched and alarm.priority == HIGH


def test_escalation_cancels_an_acknowledgement():
    e = engine()
    feed(e, "spo2", [88] * 20)
    e.acknowledge("spo2_low", "nurse K", T0 + 20)
    assert e.audio_priority(T0 + 20) is None
    feed(e, "spo2", [88] * 102, start=20)
    (alarm,) = e.active()
    assert alarm.priority == HIGH and not alarm.acknowledged
    assert e.audio_priority(T0 + 121) == HIGH


def test_no_value_never_raises_and_interrupts_a_pending_delay():
    e = engine()
    events = [ev for t in range(60) for ev in e.on_item(no_value(T0 + t, "spo2", "ox"))]
    assert [ev for ev in events if ev.kind == PHYSIOLOGICAL] == []
    e = engine()
    feed(e, "spo2", [88] * 10)
    e.on_item(no_value(T0 + 10, "spo2", "ox"))
    assert feed(e, "spo2", [88] * 15, start=11) == []
    assert kinds(feed(e, "spo2", [88], start=26)) == [("raised", "spo2_low")]


def test_nibp_alarms_are_judged_on_each_discrete_reading():
    e = engine(oximeter=False)
    events = nibp(e, 0, 185, 95)
    assert kinds(events) == [("raised", "sbp_critical"), ("raised", "sbp_high"), ("raised", "map_high")]
    events = nibp(e, 300, 140, 80)
    assert kinds(events) == [("latched", "sbp_critical"), ("cleared", "sbp_high"), ("cleared", "map_high")]
    assert [a.alarm_id for a in e.active()] == ["sbp_critical"]


def test_relative_limits_use_the_baseline_after_the_dose():
    e = engine()
    nibp(e, 0, 118, 74)
    nibp(e, 300, 122, 76)
    nibp(e, 600, 120, 78)
    assert kinds(nibp(e, 650, 165, 80)) == [("raised", "sbp_high")]  # no dose yet: rise limits are post-dose
    e.on_dose(T0 + 700, mg=35, end=T0 + 3100)
    assert e.baseline is not None and e.baseline.get("sbp") == 120  # the 165 came with an alarm: not at rest
    events = nibp(e, 1000, 163, 102)
    assert ("raised", "sbp_rise") in kinds(events) and ("raised", "dbp_rise") in kinds(events)
    rise = next(ev for ev in events if ev.alarm_id == "sbp_rise")
    assert rise.limit == 160 and rise.message == "SBP 163 — 43 above baseline 120"


def test_baseline_freezes_at_the_first_dose_and_skips_readings_during_alarms():
    e = engine()
    nibp(e, 0, 120, 80)
    nibp(e, 100, 80, 45)  # vasovagal: raises sbp_low, so this reading is not at rest
    nibp(e, 200, 124, 82)  # the SBP is held back: dbp_low is still active when it arrives
    nibp(e, 250, 124, 84)
    e.on_dose(T0 + 300)
    nibp(e, 400, 160, 95)
    assert (e.baseline.get("sbp"), e.baseline.get("dbp")) == (122, 82)


def test_device_condition_raises_a_technical_alarm_after_its_delay_and_escalates():
    e = engine()
    off = Condition(T0, "sensor_off", "ox", True, ("spo2", "pr"))
    assert e.on_item(off) == []
    (raised,) = e.tick(T0 + 11)
    assert (raised.event, raised.kind, raised.priority, raised.alarm_id, raised.t) == ("raised", TECHNICAL, LOW, "sensor_off:ox", T0 + 10)
    assert "SpO2/PR sensor off the patient (ox)" in raised.message
    (escalated,) = e.tick(T0 + 41)
    assert (escalated.event, escalated.priority) == ("escalated", MEDIUM)
    (cleared,) = e.on_item(Condition(T0 + 50, "sensor_off", "ox", False, ("spo2", "pr")))
    assert cleared.event == "cleared"


def test_a_brief_condition_raises_nothing_and_data_back_ends_a_condition():
    e = engine(oximeter=False)
    e.on_item(Condition(T0, "searching", "ox", True, ("spo2",)))
    e.on_item(Condition(T0 + 5, "searching", "ox", False, ("spo2",)))
    assert e.tick(T0 + 30) == []
    e.on_item(Condition(T0 + 30, "disconnected", "ox"))
    e.tick(T0 + 45)
    assert [a.alarm_id for a in e.active()] == ["disconnected:ox"]
    assert kinds(feed(e, "spo2", [97], start=46)) == [("cleared", "disconnected:ox")]


def test_informational_conditions_do_not_alarm():
    e = engine(oximeter=False)
    e.on_item(Condition(T0, "motion", "ox", True, ("spo2",)))
    assert e.tick(T0 + 60) == []


def test_stale_data_per_vital():
    e = engine()
    feed(e, "spo2", [97] * 3)
    assert e.tick(T0 + 32) == []
    (ev,) = e.tick(T0 + 33)
    assert (ev.alarm_id, ev.kind, ev.priority, ev.t) == ("spo2_stale", TECHNICAL, LOW, T0 + 32)
    assert ev.message == "SpO2: no valid data for over 30 s"
    assert kinds(feed(e, "spo2", [97], start=34)) == [("cleared", "spo2_stale")]


def test_nibp_overdue_after_the_dose():
    e = engine(oximeter=False)
    nibp(e, 0, 120, 80)
    e.on_dose(T0 + 60)
    assert e.tick(T0 + 60 + 300 + 120) == []
    (ev,) = e.tick(T0 + 60 + 300 + 121)
    assert ev.alarm_id == "nibp_overdue" and ev.kind == TECHNICAL
    assert ("cleared", "nibp_overdue") in kinds(nibp(e, 500, 120, 80))


def test_bp_at_40_min_not_taken_raises_a_low_reminder():
    e = engine()
    nibp(e, 0, 120, 80)
    e.on_dose(T0 + 60)
    for t in range(300, 3000, 300):
        if not 29 * 60 <= t - 60 <= 51 * 60:
            nibp(e, t, 120, 80)
    events = e.tick(T0 + 60 + 50 * 60 + 1)
    assert ("raised", "bp_40min") in kinds(events)
    ev = next(x for x in events if x.alarm_id == "bp_40min")
    assert ev.priority == LOW and "not taken" in ev.message
    assert ("cleared", "bp_40min") in kinds(nibp(e, 3200, 120, 80))


def test_bp_at_40_min_taken_raises_nothing():
    e = engine()
    e.on_dose(T0)
    nibp(e, 41 * 60, 120, 80)
    assert [ev for ev in e.tick(T0 + 60 * 60) if ev.alarm_id == "bp_40min"] == []


def test_audio_pause_has_a_set_time_and_a_reminder_when_it_ends():
    e = engine()
    feed(e, "spo2", [88] * 16)
    (paused,) = e.pause_audio("nurse K", T0 + 16, seconds=60)
    assert paused.event == "audio_paused" and paused.who == "nurse K"
    assert e.audio_paused_until == T0 + 76
    assert e.audio_priority(T0 + 20) is None
    (resumed,) = [ev for ev in e.tick(T0 + 77) if ev.alarm_id == "audio"]
    assert resumed.t == T0 + 76
    assert resumed.event == "audio_resumed" and "pause ended" in resumed.message and e.audio_paused_until is None
    assert e.audio_priority(T0 + 76) == MEDIUM
    (default,) = e.pause_audio("nurse K", T0 + 80)
    assert e.audio_paused_until == T0 + 80 + 120


def test_audio_pause_is_capped_and_ended_by_a_higher_priority_alarm():
    e = engine()
    feed(e, "spo2", [88] * 16)
    e.pause_audio("nurse K", T0 + 16, seconds=3600)
    assert e.audio_paused_until == T0 + 16 + 300
    events = feed(e, "spo2", [84], start=16)
    assert kinds(events)[:2] == [("raised", "spo2_critical"), ("audio_resumed", "audio")]
    assert e.audio_priority(T0 + 17) == HIGH


def test_active_lists_the_state_of_each_alarm():
    e = engine()
    feed(e, "spo2", [84])
    (a,) = e.active()
    assert (a.priority, a.kind, a.vital, a.value, a.limit, a.rule, a.since) == (HIGH, PHYSIOLOGICAL, "spo2", 84, 85, "kap-iv: spo2_critical", T0)
    assert a.latching and not a.latched and not a.acknowledged


def test_tightened_plan_limits_drive_the_engine():
    e = engine(cns_depressant=True)
    events = feed(e, "spo2", [91] * 6)
    assert kinds(events) == [("raised", "spo2_low")] and events[0].t - T0 == 5


def test_acknowledging_an_unknown_alarm_does_nothing():
    assert engine().acknowledge("nope", "nurse K", T0) == []


def test_spo2_is_required_from_the_start_so_a_missing_oximeter_is_stale():
    e = engine()
    nibp(e, 0, 120, 80)
    (ev,) = e.tick(T0 + 31)
    assert (ev.event, ev.alarm_id, ev.t) == ("raised", "spo2_stale", T0 + 30)
    assert engine(oximeter=False).tick(T0 + 31) == []


def test_a_gap_fires_the_stale_alarm_at_its_due_time_when_the_next_reading_arrives():
    e = engine()
    feed(e, "spo2", [97] * 10)
    events = e.on_item(reading(T0 + 100, "spo2", 97, "ox"))
    assert kinds(events) == [("raised", "spo2_stale"), ("escalated", "spo2_stale"), ("cleared", "spo2_stale")]
    assert [ev.t - T0 for ev in events] == [39, 69, 100]  # each when it was due, not when data came back


def test_discharge_readiness_says_what_is_missing():
    e = engine()
    nibp(e, 0, 120, 80)
    feed(e, "spo2", [97] * 3, start=1)
    e.on_dose(T0 + 10, end=T0 + 2410)
    early = engine_readiness(e, T0 + 2500)
    assert not early.ready and any("observation" in m for m in early.missing)
    nibp(e, 2410 + 3600, 150, 82)
    feed(e, "spo2", [92], start=2410 + 3600)
    late = engine_readiness(e, T0 + 2410 + 3601)
    assert not late.ready
    assert any(m.startswith("SBP 150 is +25%") for m in late.missing) and any(m.startswith("SpO2 92") for m in late.missing)
    nibp(e, 2410 + 3900, 125, 80)
    feed(e, "spo2", [97], start=2410 + 3900)
    for alarm in e.active():
        e.acknowledge(alarm.alarm_id, "nurse K", T0 + 2410 + 3901)
    assert engine_readiness(e, T0 + 2410 + 3901).ready, engine_readiness(e, T0 + 2410 + 3901).describe()


@pytest.mark.parametrize("name", ["kap-iv", "kap-im", "kap-sublingual", "esketamine-intranasal"])
def test_every_shipped_protocol_drives_an_engine(name):
    e = AlarmEngine(make_plan(load(name), SAMPLE_SCREENING), start=T0)
    assert kinds(feed(e, "spo2", [84])) == [("raised", "spo2_critical")]


def test_an_alarm_carries_the_protocols_response_in_words():
    e = engine()
    e.on_dose(T0, mg=35)
    nibp(e, 60, 186, 96)
    alarm = next(a for a in e.active() if a.alarm_id == "sbp_critical")
    assert alarm.response.startswith("Hold the infusion; repeat NIBP within 5 min")
    e.on_item(Condition(T0 + 100, "sensor_off", "ox", vitals=("spo2",)))
    e.tick(T0 + 120)
    technical = next(a for a in e.active() if a.alarm_id == "sensor_off:ox")
    assert technical.response == "Check the sensor, its cable and the device"


def test_a_flapping_cable_alarms_on_its_losses_added_up():
    """Out 8.5 s, in 1 s, again and again: no single outage reaches the 10 s delay, but 15 s lost within a
    minute raises "intermittent signal"; a steady minute ends it."""
    e = engine(oximeter=False)
    events, t = [], 0.0
    for _ in range(4):
        events += e.on_item(Condition(T0 + t, "disconnected", "ox"))
        events += e.on_item(Condition(T0 + t + 8.5, "disconnected", "ox", active=False))
        t += 9.5
    raised = [ev for ev in events if ev.event == "raised"]
    assert [ev.alarm_id for ev in raised] == ["signal_loss:ox"]
    assert raised[0].t == T0 + 9.5 + 6.5  # 8.5 s in the first spell, 6.5 s into the second: 15 s lost
    assert "lost for 15 s of the last 60 s" in raised[0].message and raised[0].kind == TECHNICAL
    later = e.tick(T0 + t + 61)
    assert kinds(later) == [("escalated", "signal_loss:ox"), ("cleared", "signal_loss:ox")]  # LOW -> MEDIUM after 30 s
    assert later[-1].t == T0 + 3 * 9.5 + 8.5 + 60


def test_one_long_outage_is_the_condition_alarm_not_intermittent_signal():
    e = engine(oximeter=False)
    e.on_item(Condition(T0, "disconnected", "ox"))
    events = e.tick(T0 + 40)
    assert [ev.alarm_id for ev in events if ev.event == "raised"] == ["disconnected:ox"]


def test_a_source_that_breached_and_fell_silent_stops_holding_the_alarm():
    # A second probe reads 82 % once and is taken off; the first keeps reading 97 %. The alarm is raised
    # (82 is below 85, no delay) and its condition ends once the second probe has said nothing for longer
    # than SpO2 may go quiet, not before.
    e = engine()
    feed(e, "spo2", [97] * 5)
    assert kinds(e.on_item(reading(T0 + 5, "spo2", 82, "ox-2"))) == [("raised", "spo2_critical")]
    quiet = e._quiet_limit("spo2")
    events = feed(e, "spo2", [97] * int(quiet), start=6)
    assert ("latched", "spo2_critical") not in kinds(events)  # still within its quiet time: 82 may be true
    events = feed(e, "spo2", [97] * 3, start=6 + int(quiet))
    assert ("latched", "spo2_critical") in kinds(events)
