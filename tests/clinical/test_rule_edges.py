"""Rule edges the clinician's case table left open, found by a mutation run over the rules
(benchmarks/mutate_rules.py): each test pins one rule at the point where changing a comparison,
an ``and``/``or`` or a ``min``/``max`` would change what a nurse sees or what a clinician is told.

Times are seconds from the session start (0). Unless a test says otherwise: kap-iv, a 45-year-old
with nothing found at screening.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.resources import files

import pytest

from devices.reading import Condition, Reading, no_value, reading
from devices.vocabulary import HIGH, LOW, MEDIUM, NO_VALUE, OK, QUESTIONABLE

from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.alarms import AlarmEngine, recovered, violates
from monitor.rules.baseline import Baseline
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.discharge import readiness
from monitor.rules.dosing import BLOCKED, CLEAR, GATED, Decision, PredoseReadings
from monitor.rules.plan import BLOCK, GATE, Finding, make_plan, override
from monitor.rules.protocol import Limit, ProtocolError, load, parse, shipped
from monitor.rules.plausibility import PlausibilityCheck
from monitor.session.model import Dose, Session
from monitor.rules.session_rules import DosingChange, SessionRules, alarm_events, judged
from monitor.session.store import Store, StoredEvent, StoredReading
from monitor.analysis.summary import (
    Rems, SessionRecord, alarm_stats, describe, episodes, load_record, minutes, peak, recorded_discharge, rems, summarise,
    summary_json, time_below,
)
from monitor.analysis.summary import baseline as summary_baseline


def plan(protocol: str = "kap-iv", **answers):
    return make_plan(load(protocol), {**SAMPLE_SCREENING, **answers})


def engine(sampling: dict | None = None, **answers) -> AlarmEngine:
    return AlarmEngine(plan(**answers), 0.0, sampling)


def feed(e: AlarmEngine, vital: str, values, start: float = 0.0, step: float = 1.0, source: str = "ox") -> list:
    """One value per ``step`` seconds from ``start``; all the events."""
    return [ev for i, v in enumerate(values) for ev in e.on_item(reading(start + i * step, vital, v, source))]


def nibp(e: AlarmEngine, t: float, sbp: float, dbp: float) -> list:
    return [ev for v, x in (("sbp", sbp), ("dbp", dbp), ("map", round((sbp + 2 * dbp) / 3))) for ev in e.on_item(reading(t, v, x, "cuff"))]


def stored(t: float, vital: str, value: float) -> StoredReading:
    return StoredReading(0, t, vital, value, "%", "ox", OK)


def alarm_event(t: float, event: str) -> AlarmEvent:
    return AlarmEvent(t, event, "spo2_low", MEDIUM, "physiological", "spo2", 88.0, 90.0, "kap-iv: spo2_low", "SpO2 88", "RN A")


def raised(events) -> list[tuple[str, str]]:
    return [(ev.alarm_id, ev.priority) for ev in events if ev.event == "raised"]


# ------------------------------------------------------------------------------------ comparisons


def test_each_comparison_a_protocol_can_use_at_just_inside_and_just_outside():
    """A clinic's own protocol may use any of the four comparisons; "at or below 85" must alarm at 85."""
    cases = {"below": (84, 85, 86), "at_most": (84, 85, 86), "above": (86, 85, 84), "at_least": (86, 85, 84)}
    for comparison, (outside, at, inside) in cases.items():
        assert violates(comparison, outside, 85) and not violates(comparison, inside, 85), comparison
        assert violates(comparison, at, 85) == (comparison in ("at_most", "at_least")), comparison
    at_most = Limit("spo2_x", "spo2", "at_most", 85, MEDIUM, 0, 2, False, None, None, "any", load("kap-iv").limits[0].cited)
    assert not recovered(at_most, 86, 85) and recovered(at_most, 88, 85)  # back by the 2 % hysteresis


@pytest.mark.parametrize("comparison", ["below", "at_most", "above", "at_least"])
def test_after_readings_inside_every_limit_the_first_at_or_beyond_a_limit_is_judged_by_it(comparison):
    """Readings inside every limit on a vital are passed by one band of values; the first at the limit or beyond
    it must alarm exactly as its comparison says, and the next inside it end the alarm, with none under way."""
    cited = load("kap-iv").limits[0].cited
    limit = Limit("rr_x", "rr", comparison, 20, MEDIUM, 0, 0, False, None, None, "any", cited)
    quiet, at, beyond = (25, 20, 19) if comparison in ("below", "at_most") else (15, 20, 21)
    for value in (at, beyond):
        e = AlarmEngine(make_plan(replace(load("kap-iv"), limits=(limit,)), SAMPLE_SCREENING), 0.0)
        events = feed(e, "rr", [quiet, quiet, quiet, value, quiet, quiet])
        assert raised(events) == ([("rr_x", MEDIUM)] if violates(comparison, value, 20) else []), (comparison, value)
        assert [ev.event for ev in events if ev.alarm_id == "rr_x"] == (["raised", "cleared"] if raised(events) else [])


def post_dose_temperature_engine() -> AlarmEngine:
    """kap-iv with one limit, temperature at or above 38, from the first dose on (a vital the baseline leaves out)."""
    cited = load("kap-iv").limits[0].cited
    limit = Limit("temp_x", "temp", "at_least", 38.0, MEDIUM, 0, 0, False, None, None, "post_dose", cited)
    return AlarmEngine(make_plan(replace(load("kap-iv"), limits=(limit,)), SAMPLE_SCREENING), 0.0)


@pytest.mark.parametrize("baseline", [False, True])
def test_a_limit_that_applies_from_the_first_dose_judges_the_readings_after_it(baseline):
    """Readings before the dose are inside every limit then in force; after the dose a late one stamped before it
    is still judged without the new limit, and the first after it beyond the new limit alarms (with a baseline
    frozen at the dose, from a pulse rate, or without one)."""
    e = post_dose_temperature_engine()
    if baseline:
        feed(e, "pr", [70, 70, 70])
    assert feed(e, "temp", [38.5, 38.5, 38.5]) == []
    e.on_dose(3.0, mg=35.0)
    assert e.on_item(reading(2.5, "temp", 38.5, "probe")) == []  # late, from before the dose
    assert raised(e.on_item(reading(4.0, "temp", 38.5, "probe"))) == [("temp_x", MEDIUM)]


def test_a_late_reading_stamped_at_the_dose_instant_is_judged_by_the_limits_from_the_dose():
    """Fed after the dose, a reading stamped at its very instant is judged as the limits say from the dose on."""
    e = post_dose_temperature_engine()
    assert feed(e, "temp", [38.5, 38.5, 38.5]) == []
    e.on_dose(3.0, mg=35.0)
    assert raised(e.on_item(reading(3.0, "temp", 38.5, "probe"))) == [("temp_x", MEDIUM)]


