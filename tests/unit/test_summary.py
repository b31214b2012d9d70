"""The session summary: baseline, peaks, SpO2 time below 90 %, alarm episodes, discharge, REMS."""

import pytest

from monitor.rules.alarm_events import AlarmEvent
from monitor.session.model import Dose, Session
from monitor.session.store import Store
from monitor.analysis.summary import (
    SessionNotFound, episodes, load_record, summarise, time_below,
)
from monitor.session.store import StoredReading

T0 = 1_800_000_000.0


def reading(t, vital, value, source="dev"):
    unit = {"spo2": "%", "hr": "/min"}.get(vital, "mmHg")
    return StoredReading(0, T0 + t, vital, value, unit, source, "ok" if value is not None else "no_value")


def alarm(t, event, alarm_id="spo2_low", priority="medium", who=None):
    return AlarmEvent(T0 + t, event, alarm_id, priority, "physiological", "spo2", 85.0, 90.0, "r", "SpO2 85 < 90", who)


@pytest.fixture
def store(tmp_path):
    from devices.reading import Reading

    store = Store(tmp_path / "s.db")
    store.create_session(Session("s1", "P-1", T0, "iv", 70.0, "kap-iv"))
    rows = []
    for t, sbp, dbp in [(0, 120, 80), (300, 124, 78), (540, 122, 82),       # baseline: median 122/80
                        (1800, 150, 90), (2400, 170, 100), (3000, 140, 88),  # peak 170 at 40 min... after dose at 600
                        (6000, 126, 80), (8000, 124, 79)]:
        rows += [Reading(T0 + t, "sbp", sbp, "mmHg", "cuff"), Reading(T0 + t, "dbp", dbp, "mmHg", "cuff")]
    for t in range(0, 8400):
        spo2 = 85.0 if 4000 <= t < 4030 else 97.0
        rows.append(Reading(T0 + t, "spo2", spo2, "%", "ox"))
        rows.append(Reading(T0 + t, "hr", 60.0 + (t % 30), "/min", "ecg"))
    rows.append(Reading(T0 + 5000.5, "spo2", None, "%", "ox", "no_value"))
    store.write("s1", rows)
    store.add_dose("s1", Dose(T0 + 600, "iv", "ketamine", 35.0, T0 + 3000))
    store.write("s1", alarms=[alarm(4015, "raised"), alarm(4025, "acknowledged", who="RN A"), alarm(4045, "cleared"),
                              alarm(4100, "raised", "hr_high", "low"), alarm(4100.5, "escalated", "hr_high", "high"),
                              alarm(4160, "cleared", "hr_high", "high")])
    store.write("s1", events=[(T0 + 8400, "end", {}, None)])
    return store


def test_summary_of_a_session(store):
    s = summarise(load_record(store, "s1"))
    assert s.baseline["sbp"] == 122 and s.baseline["dbp"] == 80
    assert s.peak_sbp.value == 170 and s.peak_sbp.after_dose_s == 1800
    assert s.rise_sbp.value == 48 and s.rise_dbp.value == 20
    assert s.min_spo2.value == 85
    assert s.below_90_s == pytest.approx(30)
    assert s.hr_range == (60, 89)
    assert s.total_mg == 35 and s.mg_per_kg == 0.5
    by = {a.priority: a for a in s.alarms}
    assert by["medium"].count == 1 and by["medium"].median_ack_s == 10
    assert by["high"].count == 1 and by["high"].acknowledged == 0  # counted at the priority it escalated to
    assert by["low"].count == 0
    assert s.rems.pre_dose.sbp == 122 and s.rems.checkpoint.t == T0 + 3000  # closest to dose + 40 min
    assert s.rems.end.sbp == 124 and s.rems.monitoring_s == 8400 and s.rems.two_hours


def test_discharge_is_the_earliest_time_criteria_held_to_the_end(store):
    d = summarise(load_record(store, "s1")).discharge
    assert d.how == "criteria"
    # Needs 60 min observation (kap-iv) after the infusion ends at 3000 s, BP within 20 % (126/80 at 6000 s).
    assert d.t == pytest.approx(T0 + 6600)
    assert all(c.met for c in d.criteria)


