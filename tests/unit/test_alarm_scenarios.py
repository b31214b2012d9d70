"""The sample sessions through the shipped protocols: which alarms fire, and roughly when."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

import pytest

from devices.io.recording import read_recording
from devices.vocabulary import HIGH, PHYSIOLOGICAL, TECHNICAL
from monitor.rules.alarm_events import AlarmEvent
from monitor.cli.main import main
from monitor.rules.plan import make_plan
from monitor.rules.protocol import load
from monitor.rules.session_rules import alarm_events, judge_recording
from tests.helpers import ROOT

SAMPLES = ROOT / "sample_data"
SESSIONS = ("typical_iv", "hypertensive_surge", "desaturation", "vasovagal_bradycardia")
PROTOCOLS = ("kap-iv", "kap-im", "kap-sublingual", "esketamine-intranasal")


@cache
def events(session: str, protocol: str = "kap-iv") -> tuple[AlarmEvent, ...]:
    recording = read_recording(SAMPLES / f"{session}.csv")
    plan = make_plan(load(protocol), recording.metadata["screening"])
    return tuple(alarm_events(judge_recording(plan, recording)))


def first(session: str, event: str, alarm_id: str, protocol: str = "kap-iv") -> AlarmEvent:
    found = [e for e in events(session, protocol) if e.event == event and e.alarm_id == alarm_id]
    assert found, f"no {event} {alarm_id} in {session}: {[(e.t, e.event, e.alarm_id) for e in events(session, protocol)]}"
    return found[0]


def test_hypertensive_surge_raises_a_high_sbp_alarm_about_35_min_into_the_session():
    surge = first("hypertensive_surge", "raised", "sbp_critical")
    assert surge.priority == HIGH and surge.kind == PHYSIOLOGICAL and surge.value >= 180
    assert 30 * 60 <= surge.t <= 45 * 60
    rise = first("hypertensive_surge", "raised", "sbp_rise")
    assert rise.t <= surge.t and "baseline" in rise.message
    assert first("hypertensive_surge", "raised", "dbp_critical").value >= 110


def test_desaturation_probe_off_is_technical_early_and_the_true_desaturation_escalates():
    probe = first("desaturation", "raised", "sensor_off:sim-oximeter")
    assert probe.kind == TECHNICAL and 240 <= probe.t <= 270
    assert first("desaturation", "cleared", "sensor_off:sim-oximeter").t <= 300
    low = first("desaturation", "raised", "spo2_low")
    assert low.kind == PHYSIOLOGICAL and 2100 <= low.t <= 2500
    escalated = first("desaturation", "escalated", "spo2_low")
    assert escalated.priority == HIGH and escalated.t - low.t <= 130
    early_physiological = [e for e in events("desaturation") if e.kind == PHYSIOLOGICAL and e.t < 2000]
    assert early_physiological == []


def test_vasovagal_bradycardia_raises_hr_low_and_sbp_low_within_minutes_of_cannulation():
    hr = first("vasovagal_bradycardia", "raised", "hr_low")
    assert 420 <= hr.t <= 600 and hr.value < 50
    assert 420 <= first("vasovagal_bradycardia", "raised", "sbp_low").t <= 600
    assert first("vasovagal_bradycardia", "cleared", "hr_low").t <= 900


def test_vasovagal_readings_do_not_become_the_baseline():
    rises = [e for e in events("vasovagal_bradycardia") if e.alarm_id in ("sbp_rise", "dbp_rise")]
    assert rises == []


def test_typical_iv_raises_no_high_priority_alarm():
    session = events("typical_iv")
    assert [e for e in session if e.priority == HIGH] == []
    assert first("typical_iv", "raised", "sensor_off:sim-oximeter").t < 600


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("session", SESSIONS)
def test_every_protocol_runs_every_sample_and_names_rule_limit_and_value(session, protocol):
    for e in events(session, protocol):
        assert e.rule.startswith(f"{protocol}: ") and e.rule.split(": ")[1] not in e.message or e.alarm_id == "audio"
        if e.kind == PHYSIOLOGICAL and e.event == "raised":
            assert e.value is not None and e.limit is not None


def test_the_cli_prints_json_lines_with_the_pinned_fields(capsys):
    assert main(["alarms", str(SAMPLES / "desaturation.csv"), "--protocol", "kap-iv", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    transitions = [x for x in lines if x["event"] != "dosing"]
    assert transitions and all({"t", "event", "priority", "kind", "vital", "value", "limit", "rule"} <= set(x) for x in transitions)
    decisions = [x for x in lines if x["event"] == "dosing"]
    assert decisions and all(set(x) == {"t", "event", "state", "reasons"} and x["state"] in ("clear", "gated", "blocked") for x in decisions)
    assert ("raised", "spo2_low") in {(x["event"], x["alarm_id"]) for x in transitions}


def test_the_cli_takes_a_screening_file_and_a_protocol_path(tmp_path, capsys):
    screening = tmp_path / "s.json"
    screening.write_text(json.dumps({"cns_depressant": False, "sleep_apnoea": False}), encoding="utf-8")
    protocol = tmp_path / "p.toml"
    protocol.write_text((resources.files("monitor.rules.protocols") / "kap-iv.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["alarms", str(SAMPLES / "desaturation.csv"), "--protocol", str(protocol), "--screening", str(screening)]) == 0
    out = capsys.readouterr().out
    assert "SpO2" in out and "— below 90" in out


def test_the_cli_rejects_a_bad_protocol(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[protocol\n", encoding="utf-8")
    assert main(["alarms", str(SAMPLES / "typical_iv.csv"), "--protocol", str(bad)]) != 0
    assert f"{bad}:1" in capsys.readouterr().err