def test_a_vital_the_protocol_sets_no_limit_on_is_taken_quietly():
    """A monitor sending respiration rate or temperature under a protocol with no limit on them: no alarm, and
    the readings of the vitals with limits are judged as before."""
    e = engine()
    assert feed(e, "rr", [12, 40, 3]) == [] and feed(e, "temp", [36.5, 41.0], start=3) == []
    assert raised(feed(e, "spo2", [97, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80], start=5))


# ------------------------------------------------------------------------------------ audio pause


def test_an_audio_pause_ends_exactly_when_its_time_is_up():
    """A 60 s pause silences for 60 s: at 60 s the alarm sounds again, even before the engine is ticked."""
    e = engine()
    feed(e, "spo2", [88] * 16)
    e.pause_audio("nurse K", 16, seconds=60)
    assert e.audio_priority(75.5) is None
    assert e.audio_priority(76) == MEDIUM
    assert e.audio_priority(80) == MEDIUM


def test_a_pause_keeps_a_new_quieter_alarm_silent_and_is_ranked_by_the_loudest_alarm_present():
    """Audio pause silences what is present; a new alarm sounds only if it outranks the loudest of them."""
    e = engine()
    feed(e, "spo2", [88] * 16)  # MEDIUM spo2_low
    e.pause_audio("nurse K", 16, seconds=120)
    e.on_item(Condition(20, "sensor_off", "ecg", True, ("hr",)))
    assert raised(e.tick(31)) == [("sensor_off:ecg", LOW)]
    assert e.audio_priority(31) is None  # a LOW alarm does not break a pause taken over a MEDIUM one

    e = engine()
    feed(e, "spo2", [84, 97])  # HIGH spo2_critical, latched
    e.on_item(Condition(2, "sensor_off", "ecg", True, ("hr",)))
    e.tick(13)  # LOW sensor_off:ecg
    e.pause_audio("nurse K", 13, seconds=120)
    events = feed(e, "pr", [125] * 12, start=14)
    assert raised(events) == [("pr_high", MEDIUM)]
    assert [ev for ev in events if ev.event == "audio_resumed"] == []  # MEDIUM does not outrank the HIGH present
    assert e.audio_priority(26) is None


# ------------------------------------------------------------------------------------ baseline


def test_the_baseline_keeps_readings_taken_while_only_a_technical_or_a_latched_alarm_is_present():
    """Readings are left out of the baseline only while a physiological condition is present: a probe
    off the finger or a latched alarm whose condition has ended says nothing about the patient at rest."""
    e = engine()
    feed(e, "spo2", [84, 97])  # spo2_critical raised and latched (not acknowledged)
    e.on_item(Condition(2, "sensor_off", "ecg", True, ("hr",)))
    e.tick(13)
    assert {a.alarm_id for a in e.active()} == {"spo2_critical", "sensor_off:ecg"}
    for t in (60, 360, 660):
        nibp(e, t, 130, 80)
    e.on_dose(700)
    assert (e.baseline.get("sbp"), e.baseline.get("dbp")) == (130, 80)


# ------------------------------------------------------------------------------------ sampling


def test_a_live_monitor_sending_once_a_minute_is_not_stale_and_an_outage_still_alarms():
    """Without a stated interval the engine measures it: once a minute is not "no data" (only the
    first minute, before a second reading shows the interval, is judged by the 30 s rule); three
    missed minutes are (technical stale after max(30 s, 3 intervals))."""
    e = engine()
    events = feed(e, "spo2", [97] * 20, step=60)
    assert [(ev.alarm_id, ev.t) for ev in events if ev.event == "raised"] == [("spo2_stale", 30)]
    assert e.sampling_s("spo2") == 60
    (stale,) = [ev for ev in e.tick(19 * 60 + 200) if ev.event == "raised"]
    assert (stale.alarm_id, stale.t) == ("spo2_stale", 19 * 60 + 180)


def test_two_probes_sending_at_the_same_instant_do_not_shorten_the_measured_interval():
    """Two probes reporting SpO2 at the same second, once a minute: still once a minute, not stale."""
    e = engine()
    events = [ev for k in range(20) for src in ("finger", "ear") for ev in e.on_item(reading(k * 60.0, "spo2", 97, src))]
    assert [(ev.alarm_id, ev.t) for ev in events if ev.event == "raised"] == [("spo2_stale", 30)]
    assert e.sampling_s("spo2") == 60


# ------------------------------------------------------------------------------------ episodes


def test_a_new_desaturation_joining_a_latched_high_alarm_sounds_high_and_does_not_escalate_again():
    """SpO2 88 % for over 2 min escalates to HIGH and latches; nobody acknowledges. A second dip 10 min
    later is raised HIGH at once (never quieter than the latched alarm it joins), with no second
    "escalated" transition."""
    e = engine()
    first = feed(e, "spo2", [88] * 130) + feed(e, "spo2", [97] * 10, start=130)
    assert [(ev.event, ev.priority) for ev in first if ev.alarm_id == "spo2_low"] == [
        ("raised", MEDIUM), ("escalated", HIGH), ("latched", HIGH)]
    second = feed(e, "spo2", [88] * 180, start=740)
    assert [(ev.event, ev.priority, ev.t) for ev in second if ev.alarm_id == "spo2_low"] == [("raised", HIGH, 755)]


# ------------------------------------------------------------------------------------ repeat NIBP


def test_the_earliest_repeat_nibp_asked_for_is_the_one_reminded():
    """A clinic's protocol asks for a repeat within 5 min after SBP >= 180 and within 10 min after
    DBP >= 110. A reading of 190/114 breaches both: the reminder comes 5 min later, not 10."""
    proto = load("kap-iv")
    limits = tuple(replace(lim, repeat_nibp_min=10.0) if lim.id == "dbp_critical" else lim for lim in proto.limits)
    e = AlarmEngine(make_plan(replace(proto, limits=limits), SAMPLE_SCREENING), 0.0)
    e.on_dose(0.0)
    nibp(e, 60, 190, 114)
    (reminder,) = [ev for ev in e.tick(60 + 600 + 1) if ev.alarm_id == "nibp_repeat"]
    assert reminder.t == 60 + 300 and "SBP 190" in reminder.message


# ------------------------------------------------------------------------------------ messages


def test_messages_name_the_vital_the_value_and_the_reason():
    """What the nurse reads: the value that came back, the vital by its label, why a value is doubted."""
    e = engine()
    feed(e, "spo2", [88] * 16)
    (ended,) = [ev for ev in feed(e, "spo2", [93], start=16) if ev.alarm_id == "spo2_low"]
    assert ended.message == "SpO2 93 back within limit"
    feed(e, "spo2", [84], start=17)
    (latched,) = [ev for ev in feed(e, "spo2", [96], start=18) if ev.alarm_id == "spo2_critical"]
    assert latched.message == "SpO2 96 back within limit; latched until acknowledged"

    rules = SessionRules(plan(), 0.0)
    rules.add(rules.admit([reading(float(t), "pr", 277, "ox") for t in range(12)] + [reading(25.0, "pr", 72, "ox")]))
    events = alarm_events(rules.finish(26.0))
    assert [(ev.event, ev.message) for ev in events if ev.alarm_id == "pr_check"] == [
        ("raised", "PR 277 questionable (outside the plausible 20-250): check sensor"),
        ("cleared", "PR 277 questionable (outside the plausible 20-250): check sensor: PR 72 received")]


