"""Grouping active alarms into one card per reading or vital family, as a bedside monitor does."""

from __future__ import annotations

from dataclasses import replace

from devices.reading import Condition, reading
from monitor.rules.alarm_groups import group_alarms, most_urgent
from monitor.rules.alarms import AlarmEngine
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.plan import make_plan
from monitor.rules.protocol import load

T0 = 1_700_000_000.0


def surge_engine() -> AlarmEngine:
    """Baseline 131/81 before a dose, then one cuff reading of 190/114 after it (a cuff alone: SpO2 is not
    required in this test)."""
    protocol = load("kap-iv")
    protocol = replace(protocol, technical=replace(protocol.technical, required=()))
    e = AlarmEngine(make_plan(protocol, SAMPLE_SCREENING), start=T0)
    for t in (0, 300):
        for vital, value in (("sbp", 131), ("dbp", 81), ("map", 98)):
            e.on_item(reading(T0 + t, vital, value, "cuff"))
    e.on_dose(T0 + 400, mg=40)
    for vital, value in (("sbp", 190), ("dbp", 114), ("map", 139)):
        e.on_item(reading(T0 + 900, vital, value, "cuff"))
    return e


def test_one_blood_pressure_is_one_card_led_by_its_highest_alarm():
    alarms = surge_engine().active()
    assert len(alarms) == 7  # high, rise and low-priority limits for SBP and DBP, and the MAP's high limit
    (card,) = group_alarms(alarms)
    assert card.label == "NIBP" and card.key == "physiological:nibp"
    assert card.lead.priority == "high"
    assert [a.priority for a in card.alarms] == ["high", "high", "medium", "medium", "low", "low", "low"]
    assert len(card.unacknowledged) == 7


def test_an_acknowledged_alarm_gives_up_the_lead_to_an_unacknowledged_one():
    alarms = surge_engine().active()
    acked = [replace(a, acknowledged=True) if a.priority == "high" else a for a in alarms]
    (card,) = group_alarms(acked)
    assert card.lead.priority == "medium" and not card.lead.acknowledged
    assert [a.acknowledged for a in card.alarms][-2:] == [True, True]
    assert most_urgent(acked).priority == "medium"
    everything = [replace(a, acknowledged=True) for a in alarms]
    assert most_urgent(everything).priority == "high"
    assert most_urgent([]) is None


def test_families_and_kinds_get_separate_cards_most_urgent_first():
    e = surge_engine()
    for t in range(901, 940):
        e.on_item(reading(T0 + t, "spo2", 86, "ox"))
        e.on_item(reading(T0 + t, "hr", 160, "ecg"))
        e.on_item(reading(T0 + t, "pr", 158, "ox"))
    e.on_item(Condition(T0 + 940, "sensor_off", "ox", vitals=("spo2",)))
    e.on_item(Condition(T0 + 940, "low_battery", "cuff"))
    e.tick(T0 + 960)
    groups = group_alarms(e.active())
    keys = [g.key for g in groups]
    assert set(keys) == {"physiological:nibp", "physiological:hr", "physiological:spo2", "technical:spo2",
                         "technical:low_battery:cuff"}
    hr = next(g for g in groups if g.key == "physiological:hr")
    assert hr.label == "HR / PR" and {a.vital for a in hr.alarms} == {"hr", "pr"}
    assert next(g for g in groups if g.key.startswith("technical:low")).label == "Device"
    # Unacknowledged high groups come before technical (low) ones; the newest first among equals.
    ranks = [(not g.lead.acknowledged, g.lead.priority) for g in groups]
    assert ranks == sorted(ranks, key=lambda r: (r[0], ("low", "medium", "high").index(r[1])), reverse=True)