def test_a_recorded_discharge_wins_and_criteria_are_judged_then(store):
    store.write("s1", events=[(T0 + 2500, "phase", {"text": "Discharged home with escort"}, "Dr B")])
    d = summarise(load_record(store, "s1")).discharge
    assert d.how == "recorded" and d.t == T0 + 2500
    failed = [c.text for c in d.criteria if not c.met]
    assert any(n.startswith("observation") for n in failed) and any(n.startswith("SBP 170") for n in failed)


def test_no_value_and_gaps_are_not_time_below_90():
    rows = [reading(0, "spo2", 85), reading(1, "spo2", None), reading(2, "spo2", 85), reading(60, "spo2", 85),
            reading(61, "spo2", 97)]
    # 0 -> 1 and 60 -> 61 start below 90 (1 s each); 1 -> 2 starts with no value; 2 -> 60 is a gap.
    assert time_below(rows, "spo2", 90) == 2
    assert time_below([reading(0, "spo2", 85)], "spo2", 90) == 0


def test_unclosed_alarm_runs_to_the_end():
    eps = episodes([alarm(0, "raised"), alarm(5, "audio_paused")])
    assert len(eps) == 1 and eps[0].end is None and eps[0].until(T0 + 99) == T0 + 99


def test_unknown_session(store):
    with pytest.raises(SessionNotFound, match="nope"):
        load_record(store, "nope")


def test_no_dose_means_no_baseline(tmp_path):
    from devices.reading import Reading

    store = Store(tmp_path / "n.db")
    store.create_session(Session("n", "P-2", T0, "im", None))
    store.write("n", [Reading(T0, "sbp", 130, "mmHg", "c"), Reading(T0, "dbp", 85, "mmHg", "c")])
    s = summarise(load_record(store, "n"))
    assert s.baseline == {} and s.rise_sbp is None and s.peak_sbp.value == 130 and s.mg_per_kg is None
    assert s.discharge.how == "not met"


def test_the_rems_fields_are_complete_and_a_recorded_discharge_keeps_when_the_patient_could_have_left(store):
    store.write("s1", events=[(T0 + 7000, "discharge", {}, "RN A")])
    s = summarise(load_record(store, "s1"))
    assert s.discharge.how == "recorded" and s.discharge.t == T0 + 7000
    assert s.discharge.could_leave == pytest.approx(T0 + 6600)  # the criteria held from then on
    assert s.rems.pre_dose.sbp == 122 and s.rems.checkpoint is not None
    assert s.rems.pre_discharge.t == T0 + 6000 and s.rems.end.t == T0 + 8000
    assert s.rems.after_dose_s == 7800 and s.rems.two_hours


def test_a_session_whose_protocol_file_is_gone_says_what_it_is_judged_under(tmp_path):
    """A custom protocol file moved away after the session: the summary and report are judged under the
    shipped protocol for the route and say so, instead of showing the session's protocol name over them."""
    from devices.reading import Reading
    from monitor.analysis.summary import load_record, summarise
    from monitor.exports.report import render

    store = Store(tmp_path / "k.db")
    gone = tmp_path / "clinic-iv.toml"
    store.create_session(Session("s1", "P-1", T0, "iv", 70.0, str(gone)))
    store.write("s1", [Reading(T0 + t, "spo2", 97.0, "%", "ox") for t in range(0, 600, 60)],
                [(T0, "protocol", {"protocol": "clinic-iv", "version": "2.0"}, "Dr A")])
    record = load_record(store, "s1")
    summary = summarise(record)
    assert summary.protocol.startswith("kap-iv (the session's protocol ") and "could not be loaded" in summary.protocol
    assert str(gone) in summary.protocol
    html = render(record, summary)
    assert "could not be loaded" in html and "clinic-iv 2.0, chosen by Dr A" not in html


def test_a_session_under_a_loadable_protocol_names_it_with_its_version_and_chooser(tmp_path):
    from devices.reading import Reading
    from monitor.analysis.summary import load_record, summarise
    from monitor.exports.report import render

    store = Store(tmp_path / "k.db")
    store.create_session(Session("s1", "P-1", T0, "iv", 70.0, "kap-iv"))
    store.write("s1", [Reading(T0 + t, "spo2", 97.0, "%", "ox") for t in range(0, 600, 60)],
                [(T0, "protocol", {"protocol": "kap-iv", "version": "0.1.0"}, "Dr A")])
    record = load_record(store, "s1")
    summary = summarise(record)
    assert summary.protocol == "kap-iv"
    assert "protocol kap-iv 0.1.0, chosen by Dr A" in render(record, summary)
