"""Hostile review of the clinical core: the alarm engine and the dosing decision, fed as every path
feeds them (``judge_recording`` is what ``kapmon alarms`` runs; ``SessionRules`` is what live, replay
and import run). Each test states what a clinician expects; the ones marked xfail show a problem
that is still there."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import RecordingError
from devices.reading import Condition, Reading, no_value, reading
from devices.recording import FORMAT, Recording, read_recording, write_recording
from devices.screening import complete, parse_answers
from monitor.alarms import AlarmEngine
from monitor.plan import make_plan
from monitor.protocol import load
from monitor.session import Dose
from monitor.session_rules import DosingChange, SessionRules, alarm_events, judge_recording


def kap_iv(answers: dict | None = None):
    return make_plan(load("kap-iv"), answers if answers is not None else complete(45), "iv")


def judged(items: list, metadata: dict | None = None, answers: dict | None = None) -> list:
    """What ``kapmon alarms`` decides on a recording of ``items`` (t in seconds from the start)."""
    return judge_recording(kap_iv(answers), Recording(None, metadata or {}, sorted(items, key=lambda i: i.t)))


def from_file(folder: Path, items: list, metadata: dict) -> list | None:
    """``kapmon alarms`` on a recording written with ``metadata`` in its sidecar; None when the sidecar is refused."""
    sidecar = {"format": FORMAT, "route": "iv", "screening": complete(45), **metadata}
    csv = write_recording(folder / "r.csv", sorted(items, key=lambda i: i.t), sidecar)
    try:
        recording = read_recording(csv)
    except RecordingError:
        return None
    return judge_recording(kap_iv(), recording)


def raised(outputs: list, alarm_id: str) -> list[float]:
    return [e.t for e in alarm_events(outputs) if e.event == "raised" and e.alarm_id == alarm_id]


def dosing(outputs: list) -> list[tuple[float, str]]:
    return [(o.t, o.decision.state) for o in outputs if isinstance(o, DosingChange)]


def state_at(outputs: list, t: float) -> str:
    return [s for when, s in dosing(outputs) if when <= t][-1]


def cuff(t: float, sbp: float, dbp: float) -> list[Reading]:
    return [reading(t, "sbp", sbp, "cuff"), reading(t, "dbp", dbp, "cuff"), reading(t, "map", round((sbp + 2 * dbp) / 3), "cuff")]


def oximeter(seconds: range, spo2=lambda t: 97.0, source: str = "ox") -> list[Reading]:
    return [r for t in seconds for r in (reading(t, "spo2", spo2(t), source), reading(t, "pr", 72, source))]


# ------------------------------------------------------------------------------- the engine's timers


@pytest.mark.xfail(strict=True, reason="alarms.py _signal_loss: when the intermittent-signal alarm's window ends at a time "
                   "where (end + 60) - 60 != end in floating point, a residue of lost signal (1e-15 s) keeps it, and "
                   "_signal_loss_due names the same due time again: the engine fires the same timer forever "
                   "(kapmon alarms hangs at 100 % CPU on a 4-minute recording)")
def test_intermittent_signal_whose_last_spell_ends_at_28_3_s_does_not_hang_the_engine(monkeypatch):
    fired = {"n": 0}
    fire = AlarmEngine._fire

    def counted(self, kind, name, t):
        fired["n"] += 1
        if fired["n"] > 10_000:
            raise RuntimeError(f"the engine fired {fired['n']} timers for a 4-minute recording: it loops on {name} at {t!r}")
        return fire(self, kind, name, t)

    monkeypatch.setattr(AlarmEngine, "_fire", counted)
    items: list = [reading(t + 0.5, "spo2", 97, "ox") for t in range(240)]
    for off, on in ((1.0, 9.0), (10.3, 18.3), (20.3, 28.3)):  # a cable out 8 s, in 1.3 s, three times
        items += [Condition(off, "sensor_off", "ox"), Condition(on, "sensor_off", "ox", False)]
    out = judged(items)
    events = [(e.event, e.alarm_id) for e in alarm_events(out)]
    assert ("raised", "signal_loss:ox") in events and ("cleared", "signal_loss:ox") in events


@pytest.mark.xfail(strict=True, reason="alarms.py _data_back (line ~356) ends a no-data condition on valid data but "
                   "leaves its signal-loss spell open, so 15 s later 'intermittent signal' is raised and never clears "
                   "while SpO2 arrives every second")
def test_a_sensor_off_that_valid_data_ends_raises_no_intermittent_signal_alarm():
    items: list = oximeter(range(600)) + [Condition(10.5, "sensor_off", "ox", True, ("spo2",))]
    out = judged(items + cuff(0, 120, 78))
    assert raised(out, "signal_loss:ox") == []


# ------------------------------------------------------------------------------- physiological alarms


@pytest.mark.xfail(strict=True, reason="alarms.py _on_reading (line ~297): a questionable reading resets the pending "
                   "condition delay, so a motion artefact every 10 s hides SpO2 87 % for 6 minutes: no spo2_low, no "
                   "check sensor, nothing")
def test_an_artefact_every_10_s_does_not_hide_a_sustained_desaturation():
    def spo2(t: int) -> float:
        if t < 60:
            return 97
        return 99 if t % 10 == 5 else 87  # a 99 % spike (a moving finger) among true 87 % readings

    out = judged(oximeter(range(420), spo2) + cuff(0, 120, 78))
    assert raised(out, "spo2_low") and raised(out, "spo2_low")[0] <= 60 + 60


@pytest.mark.xfail(strict=True, reason="alarms.py _judge: limits are judged per vital, not per source, so two oximeters "
                   "that disagree (84 % and 97 %) raise and latch spo2_critical every second: 498 HIGH episodes in "
                   "8 minutes in the record and the summary (and a probe at 87 % is never alarmed at all)")
def test_two_oximeters_that_disagree_give_one_episode_not_one_a_second():
    items = oximeter(range(600)) + [reading(t, "spo2", 84 if t > 100 else 96, "ox2") for t in range(600)]
    out = judged(items + cuff(0, 120, 78))
    assert len(raised(out, "spo2_critical")) == 1


# ------------------------------------------------------------------------------- technical alarms and sampling


@pytest.mark.xfail(strict=True, reason="alarms.py sampling_s (line 205): a sampling interval stated by the sidecar is "
                   "not capped by the protocol's max_interval_s (300 s), so sampling_s spo2=86400 silences a 59-minute "
                   "SpO2 outage")
def test_a_stated_sampling_interval_is_capped_by_the_protocol(tmp_path):
    items = [reading(t, "spo2", 97, "ox") for t in range(60)] + [reading(3600, "pr", 72, "ox2")]
    out = from_file(tmp_path, items, {"sampling_s": {"spo2": 86400}})
    if out is None:
        return  # refusing such a sidecar is a fix too
    tech = load("kap-iv").technical
    assert raised(out, "spo2_stale") and raised(out, "spo2_stale")[0] <= 60 + tech.stale_intervals * tech.max_interval_s


@pytest.mark.xfail(strict=True, reason="recording.py sampling_s (line 94) gives the whole recording's median interval "
                   "as if the sidecar had stated it (session_rules.py:226, running.py:123, replay.py:76), so kapmon "
                   "alarms/import of a 1 Hz-then-1/min recording miss a 150-s SpO2 outage that live monitoring "
                   "(intervals measured as they come) alarms at 30 s")
def test_import_judges_a_mixed_rate_recording_as_live_monitoring_would():
    items = [reading(t, "spo2", 97, "ox") for t in range(600) if not 300 <= t < 450]
    items += [reading(t, "spo2", 97, "ox") for t in range(600, 36000, 60)]
    recording = Recording(None, {}, items)
    live = SessionRules(kap_iv(), 0.0)
    live.add(items)
    as_live = [(e.t, e.event, e.alarm_id) for e in alarm_events(live.finish(recording.end))]
    as_imported = [(e.t, e.event, e.alarm_id) for e in alarm_events(judge_recording(kap_iv(), recording))]
    assert as_imported == as_live


@pytest.mark.xfail(strict=True, reason="alarms.py _on_reading (line 294): a vital is only watched for staleness after "
                   "its first reading, so a session whose oximeter never sends SpO2 (probe never put on, pleth only) "
                   "runs through a dose and 30 minutes without any SpO2 alarm")
def test_a_session_whose_oximeter_never_sends_spo2_alarms():
    items: list = [reading(t, "hr", 72, "ecg") for t in range(1800)]
    items += [r for t in range(0, 1800, 300) for r in cuff(t, 120, 78)]
    out = judged(items, {"doses": [{"t": 60, "mg": 35, "route": "iv", "drug": "ketamine", "end": 2460}]})
    assert any(e.event == "raised" and e.vital == "spo2" for e in alarm_events(out))


@pytest.mark.xfail(strict=True, reason="recording.py Recording.end (line 92) ignores the sidecar's doses, and "
                   "judge_recording/finish feed only inputs up to the end: a 5000 mg dose listed at 400 s of a 300-s "
                   "recording is stored and summed (total_mg 5000) but never judged: no 'dose above protocol maximum'")
def test_a_sidecar_dose_after_the_last_row_is_still_judged(tmp_path):
    meta = {"duration_s": 300, "patient": {"weight_kg": 70},
            "doses": [{"t": 400, "mg": 5000, "route": "iv", "drug": "ketamine", "end": None}]}
    out = from_file(tmp_path, oximeter(range(300)) + cuff(0, 120, 78), meta)
    if out is None:
        return  # refusing a dose after the recording's end is a fix too
    assert raised(out, "dose_bounds") == [400]


# ------------------------------------------------------------------------------- the dosing decision


@pytest.mark.xfail(strict=True, reason="dosing.py PredoseReadings.spo2 (line 105) + _gate_finding (line 132): the "
                   "SpO2 gate is a bare median with no hysteresis, so SpO2 alternating 92/93 flips the decision "
                   "clear/gated every second (601 dosing changes in 10 min; random 92/93 noise: 50-105 in 30 min)")
def test_the_spo2_gate_does_not_flap_on_every_sample():
    out = judged(oximeter(range(600), lambda t: 92 if t % 2 else 93) + cuff(0, 120, 78))
    assert len(dosing(out)) <= 4


@pytest.mark.xfail(strict=True, reason="dosing.py _gate_finding (line 137): a recheck whose diastolic failed (no value, "
                   "or an ICU export's 0 marked questionable) is judged on the systolic alone, so a block on 150/105 "
                   "becomes 'clear to dose' with the diastolic unknown")
def test_a_diastolic_block_is_not_lifted_by_a_recheck_without_a_diastolic():
    items: list = oximeter(range(900)) + cuff(0, 150, 105)
    items += [reading(360, "sbp", 138, "cuff"), no_value(360, "dbp", "cuff"), no_value(360, "map", "cuff")]
    out = judged(items)
    assert state_at(out, 0) == "blocked"
    assert state_at(out, 400) != "clear"


@pytest.mark.xfail(strict=True, reason="dosing.py applies_to_age (line 111): the gates' age bands are max_age 64 and "
                   "min_age 65, and the vocabulary accepts 64.5 (an age in decimal years from another system), which "
                   "falls between them: 165/95 is 'clear to dose' at 64.5 while gated at 64 and 65")
def test_an_age_of_64_and_a_half_is_gated_like_64_and_65():
    items = oximeter(range(120)) + cuff(0, 165, 95)
    for age in (64, 65):
        assert state_at(judged(items, answers=complete(age)), 60) == "gated"
    answers = parse_answers({**complete(45), "age": "64.5"}, "sidecar")
    assert state_at(judged(items, answers=answers), 60) == "gated"


@pytest.mark.xfail(strict=True, reason="dosing.py decide (line 151): 'predose_bp_required' (source: 'a pre-dose BP "
                   "before every dose') is met by any cuff reading ever, so a second dose 100 min after the only BP "
                   "(taken before the first dose) is 'clear' with no dose_on_hold")
def test_a_repeat_dose_needs_a_bp_taken_after_the_previous_dose():
    meta = {"patient": {"weight_kg": 70}, "doses": [
        {"t": 300, "mg": 35, "route": "iv", "drug": "ketamine", "end": 2700},
        {"t": 6000, "mg": 14, "route": "iv", "drug": "ketamine", "end": None}]}
    out = judged(oximeter(range(6600)) + cuff(0, 120, 78), meta)
    assert state_at(out, 5999) != "clear" or raised(out, "dose_on_hold") == [6000]


@pytest.mark.xfail(strict=True, reason="plan.py override / dosing.py decide: a physician's override of the pre-dose BP "
                   "block given for the first dose (182/101) lifts it for the rest of the session: 90 min later 172/104 "
                   "is 'clear to dose'")
def test_an_override_for_one_bp_does_not_lift_the_block_for_a_later_one():
    rules = SessionRules(kap_iv(), 0.0, weight_kg=70)
    rules.add(cuff(0, 182, 101) + [reading(t, "spo2", 97, "ox") for t in range(5500)])
    rules.act(10, lambda engine: [])
    rules.override("predose_bp_block", "Dr Adeyemi", "re-measured by hand 176/96", 60)
    rules.override("predose_bp_gate", "Dr Adeyemi", "known hypertensive", 60)
    rules.add([Dose(120, "iv", "ketamine", 35.0, 120 + 2400)])
    rules.add(cuff(5400, 172, 104))
    rules.act(5401, lambda engine: [])
    assert rules.decision.state == "blocked"


@pytest.mark.xfail(strict=True, reason="alarms.py last_dose_end (line 192) takes the last dose recorded, not the latest "
                   "end: a bolus at 10 min during a 40-min infusion lets the hub allow discharge (hub.py observation_left) "
                   "30 min early, while the summary (summary.py _criteria_scan, max of ends) says otherwise")
def test_the_observation_runs_from_the_end_of_an_infusion_not_a_bolus_given_during_it():
    rules = SessionRules(kap_iv(), 0.0, weight_kg=70)
    rules.add([Dose(0, "iv", "ketamine", 35.0, 2400), Dose(600, "iv", "ketamine", 7.0, None)])
    rules.finish(700)
    assert rules.engine.last_dose_end == 2400