def test_a_physiological_alarm_escalating_to_medium_does_not_latch():
    """Only HIGH physiological alarms latch on escalation: a clinic's LOW SpO2 alarm that escalates to
    MEDIUM clears when SpO2 is back."""
    proto = load("kap-iv")
    limits = tuple(replace(lim, priority=LOW, escalate_to=MEDIUM) if lim.id == "spo2_low" else lim for lim in proto.limits)
    e = AlarmEngine(make_plan(replace(proto, limits=limits), SAMPLE_SCREENING), 0.0)
    events = feed(e, "spo2", [88] * 130) + feed(e, "spo2", [97] * 5, start=130)
    assert [(ev.event, ev.priority) for ev in events if ev.alarm_id == "spo2_low"] == [
        ("raised", LOW), ("escalated", MEDIUM), ("cleared", MEDIUM)]


def test_a_doubtful_cuff_reading_raises_check_at_once_even_as_the_last_reading():
    """A cuff measurement whose diastolic is not below its systolic raises "check sensor" on the reading
    (no delay for a discrete measurement), also when it ends the recording."""
    rules = SessionRules(plan(), 0.0)
    rules.add(rules.admit([reading(600.0, "sbp", 120, "cuff"), reading(600.0, "dbp", 130, "cuff")]))
    events = alarm_events(rules.finish(600.0))
    raised = [(ev.alarm_id, ev.t) for ev in events if ev.event == "raised" and ev.alarm_id.endswith("_check")]
    assert raised == [("sbp_check", 600), ("dbp_check", 600)]


def test_transitions_are_stamped_in_time_order_when_a_monitor_changes_its_pace():
    """A monitor sending SpO2 once a minute, then "no value" once a second: the quiet time shrinks from
    3 minutes to 30 s when the gap is already older than that. The stale alarm is stamped when the
    engine noticed it, never before readings it has already judged."""
    e = engine()
    events = feed(e, "spo2", [97] * 5, step=60) + feed(e, "spo2", [None] * 2, start=300, step=60)
    events += feed(e, "spo2", [None] * 5, start=361)
    stamps = [ev.t for ev in events]
    assert stamps == sorted(stamps)
    assert [(ev.alarm_id, ev.t) for ev in events if ev.event == "raised"] == [("spo2_stale", 30), ("spo2_stale", 363)]


# ------------------------------------------------------------------------------------ the dosing decision


def test_the_headline_says_blocked_or_on_hold_and_names_the_block_first():
    gate = Finding("predose_bp_gate", GATE, "Pre-dose BP above 140/90", "JNJ-antiHTN", True)
    block = Finding("psychosis", BLOCK, "Psychosis", "ACEP", True)
    assert Decision(BLOCKED, (gate, block)).headline() == "DOSING BLOCKED: Psychosis (+1 more)"
    assert Decision(GATED, (gate,)).headline() == "DOSING ON HOLD: Pre-dose BP above 140/90"
    assert Decision(CLEAR, ()).headline() == "Dosing: clear to dose"


def test_the_predose_spo2_window_includes_its_first_second():
    """SpO2 gates on the median of the last 2 min, both ends included: a reading exactly 120 s before the
    latest one counts (here it tips the median below 93)."""
    readings = PredoseReadings(120.0)
    values = [92.0] * 61 + [94.0] * 60  # t = 0..60 at 92, t = 61..120 at 94
    for t, v in enumerate(values):
        readings.add(reading(float(t), "spo2", v, "ox"), (), 45)
    assert readings.spo2() == 92


def test_a_bp_gate_is_judged_on_the_whole_cuff_measurement():
    """Systolic and diastolic of one measurement are judged together: the reason names both."""
    rules = SessionRules(plan(), 0.0)
    rules.add(rules.admit([reading(0.0, v, x, "cuff") for v, x in (("sbp", 185), ("dbp", 80), ("map", 115))]))
    rules.finish(1.0)
    (block,) = [f for f in rules.decision.findings if f.id == "predose_bp_block"]
    assert "latest BP 185/80" in block.text


def test_the_decision_is_reported_once_per_change_not_once_per_reading():
    """A quiet pre-dose minute at one SpO2 reading a second: "no BP yet" at the start, "clear" with the
    first cuff, and nothing more."""
    rules = SessionRules(plan(), 0.0)
    rules.add(rules.admit([reading(0.0, "sbp", 120, "cuff"), reading(0.0, "dbp", 78, "cuff")]
                          + [reading(float(t), "spo2", 97, "ox") for t in range(60)]))
    changes = [(o.t, o.decision.state) for o in rules.finish(60.0) if isinstance(o, DosingChange)]
    assert changes == [(0, GATED), (0, CLEAR)]


def test_a_cuff_measurement_is_judged_whole_without_a_flicker_between_its_values():
    """Blocked on 185/105 (and held by the HIGH SBP alarm); six minutes later 120/105: the diastolic
    still blocks (the hold ends). The systolic alone would have lifted the block: no "clear" may show
    between the two values of one measurement."""
    rules = SessionRules(plan(), 0.0)
    cuff = [reading(t, v, x, "cuff") for t, s, d in ((0.0, 185, 105), (360.0, 120, 105)) for v, x in (("sbp", s), ("dbp", d))]
    rules.add(rules.admit(cuff))
    changes = [(o.t, o.decision.state) for o in rules.finish(400.0) if isinstance(o, DosingChange)]
    assert changes == [(0, GATED), (0, BLOCKED), (360, BLOCKED)]


def test_a_hold_from_a_delayed_alarm_starts_when_the_alarm_is_raised():
    """HR (every 2 s) rises to 155 at 100 s: the HIGH alarm is raised after its 5 s delay, and dosing is
    held from that moment (the decision's time is the alarm's, not the next reading's)."""
    rules = SessionRules(plan(), 0.0)
    hr = {98: 120}
    rules.add(rules.admit([reading(0.0, "sbp", 120, "cuff"), reading(0.0, "dbp", 78, "cuff")]
                          + [reading(float(t), "hr", 155 if t >= 100 else hr.get(t, 80), "ecg") for t in range(0, 120, 2)]))
    outputs = rules.finish(120.0)
    (alarm,) = [o for o in alarm_events(outputs) if o.event == "raised" and o.alarm_id == "hr_critical_high"]
    held = [(o.t, o.decision.state) for o in outputs if isinstance(o, DosingChange) and o.t > 0]
    assert alarm.t == 105 and held[0] == (105, GATED)


