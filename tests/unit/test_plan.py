"""Screening -> plan: each contraindication mapping, pre-dose gates, overrides, reasons in words."""

from __future__ import annotations

import pytest

from devices.reading import reading
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.dosing import BLOCKED, PredoseReadings, decide
from monitor.rules.plan import BLOCK, GATE, make_plan, override
from monitor.rules.protocol import load

KAP_IV = load("kap-iv")


def plan_for(**answers):
    return make_plan(KAP_IV, {**SAMPLE_SCREENING, **answers})


def limit(plan, limit_id):
    return next(p for p in plan.limits if p.limit.id == limit_id)


def readings(plan, **values):
    """Pre-dose readings taken together at t=0 (a cuff measurement and/or SpO2)."""
    out = PredoseReadings(120.0)
    for vital, value in values.items():
        out.add(reading(0.0, vital, value, "cuff"), plan.protocol.gates, plan.screening.get("age"))
    return out


def outstanding(plan, **values):
    """The open findings of the dosing decision, on a normal pre-dose BP unless values are given."""
    return list(decide(plan, readings(plan, **(values or {"sbp": 120, "dbp": 80}))).findings)


def blocked(plan, **values):
    return decide(plan, readings(plan, **(values or {"sbp": 120, "dbp": 80}))).state == BLOCKED


def test_a_clean_screening_gives_the_protocol_defaults():
    plan = plan_for()
    assert outstanding(plan) == [] and not blocked(plan)
    assert {p.limit for p in plan.limits} == set(KAP_IV.limits)
    assert plan.nibp_interval_s == 300 and plan.observation_s == 3600
    assert plan.checks == () and plan.notes == ()


@pytest.mark.parametrize(
    "answers, finding",
    [
        ({"aneurysm_or_avm": True}, "aneurysm_or_avm"),
        ({"intracerebral_haemorrhage": True}, "intracerebral_haemorrhage"),
        ({"ketamine_hypersensitivity": True}, "ketamine_hypersensitivity"),
        ({"psychosis": True}, "psychosis"),
        ({"pregnancy": True}, "pregnancy"),
        ({"recent_cardiac_event": True}, "recent_cardiac_event"),
        ({"hepatic_impairment": "severe"}, "hepatic_impairment_severe"),
    ],
)
def test_absolute_contraindications_block(answers, finding):
    plan = plan_for(**answers)
    assert blocked(plan)
    (found,) = outstanding(plan)
    assert (found.id, found.action) == (finding, BLOCK)
    assert any(finding in line for line in plan.lines())


@pytest.mark.parametrize("item", ["cardiac_disease", "hyperthyroidism"])
def test_relative_contraindications_need_physician_clearance(item):
    plan = plan_for(**{item: True})
    (found,) = outstanding(plan)
    assert (found.id, found.action) == (item, GATE) and "physician clearance" in found.text
    assert not blocked(plan)


def test_an_unanswered_blocking_question_gates_dosing():
    answers = dict(SAMPLE_SCREENING)
    del answers["pregnancy"]
    plan = make_plan(KAP_IV, answers)
    (found,) = outstanding(plan)
    assert (found.id, found.action) == ("pregnancy", GATE) and "not answered" in found.text


def test_unanswered_and_unknown_answers_are_noted():
    plan = make_plan(KAP_IV, {**SAMPLE_SCREENING, "favourite_colour": "blue", "sleep_apnoea": None})
    assert any("favourite_colour" in n for n in plan.notes)
    assert any("Sleep apnoea" in n and "not answered" in n for n in plan.notes)


def test_cns_depressants_tighten_spo2_and_shorten_its_delay():
    plan = plan_for(cns_depressant=True)
    spo2 = limit(plan, "spo2_low")
    assert (spo2.limit.threshold, spo2.limit.delay_s) == (92, 5)
    assert any("90 -> 92 because cns_depressant" in r for r in spo2.reasons)
    assert any("15 s -> 5 s" in r for r in spo2.reasons)
    assert "Continuous SpO2 mandatory" in {c.text for c in plan.checks}


def test_sleep_apnoea_shortens_the_spo2_delay_and_adds_checks():
    plan = plan_for(sleep_apnoea=True)
    assert limit(plan, "spo2_low").limit.delay_s == 10
    assert {"Continuous SpO2 mandatory", "STOP-BANG score recorded"} <= {c.text for c in plan.checks}


def test_the_tightest_of_several_items_wins_and_shared_checks_merge():
    plan = plan_for(cns_depressant=True, sleep_apnoea=True)
    assert limit(plan, "spo2_low").limit.delay_s == 5
    (shared,) = [c for c in plan.checks if c.text == "Continuous SpO2 mandatory"]
    assert shared.id == "cns_depressant, sleep_apnoea"


def test_stimulants_tighten_the_critical_bp_limits():
    plan = plan_for(stimulant_or_maoi=True)
    assert limit(plan, "sbp_critical").limit.threshold == 170
    assert limit(plan, "dbp_critical").limit.threshold == 105
    assert "Re-measure pre-dose BP after 5-10 min rest" in {c.text for c in plan.checks}