def test_advance_feeds_only_what_came_before_the_horizon():
    """A live source has delivered everything before its horizon: a reading at the horizon may still be
    missing its other half (the diastolic of the same cuff measurement), so it waits."""
    rules = SessionRules(plan(), 0.0)
    rules.add([reading(10.0, "sbp", 185, "cuff")])
    assert [o for o in rules.advance(10.0) if isinstance(o, DosingChange) and o.t == 10] == []
    rules.add([reading(10.0, "dbp", 80, "cuff")])
    changes = [o for o in rules.advance(10.5) if isinstance(o, DosingChange)]
    assert [(o.t, o.decision.state) for o in changes] == [(10, BLOCKED)]
    assert "latest BP 185/80" in changes[0].decision.findings[0].text


def test_finish_feeds_a_reading_at_the_very_end_of_the_recording():
    rules = SessionRules(plan(), 0.0)
    rules.add([reading(600.0, "sbp", 185, "cuff"), reading(600.0, "dbp", 80, "cuff")])
    assert rules.finish(600.0) and rules.decision.state == BLOCKED


def test_an_action_applies_after_every_reading_up_to_its_time():
    """SpO2 84 at 100 s and the nurse acknowledges at 100 s: the acknowledgement is of that alarm."""
    rules = SessionRules(plan(), 0.0)
    rules.add([reading(99.0, "spo2", 97, "ox"), reading(100.0, "spo2", 84, "ox"), reading(101.0, "spo2", 97, "ox")])
    events = alarm_events(rules.act(100.0, lambda e: e.acknowledge("spo2_critical", "nurse K", 100.0)))
    critical = [(ev.event, ev.alarm_id) for ev in events if ev.alarm_id == "spo2_critical"]
    assert critical == [("raised", "spo2_critical"), ("acknowledged", "spo2_critical")]


def test_an_override_lifts_the_finding_it_names_and_no_other():
    """A physician clears the hyperthyroidism gate after the BP gate opened: the BP gate stays."""
    rules = SessionRules(plan(hyperthyroidism=True), 0.0)
    rules.add([reading(0.0, "sbp", 150, "cuff"), reading(0.0, "dbp", 85, "cuff")])
    rules.finish(1.0)
    assert {f.id for f in rules.decision.findings} == {"hyperthyroidism", "predose_bp_gate"}
    rules.override("hyperthyroidism", "Dr A", "treated, TSH normal", 2.0)
    assert [f.id for f in rules.decision.findings] == ["predose_bp_gate"]


def test_an_override_applies_after_every_reading_up_to_its_time():
    """The cuff reading at 100 s opens the BP gate; the prescriber acknowledges it at that same second."""
    rules = SessionRules(plan(), 0.0)
    rules.add([reading(50.0, "spo2", 97, "ox"), reading(100.0, "sbp", 150, "cuff"), reading(100.0, "dbp", 85, "cuff")])
    rules.override("predose_bp_gate", "Dr A", "re-measured after rest at the bedside", 100.0)
    assert rules.decision.state == CLEAR


def test_the_plan_in_words_says_gated_or_blocked():
    assert "Dosing: GATED" in plan(hyperthyroidism=True).lines()
    assert "Dosing: BLOCKED" in plan(psychosis=True).lines()
    assert "Dosing: clear to dose" in plan().lines()


# ------------------------------------------------------------------------------------ plausibility


def test_plausibility_compares_with_the_last_number_and_passes_vitals_it_has_no_rule_for():
    """97, a second with no value, then 70: still a jump of 27 in 2 s (an artefact). A vital the protocol
    gives no plausible range (perfusion index) is kept as it is."""
    check = PlausibilityCheck(load("kap-iv").plausible)
    out = check.admit([reading(0.0, "spo2", 97, "ox"), no_value(1.0, "spo2", "ox"), reading(2.0, "spo2", 70, "ox"),
                       reading(2.0, "pi", 4.2, "ox")])
    assert [r.status for r in out] == [OK, NO_VALUE, QUESTIONABLE, OK]


def test_a_cuff_measurement_with_equal_systolic_and_diastolic_is_doubtful():
    """100/100 is not a blood pressure: the diastolic must be below the systolic."""
    out = PlausibilityCheck(load("kap-iv").plausible).admit([reading(0.0, "sbp", 100, "cuff"), reading(0.0, "dbp", 100, "cuff")])
    assert [r.status for r in out] == [QUESTIONABLE, QUESTIONABLE]


# ------------------------------------------------------------------------------------ a doubtful cuff measurement


def test_the_mean_of_a_doubtful_cuff_measurement_is_doubtful_too():
    """150/160 (MAP 157) after the dose: the diastolic above the systolic makes the whole measurement an
    artefact, its mean included. "Check cuff", not "MAP 157 above 110"."""
    rules = SessionRules(plan(), 0.0)
    rules.add([Dose(t=60.0, route="iv", drug="ketamine", mg=35.0)])
    rules.add(rules.admit([reading(600.0, v, x, "cuff") for v, x in (("sbp", 150), ("dbp", 160), ("map", 157))]))
    events = alarm_events(rules.finish(601.0))
    assert [ev.alarm_id for ev in events if ev.event == "raised" and ev.kind == "physiological"] == []


def test_check_cuff_says_why_the_measurement_is_doubted():
    rules = SessionRules(plan(), 0.0)
    rules.add(rules.admit([reading(600.0, "sbp", 150, "cuff"), reading(600.0, "dbp", 160, "cuff")]))
    (check,) = [ev for ev in alarm_events(rules.finish(601.0)) if ev.alarm_id == "dbp_check"]
    assert "diastolic" in check.message and "sudden change" not in check.message


# ------------------------------------------------------------------------------------ plan


def test_the_longest_observation_extension_applies_whatever_else_applies():
    """Moderate hepatic impairment adds 60 min of observation; a sleep apnoea answer (which adds none)
    must not take it away, nor add a "+0 min" reason."""
    both = plan("kap-im", hepatic_impairment="moderate", sleep_apnoea=True)
    assert both.observation_s == (60 + 60) * 60
    assert plan("kap-im", sleep_apnoea=True).observation_reasons == plan("kap-im").observation_reasons


def test_an_override_is_audited_high_for_a_block_and_medium_for_a_gate():
    p = plan(psychosis=True, hyperthyroidism=True)
    (block,), (gate, *_) = p.blocks, p.gates
    assert override(p, block, "Dr A", "reviewed", 1.0)[1].priority == HIGH
    assert override(p, gate, "Dr A", "reviewed", 1.0)[1].priority == MEDIUM


# ------------------------------------------------------------------------------------ summary and discharge