def test_known_hypertension_tightens_relative_limits_and_shortens_the_nibp_cycle():
    plan = plan_for(known_hypertension=True)
    assert limit(plan, "sbp_rise").limit.threshold == 30 and limit(plan, "dbp_rise").limit.threshold == 20
    assert plan.nibp_interval_s == 180
    assert any("known_hypertension" in r for r in plan.nibp_reasons)


def test_age_65_and_over_tightens_the_sbp_rise():
    assert limit(plan_for(age=64), "sbp_rise").limit.threshold == 40
    older = plan_for(age=65)
    assert limit(older, "sbp_rise").limit.threshold == 30 and older.nibp_interval_s == 180


def test_cardiac_disease_tightens_heart_rate():
    plan = plan_for(cardiac_disease=True)
    assert limit(plan, "hr_high").limit.threshold == 110 and limit(plan, "pr_high").limit.threshold == 110
    assert "ECG on file" in {c.text for c in plan.checks}


def test_hypertensive_encephalopathy_asks_for_intensive_bp_monitoring():
    plan = plan_for(hypertensive_encephalopathy=True)
    assert plan.nibp_interval_s == 180
    assert "Intensive BP monitoring throughout the session" in {c.text for c in plan.checks}


def test_substance_use_adds_checks_without_changing_limits():
    plan = plan_for(substance_use_disorder=True)
    assert {p.limit for p in plan.limits} == set(KAP_IV.limits)
    assert "Attest last use more than 48 h ago" in {c.text for c in plan.checks}


def test_moderate_hepatic_impairment_extends_observation():
    plan = plan_for(hepatic_impairment="moderate")
    assert plan.observation_s == 120 * 60
    assert any("hepatic_impairment_moderate" in r for r in plan.observation_reasons)


@pytest.mark.parametrize(
    "age, values, expected",
    [
        (40, {"sbp": 130, "dbp": 80, "spo2": 97}, []),
        (40, {"sbp": 145, "dbp": 80}, ["predose_bp_gate"]),
        (40, {"sbp": 130, "dbp": 92}, ["predose_bp_gate"]),
        (70, {"sbp": 145, "dbp": 80}, []),
        (70, {"sbp": 155, "dbp": 80}, ["predose_bp_gate_65"]),
        (40, {"sbp": 182, "dbp": 95}, ["predose_bp_block", "predose_bp_gate"]),
        (40, {"sbp": 150, "dbp": 100}, ["predose_bp_block", "predose_bp_gate"]),
        (40, {"spo2": 92}, ["predose_spo2_gate"]),
    ],
)
def test_predose_gates_on_the_latest_readings(age, values, expected):
    plan = plan_for(age=age)
    if "sbp" not in values:
        values = {"sbp": 120, "dbp": 80, **values}
    assert [f.id for f in outstanding(plan, **values)] == expected
    assert blocked(plan, **values) == ("predose_bp_block" in expected)


def test_no_cuff_reading_gates_dosing_until_a_predose_bp_is_taken():
    plan = plan_for()
    assert [f.id for f in decide(plan, PredoseReadings(120.0)).findings] == ["predose_bp_missing"]


def test_a_named_physician_overrides_a_block_with_a_reason():
    plan = plan_for(psychosis=True)
    (block,) = outstanding(plan)
    lifted, event = override(plan, block, "Dr A. Smith", "remote history, psychiatrist reviewed", t=100.0)
    assert not blocked(lifted) and outstanding(lifted) == []
    assert (event.event, event.alarm_id, event.who, event.t) == ("overridden", "psychosis", "Dr A. Smith", 100.0)
    assert "remote history" in event.message
    assert any("overridden psychosis by Dr A. Smith" in line for line in lifted.lines())


def test_a_prescriber_acknowledges_a_predose_gate():
    plan = plan_for()
    (gate,) = outstanding(plan, sbp=146, dbp=84)
    acknowledged, _ = override(plan, gate, "Dr B", "re-measured 138/84 after rest", 10.0)
    assert outstanding(acknowledged, sbp=146, dbp=84) == []


def test_an_override_needs_a_name_and_a_reason():
    plan = plan_for(pregnancy=True)
    (block,) = outstanding(plan)
    with pytest.raises(ValueError):
        override(plan, block, "", "because", 0.0)
    with pytest.raises(ValueError):
        override(plan, block, "Dr C", "  ", 0.0)


def test_a_non_overridable_block_cannot_be_overridden():
    from dataclasses import replace

    plan = plan_for(ketamine_hypersensitivity=True)
    (block,) = outstanding(plan)
    with pytest.raises(ValueError, match="cannot be overridden"):
        override(plan, replace(block, overridable=False), "Dr D", "reason", 0.0)


def test_route_must_exist():
    with pytest.raises(ValueError, match="no rules for route"):
        make_plan(KAP_IV, SAMPLE_SCREENING, "intranasal")
    assert make_plan(KAP_IV, SAMPLE_SCREENING, "iv").route.name == "iv"


def test_every_limit_says_why_in_words():
    for planned in plan_for(known_hypertension=True).limits:
        text = planned.describe()
        assert planned.limit.vital in text and "protocol default" in text and "clinical-reference" in text