def test_bp_exactly_at_the_discharge_percentage_is_within_it():
    """Discharge asks for BP within 20 % of baseline: +20 % exactly is within."""
    base = Baseline({"sbp": 100.0, "dbp": 80.0}, {"sbp": 3, "dbp": 3}, "")
    r = readiness(plan(), base, {"sbp": 120.0, "dbp": 64.0, "spo2": 97.0}.get, 0.0, 0, 3600.0)
    assert r.ready, r.missing


@pytest.mark.parametrize("gap, below", [(29, 29), (30, 30), (31, 0)])
def test_time_below_counts_a_gap_up_to_the_longest_step(gap, below):
    """At one reading a second a value holds for as long as the engine calls it fresh (the 30-s quiet time):
    88 % then the next reading 30 s later is 30 s below; 31 s later the gap is an outage and counts nothing."""
    rows = [stored(t, "spo2", 97) for t in range(5)] + [stored(5, "spo2", 88)]
    rows += [stored(5 + gap + t, "spo2", 95) for t in range(5)]
    assert time_below(rows, "spo2", 90) == below


def test_the_longest_wait_to_acknowledge_is_the_longest():
    eps = episodes([alarm_event(0, "raised"), alarm_event(10, "acknowledged"), alarm_event(20, "cleared"),
                    alarm_event(100, "raised"), alarm_event(140, "acknowledged"), alarm_event(150, "cleared")])
    (medium,) = [a for a in alarm_stats(eps) if a.priority == MEDIUM]
    assert (medium.count, medium.median_ack_s, medium.max_ack_s) == (2, 25, 40)


def test_only_a_discharge_event_or_a_discharge_phase_is_a_discharge():
    """A note about the discharge letter, or the recovery phase, is not the discharge."""
    events = [StoredEvent(1, 100.0, "note", {"text": "discharge letter printed"}, "RN A"),
              StoredEvent(2, 200.0, "phase", {"text": "recovery"}, "RN A"),
              StoredEvent(3, 300.0, "phase", {"text": "Discharge home with partner"}, "RN A")]
    assert recorded_discharge(events) == 300.0


def test_an_unfinished_session_ends_at_its_latest_record(tmp_path):
    """A session still running (or cut short by a crash) has no end event: its summary runs to the latest
    reading, event or alarm."""
    store = Store(tmp_path / "s.db")
    store.create_session(Session("s1", "P-1", 1000.0, "iv", 70.0, "kap-iv"))
    store.write("s1", [Reading(1000.0 + t, "spo2", 97.0, "%", "ox") for t in range(0, 600, 60)])
    assert load_record(store, "s1").end == 1540.0


def test_an_older_record_gets_the_baseline_the_engine_would_have_frozen():
    """A record without the stored baseline event (written before the engine stored it): the summary's
    baseline must be the engine's, which counts a cuff reading at the dose instant as pre-dose."""
    cuffs = [(0.0, 120, 78), (300.0, 124, 80), (600.0, 130, 84)]
    readings = [StoredReading(0, t, v, x, "mmHg", "cuff", OK) for t, s, d in cuffs for v, x in (("sbp", s), ("dbp", d))]
    dose = Dose(600.0, "iv", "ketamine", 35.0)
    record = SessionRecord(Session("s1", "P-1", 0.0, "iv", 70.0, "kap-iv"), readings, [], [dose], [], 3600.0)
    e = engine()
    for t, s, d in cuffs:
        nibp(e, t, s, d)
    e.on_dose(600.0)
    assert summary_baseline(record, load("kap-iv"))["sbp"] == e.baseline.get("sbp") == 124


# ------------------------------------------------------------------------------------ protocol: plausibility and validation


@pytest.mark.parametrize("protocol", shipped())
def test_every_plausible_range_includes_its_ends(protocol):
    """SpO2 100 % is a real value: a range's ends are plausible, one step beyond them is not."""
    for rule in load(protocol).plausible.values():
        assert rule.problem(rule.low, None, 0.0) is None and rule.problem(rule.high, None, 0.0) is None, rule.vital
        assert rule.problem(rule.low - 1, None, 0.0) and rule.problem(rule.high + 1, None, 0.0), rule.vital


def test_a_change_is_judged_at_the_protocols_rate_per_second_between_readings_up_to_10_s_apart():
    spo2 = load("kap-iv").plausible["spo2"]  # 5 %/s
    assert spo2.problem(92, 97, 1.0) is None  # exactly 5 in 1 s
    assert spo2.problem(85, 97, 3.0) is None and spo2.problem(84, 97, 2.0)  # the allowance grows with the time between
    assert spo2.problem(40, 97, 10.0) and spo2.problem(40, 97, 11.0) is None  # 10 s apart still judged; further, not
    assert spo2.problem(90, 97, 0.0) is None  # two values at one instant are not a rate


def test_a_rise_limit_of_zero_is_refused():
    """A rise of 0 over baseline would alarm on every reading at or above it."""
    text = files("monitor.rules.protocols").joinpath("kap-iv.toml").read_text(encoding="utf-8")
    bad = text.replace('id = "sbp_rise"\nvital = "sbp"\nrise = 40', 'id = "sbp_rise"\nvital = "sbp"\nrise = 0')
    assert bad != text
    with pytest.raises(ProtocolError, match="rise must be in"):
        parse(bad, "clinic.toml")


# ------------------------------------------------------------------------------------ summary in words and JSON


def _record(weight: float | None = 70.0, doses=(Dose(600.0, "iv", "ketamine", 35.0),), vitals=("sbp", "dbp"),
            cuffs=((0.0, 120, 78), (2400.0, 170, 100))) -> SessionRecord:
    rows = [StoredReading(0, t, v, x, "mmHg", "cuff", OK) for t, s, d in cuffs for v, x in (("sbp", s), ("dbp", d)) if v in vitals]
    rows += [StoredReading(0, float(t), "spo2", 88.0 if 1000 <= t < 1045 else 97.0, "%", "ox", OK) for t in range(0, 3600, 1)]
    events = [StoredEvent(1, 0.0, "dosing", {"state": "gated", "reasons": ["gate predose_bp_missing: ..."]}, None),
              StoredEvent(2, 0.0, "note", {"text": "patient settled"}, "RN A"),
              StoredEvent(3, 3600.0, "end", {}, None)]
    session = Session("s1", "P-1", 0.0, "iv", weight, "kap-iv")
    return SessionRecord(session, rows, events, list(doses), [], 3600.0)


def _rows(record: SessionRecord) -> dict[str, str]:
    return dict(kv for _, section in describe(summarise(record), 0.0) for kv in section)


def test_the_summary_in_words():
    """A rise above baseline carries a "+", a peak or no rise none; 45 s below 90 % reads "45 s"; no
    baseline BP without both pressures."""
    rows = _rows(_record())
    assert rows["Largest SBP rise"].startswith("+50 mmHg") and rows["Peak SBP"].startswith("170 mmHg")
    assert rows["Time SpO2 < 90 %"] == "45 s" and rows["Baseline BP"] == "120/78 mmHg"
    assert _rows(_record(cuffs=((0.0, 120, 78), (2400.0, 120, 78))))["Largest SBP rise"].startswith("0 mmHg")
    assert _rows(_record(vitals=("sbp",)))["Baseline BP"] == "none"
    assert [minutes(s) for s in (59 * 60, 60 * 60, 125 * 60)] == ["59 min", "1 h 00 min", "2 h 05 min"]


def test_the_summary_json_lists_dosing_decisions_only():
    record = _record()
    assert summary_json(record, summarise(record))["dosing"] == [{"t": 0.0, "state": "gated", "reasons": ["gate predose_bp_missing: ..."]}]


def test_mg_per_kg_needs_a_weight_and_a_dose():
    assert summarise(_record(weight=None)).mg_per_kg is None
    assert summarise(_record(doses=())).mg_per_kg is None
    assert summarise(_record()).mg_per_kg == 0.5


def test_two_hours_after_the_dose_is_the_rems_two_hours():
    assert Rems(None, None, 40.0, None, 7800.0, 7200.0).two_hours and not Rems(None, None, 40.0, None, 7800.0, 7199.0).two_hours


def test_the_rems_pre_dose_bp_is_the_reading_taken_at_the_dose_instant():
    record = _record(doses=(Dose(2400.0, "iv", "ketamine", 35.0),))
    assert rems(record, load("kap-iv")).pre_dose.t == 2400.0


def test_discharge_criteria_never_use_a_questionable_value():
    """The probe slips at the very end and reads 0 (kept as questionable): the criteria are judged on the
    last trusted SpO2, and "SpO2 0" never appears in them."""
    record = _record(doses=(Dose(60.0, "iv", "ketamine", 35.0),))
    record.readings.append(StoredReading(0, 3599.5, "spo2", 0.0, "%", "ox", QUESTIONABLE))
    criteria = summarise(record).discharge.criteria
    assert not any("SpO2 0" in c.text for c in criteria)


SHIPPED_IV = files("monitor.rules.protocols").joinpath("kap-iv.toml").read_text(encoding="utf-8")
EXTRA_LIMIT = '\n[[limit]]\nid = "{id}"\nvital = "{vital}"\nabove = {above}\npriority = "low"\ndelay_s = 10\nsource = "clinic"\nverified = false\n'
NO_ROUTE = "route = {}\n" + SHIPPED_IV[: SHIPPED_IV.index("[route.iv]")] + SHIPPED_IV[SHIPPED_IV.index("# ----"):]


def _variant(old: str, new: str) -> str:
    assert old in SHIPPED_IV, old
    return SHIPPED_IV.replace(old, new, 1)


# (what a clinic wrote, the protocol text, the field a refusal names, or None when it must load)
PROTOCOL_EDITS = [
    ("a screening delay of 0 s (alarm at once)", _variant("delay = { spo2_low = 5 }", "delay = { spo2_low = 0 }"), None),
    ("a negative screening delay", _variant("delay = { spo2_low = 5 }", "delay = { spo2_low = -1 }"), "delay.spo2_low"),
    ("a screening delay written as text", _variant("delay = { spo2_low = 5 }", 'delay = { spo2_low = "5" }'), "delay.spo2_low"),
    ("a screening NIBP cycle of 1 min", _variant("nibp_interval_min = 3", "nibp_interval_min = 1"), None),
    ("an age band whose minimum is above its maximum", _variant("max_age = 64\n", "max_age = 64\nmin_age = 70\n"), "min_age"),
    ("a one-year age band", _variant("max_age = 64\n", "max_age = 64\nmin_age = 64\n"), None),
    ("escalation after 0 s", _variant("escalate_after_s = 120", "escalate_after_s = 0"), "escalate_after_s"),
    ("escalation to the same priority", _variant('escalate_to = "high"', 'escalate_to = "medium"'), "escalate_to"),
    ("a repeat NIBP within 0 min", _variant("repeat_nibp_min = 5", "repeat_nibp_min = 0"), "repeat_nibp_min"),
    ("a quiet time for the cuff", _variant("max_quiet_s = { spo2 = 30,", "max_quiet_s = { sbp = 30, spo2 = 30,"), "max_quiet_s.sbp"),
    ("a rate of change of 0 per second", _variant("max_change_per_s = 5", "max_change_per_s = 0"), "max_change_per_s"),
    ("a plausible range of one value", _variant('vital = "spo2"\nlow = 30', 'vital = "spo2"\nlow = 100'), "low"),
    ("an audio pause as long as its maximum", _variant("pause_s = 120", "pause_s = 300"), None),
    ("a baseline of the last cuff reading", _variant("nibp_readings = 3", "nibp_readings = 1"), None),
    ("discharge within 100 %", _variant("bp_within_pct = 20", "bp_within_pct = 100"), "bp_within_pct"),
    ("discharge within 0 %", _variant("bp_within_pct = 20", "bp_within_pct = 0"), "bp_within_pct"),
    ("a limit on another vital above a low limit's number", SHIPPED_IV + EXTRA_LIMIT.format(id="rr_high", vital="rr", above=30), None),
    ("a high SpO2 limit at the low limit's number", SHIPPED_IV + EXTRA_LIMIT.format(id="spo2_high", vital="spo2", above=90), "below"),
    ("no route at all", NO_ROUTE, "route"),
]


@pytest.mark.parametrize(("what", "text", "refused_field"), PROTOCOL_EDITS, ids=[e[0] for e in PROTOCOL_EDITS])
def test_a_clinics_protocol_edit_is_refused_or_loaded(what, text, refused_field):
    """A clinic edits its protocol: a value that would make a rule meaningless is refused, naming the
    field; a value at an edge that still means something loads."""
    if refused_field is None:
        parse(text, "clinic.toml")
        return
    with pytest.raises(ProtocolError) as refused:
        parse(text, "clinic.toml")
    assert refused.value.field.endswith(refused_field), (what, str(refused.value))


def test_a_syntax_error_on_the_last_line_names_its_field():
    with pytest.raises(ProtocolError) as refused:
        parse(SHIPPED_IV + "broken = \n", "clinic.toml")
    assert refused.value.field == "broken" and refused.value.line == SHIPPED_IV.count("\n") + 1


def _discharge_record(cuffs, extra=(), events=()) -> SessionRecord:
    """IV dose at 60 s; SpO2 97 % every 10 s to 4000 s; the given cuff readings; baseline 120/78."""
    rows = [StoredReading(0, t, v, x, "mmHg", "cuff", OK if x is not None else NO_VALUE)
            for t, s, d in cuffs for v, x in (("sbp", s), ("dbp", d))]
    rows += [StoredReading(0, float(t), "spo2", 97.0, "%", "ox", OK) for t in range(0, 4001, 10)] + list(extra)
    rows.sort(key=lambda r: r.t)
    frozen = StoredEvent(1, 60.0, "baseline", {"values": {"sbp": 120.0, "dbp": 78.0}}, None)
    return SessionRecord(Session("s1", "P-1", 0.0, "iv", 70.0, "kap-iv"), rows, [frozen, *events],
                         [Dose(60.0, "iv", "ketamine", 35.0)], [], 4000.0)


def test_a_failed_cuff_measurement_leaves_the_last_good_bp_for_discharge():
    """The last cuff measurement fails (no value): discharge is judged on the reading before it."""
    record = _discharge_record([(0.0, 120, 78), (3000.0, 122, 80), (3900.0, None, None)])
    assert summarise(record, load("kap-iv")).discharge.how == "criteria"


def test_the_bp_taken_at_the_moment_of_discharge_is_judged():
    """BP 160/100 at 50 min; the discharge is recorded at 65 min with a cuff of 122/80 at that moment:
    the criteria shown are those of the BP at discharge."""
    record = _discharge_record([(0.0, 120, 78), (3000.0, 160, 100), (3900.0, 122, 80)],
                               events=[StoredEvent(2, 3900.0, "discharge", {}, "RN A")])
    d = summarise(record, load("kap-iv")).discharge
    assert d.how == "recorded" and all(c.met for c in d.criteria), [c.text for c in d.criteria if not c.met]


def test_the_post_dose_peak_leaves_out_the_cuff_reading_at_the_dose_instant():
    """170/100 measured as the dose starts is the last pre-dose reading (as for the engine and the REMS
    form), not the post-dose peak: the peak is the highest reading after it."""
    record = _record(doses=(Dose(2400.0, "iv", "ketamine", 35.0),), cuffs=((0.0, 120, 78), (2400.0, 170, 100), (3000.0, 150, 90)))
    top = peak(record.readings, "sbp", 2400.0)
    assert (top.t, top.value, top.after_dose_s) == (3000.0, 150.0, 600.0)
    assert peak(record.readings, "sbp", 3000.0) is None
    assert peak(record.readings, "sbp", None).value == 170.0


def test_the_pre_discharge_bp_may_be_taken_at_the_discharge_instant():
    """A cuff measured as the patient is discharged is the REMS form's pre-discharge BP."""
    record = _record(doses=(Dose(60.0, "iv", "ketamine", 35.0),), cuffs=((0.0, 120, 78), (2400.0, 170, 100), (3000.0, 126, 80)))
    record.events.append(StoredEvent(4, 3000.0, "discharge", {"text": "home with partner"}, "RN A"))
    assert rems(record, load("kap-iv")).pre_discharge.t == 3000.0


# ------------------------------------------------------------------------------------ engine state the pages and discharge read


def test_the_last_dose_is_the_latest_and_dosing_ends_with_the_longest_infusion():
    """A 40-min infusion from 0 s, then a bolus at 600 s: the last dose started at 600 s, and dosing ends
    when the infusion does (2400 s), not at the bolus."""
    e = engine()
    e.on_dose(0.0, 35.0, end=2400.0)
    e.on_dose(600.0, 10.0)
    assert (e.last_dose_start, e.last_dose_end) == (600.0, 2400.0)


def test_the_sampling_interval_is_stated_then_measured_and_capped():
    """Before two intervals are seen the recording's stated interval counts (capped at the protocol's
    300 s); after two, the measured one."""
    e = engine(sampling={"spo2": 600.0})
    assert e.sampling_s("spo2") == 300.0  # the stated 10 min, capped at max_interval_s
    feed(e, "spo2", [97, 97], step=60)
    assert e.sampling_s("spo2") == 300.0  # one interval seen: still the stated one
    feed(e, "spo2", [97], start=120)
    assert e.sampling_s("spo2") == 60.0  # two intervals: measured


def test_recording_failed_is_raised_once_and_cleared_when_writes_resume():
    e = engine()
    assert e.recording(True, 1.0) == []  # writes going fine: nothing to say
    raised = e.recording(False, 2.0, "disk is full")
    assert [(ev.event, ev.alarm_id, ev.priority) for ev in raised] == [("raised", "recording_failed", HIGH)]
    assert e.recording(False, 3.0, "disk is full") == []  # still failing: no second alarm
    assert [(ev.event, ev.alarm_id) for ev in e.recording(True, 4.0)] == [("cleared", "recording_failed")]


def test_check_cuff_names_equal_pressures_and_only_a_measurement_of_its_own():
    """100/100 is doubted as "diastolic not below systolic"; a doubted systolic of another measurement
    (another time) is not explained by this one's diastolic."""
    rules = SessionRules(plan(), 0.0)
    rules.add(rules.admit([reading(600.0, "sbp", 100, "cuff"), reading(600.0, "dbp", 100, "cuff")]))
    checks = {ev.alarm_id: ev.message for ev in alarm_events(rules.finish(601.0)) if ev.event == "raised"}
    assert "diastolic 100 not below systolic 100" in checks["dbp_check"]
    assert "diastolic not below systolic" in checks["sbp_check"]  # judged before its diastolic arrived
    rules = SessionRules(plan(), 0.0)
    rules.add(rules.admit([reading(600.0, "sbp", 100, "cuff"), reading(600.0, "dbp", 100, "cuff")]))
    rules.add(rules.admit([reading(750.0, "sbp", 120, "cuff"), reading(750.0, "dbp", 80, "cuff")]))  # clears the check
    rules.add(rules.admit([reading(900.0, "sbp", 400, "cuff"), reading(900.0, "dbp", 80, "cuff")]))
    raised = alarm_events(rules.finish(901.0))
    (later,) = [ev for ev in raised if ev.alarm_id == "sbp_check" and ev.event == "raised" and ev.t >= 900.0]
    assert "diastolic 100" not in later.message and "400" in later.message


@pytest.mark.parametrize("pulse_every_s", [1.0, 7.0])
def test_the_pre_dose_bp_goes_out_of_date_at_its_own_second(pulse_every_s):
    """kap-iv asks for a pre-dose BP at most 30 min old: a cuff reading of 120/78 at 0 s leaves dosing clear until
    1800 s, when it is gated (take a new BP) at exactly 1800 s, whichever readings come in between."""
    rules = SessionRules(plan(), 0.0, weight_kg=70.0)
    rules.add([reading(0.0, "sbp", 120, "cuff"), reading(0.0, "dbp", 78, "cuff")])
    rules.add(reading(k * pulse_every_s, v, 97 if v == "spo2" else 72, "ox")
              for k in range(int(2400 / pulse_every_s)) for v in ("spo2", "pr"))
    changes = [(o.t, o.decision.state) for o in rules.finish(2400.0) if isinstance(o, DosingChange)]
    assert changes[1:] == [(0.0, CLEAR), (1800.0, GATED)]
    assert "predose_bp_missing" in {f.id for f in rules.decision.findings}


def test_a_dose_with_problems_of_two_priorities_alarms_at_the_higher():
    """IV 100 mg for 70 kg (1.43 mg/kg: above the 1.0 maximum, HIGH) pushed over 1 min (below the 2-min infusion
    minimum, MEDIUM): the dose alarm is HIGH, never the lower of the two."""
    rules = SessionRules(make_plan(load("kap-iv"), SAMPLE_SCREENING), 0.0, weight_kg=70.0)
    rules.add([reading(0.0, v, x, "cuff") for v, x in (("sbp", 120), ("dbp", 78), ("map", 92))])
    rules.add([reading(float(t), "spo2", 97, "ox") for t in range(0, 200)])
    rules.add([Dose(150.0, "iv", "ketamine", 100.0, end=210.0)])
    raised = {e.alarm_id: e for e in alarm_events(rules.finish(300.0)) if e.event == "raised"}
    assert raised["dose_bounds"].priority == HIGH
    assert "below the protocol minimum" in raised["dose_bounds"].message and "above the protocol maximum" in raised["dose_bounds"].message


# ------------------------------------------------------------------------------------ one session's inputs, answers and the clock


def _cuff(t: float, sbp: float, dbp: float) -> list[Reading]:
    return [reading(t, v, x, "cuff") for v, x in (("sbp", sbp), ("dbp", dbp), ("map", round((sbp + 2 * dbp) / 3)))]


def test_new_screening_answers_judge_the_readings_after_them_and_everything_received_before_comes_first():
    """Pre-dose: 120/78 at 0 s, SpO2 every second. The cuff reads 175/85 at 600 s and at that same second the nurse
    saves "cardiac disease: yes" (SBP critical tightened from 180 to 170). Everything received before the save, that
    measurement included, is judged under the plan it came under, as live judges everything received first (a
    resumed session replays it so): no SBP critical for 175, no "no SpO2 data" for the minutes before. The next
    cuff, 172/84 at 900 s, is judged under the new plan: SBP critical (HIGH) then."""
    rules = SessionRules(plan(), 0.0)
    rules.add(_cuff(0.0, 120, 78) + _cuff(600.0, 175, 85) + [reading(float(t), "spo2", 97, "ox") for t in range(1000)])
    out = rules.rescreen({**SAMPLE_SCREENING, "cardiac_disease": True}, 600.0)
    rules.add(_cuff(900.0, 172, 84))
    out += rules.finish(1000.0)
    events = alarm_events(out)
    assert [ev.t for ev in events if ev.event == "raised" and ev.alarm_id == "sbp_critical"] == [900.0]
    assert not [ev for ev in events if ev.alarm_id == "spo2_stale"]
    stamps = [o.t for o in out if isinstance(o, DosingChange)]
    assert stamps == sorted(stamps)


def test_a_new_bp_taken_the_second_the_last_goes_out_of_date_keeps_dosing_clear():
    """kap-iv doses on a BP at most 30 min old. 120/78 at 0 s, the repeat 122/80 at 1800 s, the very second the first
    one is out of date: the new measurement is in at that instant, so dosing stays clear; no "take a new pre-dose BP"
    shows and goes again at 1800 s."""
    rules = SessionRules(plan(), 0.0, weight_kg=70.0)
    rules.add(_cuff(0.0, 120, 78) + _cuff(1800.0, 122, 80) + [reading(float(t), "spo2", 97, "ox") for t in range(0, 2400, 5)])
    changes = [(o.t, o.decision.state) for o in rules.finish(2400.0) if isinstance(o, DosingChange)]
    assert changes == [(0.0, GATED), (0.0, CLEAR)]


def test_a_gate_opening_after_the_bp_went_out_of_date_is_stamped_when_it_opened():
    """120/78 at 0 s goes out of date at 1800 s (gated: take a new BP). SpO2 97 % falls to 91 % at 2000 s, the pulse
    sent with each SpO2: the SpO2 gate (median of the last 2 min below 93 %) opens at 2060 s and is recorded then,
    never back at 1800 s, when SpO2 was 97 %."""
    rules = SessionRules(plan(), 0.0, weight_kg=70.0)
    rules.add(_cuff(0.0, 120, 78))
    spo2 = [reading(float(t), "spo2", 97 if t < 2000 else 91, "ox") for t in range(2400)]
    rules.add(x for r in spo2 for x in (r, reading(r.t, "pr", 72, "ox")))
    changes = [(o.t, [f.id for f in o.decision.findings]) for o in rules.finish(2400.0) if isinstance(o, DosingChange)]
    assert changes[2:] == [(1800.0, ["predose_bp_missing"]), (2060.0, ["predose_bp_missing", "predose_spo2_gate"])]


def test_a_dose_the_second_the_bp_goes_out_of_date_is_given_on_hold():
    """120/78 at 0 s: dosing is gated at 1800 s (the BP 30 min old) and the record says so. A dose at 1800 s is given
    while gated, as one at 1801 s is: "dose given while DOSING ON HOLD" (HIGH), as for a cuff reading at the dose's
    instant, what happens at that instant counts before the dose."""
    rules = SessionRules(plan(), 0.0, weight_kg=70.0)
    rules.add(_cuff(0.0, 120, 78) + [reading(float(t), "spo2", 97, "ox") for t in range(0, 1800, 5)])
    rules.add([Dose(1800.0, "iv", "ketamine", 35.0)])
    out = rules.finish(1900.0)
    assert (1800.0, GATED) in [(o.t, o.decision.state) for o in out if isinstance(o, DosingChange)]
    on_hold = [(ev.t, ev.priority) for ev in alarm_events(out) if ev.event == "raised" and ev.alarm_id == "dose_on_hold"]
    assert on_hold == [(1800.0, HIGH)]


def test_waveform_samples_are_never_judged_as_readings_of_the_patient():
    """The oximeter reports "sensor off" at 60 s and goes on sending its flat pleth trace, sample by sample: the
    trace says nothing of the patient, so it must not end the sensor-off alarm (raised after its 10 s delay). Pleth
    samples the device flags as doubtful raise no "check sensor" for the trace either."""
    rules = SessionRules(plan(), 0.0)
    items = [reading(float(t), v, 97 if v == "spo2" else 72, "ox") for t in range(60) for v in ("spo2", "pr")]
    items += [Condition(60.0, "sensor_off", "ox")] + [Reading(60 + k / 7, "pleth", 0.0, "", "ox") for k in range(0, 420, 3)]
    items += [Reading(k / 7, "pleth", 0.5, "", "ox", QUESTIONABLE) for k in range(0, 420, 3)]
    items.sort(key=lambda i: i.t)
    assert not [i for i in judged(items) if isinstance(i, Reading) and i.vital == "pleth"]
    rules.add(judged(rules.admit(items)))
    raised = {ev.alarm_id: ev.t for ev in alarm_events(rules.finish(120.0)) if ev.event == "raised"}
    assert raised.get("sensor_off:ox") == 70.0
    assert "pleth_check" not in raised
