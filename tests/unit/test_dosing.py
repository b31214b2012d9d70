"""Dosing safe by construction: screening answers typed, routes matched, doses within the protocol's
bounds (or alarmed on), from every place they enter."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from devices.io.recording import FORMAT, write_recording
from devices.reading import reading
from devices.screening import ScreeningError, parse_answers
from monitor.cli.main import main
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.dosing import dose_problems
from monitor.rules.plan import make_plan
from monitor.rules.protocol import ProtocolError, load, parse
from monitor.session.start import StartError, build_plan
from monitor.session.model import Dose
from monitor.rules.session_rules import SessionRules, alarm_events


def recording(tmp_path, doses, weight=70.0, route="iv", screening=None):
    items = [reading(float(t), v, x, "cuff") for t in (0, 300) for v, x in (("sbp", 120), ("dbp", 78), ("map", 92))]
    meta = {"format": FORMAT, "route": route, "drug": "ketamine", "duration_s": 900, "patient": {"weight_kg": weight},
            "screening": screening or SAMPLE_SCREENING, "doses": doses}
    return write_recording(tmp_path / "r.csv", items, meta)


def alarms_json(path, protocol="kap-iv", capsys=None):
    assert main(["alarms", str(path), "--protocol", protocol, "--json"]) == 0
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def test_a_5000_mg_dose_in_a_sidecar_raises_a_high_alarm_at_the_dose_time(tmp_path, capsys):
    lines = alarms_json(recording(tmp_path, [{"t": 600, "mg": 5000}]), capsys=capsys)
    (alarm,) = [x for x in lines if x.get("alarm_id") == "dose_bounds"]
    assert (alarm["event"], alarm["priority"], alarm["t"]) == ("raised", "high", 600)
    assert "71.43 mg/kg is above the protocol maximum 1 mg/kg" in alarm["message"]


def test_a_dose_inside_the_bounds_raises_nothing_and_a_second_one_over_the_session_total_does(tmp_path, capsys):
    lines = alarms_json(recording(tmp_path, [{"t": 400, "mg": 35, "end": 400 + 40 * 60}, {"t": 800, "mg": 45}]), capsys=capsys)
    raised = [x for x in lines if x.get("alarm_id") == "dose_bounds"]
    assert [x["t"] for x in raised] == [800] and "session total 80 mg (1.14 mg/kg)" in raised[0]["message"]


def test_a_dose_given_while_dosing_is_blocked_raises_a_high_alarm(tmp_path, capsys):
    path = recording(tmp_path, [{"t": 600, "mg": 35}], screening={**SAMPLE_SCREENING, "psychosis": True})
    (alarm,) = [x for x in alarms_json(path, capsys=capsys) if x.get("alarm_id") == "dose_on_hold"]
    assert alarm["priority"] == "high" and "DOSING BLOCKED" in alarm["message"]


@pytest.mark.parametrize(("mg", "minutes", "weight", "expected"), [
    (35, 40, 70, []),
    (70, 40, 70, []),  # exactly 1 mg/kg: at the maximum
    (71, 40, 70, ["dose 1.01 mg/kg is above the protocol maximum 1 mg/kg", "session total 71 mg (1.01 mg/kg)"]),
    (6, None, 70, ["dose 0.09 mg/kg is below the protocol minimum 0.1 mg/kg"]),
    (35, 1, 70, ["infusion 1 min is below the protocol minimum 2 min"]),
    (35, 101, 70, ["infusion 101 min is above the protocol maximum 100 min"]),
    (35, 40, None, ["weight unknown"]),
])
def test_iv_bounds_at_inside_and_outside(mg, minutes, weight, expected):
    found = [p.text for p in dose_problems(load("kap-iv").routes["iv"].bounds, mg, minutes, weight)]
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found)), found


def test_esketamine_bounds_are_devices_and_the_session_total():
    bounds = load("esketamine-intranasal").routes["intranasal"].bounds
    assert dose_problems(bounds, 28, None, 70) == [] and dose_problems(bounds, 28, None, 70, given_mg=56) == []
    assert [p.priority for p in dose_problems(bounds, 28, None, 70, given_mg=84)] == ["high"]
    assert any("infusion" in p.text for p in dose_problems(bounds, 56, 5, 70))


def test_the_rules_say_what_a_dose_would_break_before_it_is_given():
    rules = SessionRules(make_plan(load("kap-im"), SAMPLE_SCREENING), 0.0, weight_kg=70.0)
    assert [p.text for p in rules.dose_problems(Dose(0.0, "im", "ketamine", 70.0))] == []
    assert any("above the protocol maximum" in p.text for p in rules.dose_problems(Dose(0.0, "im", "ketamine", 5000.0)))


def test_a_non_finite_or_absurd_dose_never_enters_a_sidecar(tmp_path):
    from devices.errors import RecordingError

    for bad in (float("nan"), float("inf"), 1e308, -5, 0, True, "ten"):
        with pytest.raises(RecordingError, match=r": doses\[0\]\.mg"):
            recording(tmp_path, [{"t": 600, "mg": bad}])


def test_a_wrong_route_protocol_is_refused_naming_both():
    with pytest.raises(StartError, match="protocol kap-im has no rules for route iv"):
        build_plan("kap-im", "iv", SAMPLE_SCREENING)
    assert build_plan(None, "oral", SAMPLE_SCREENING).protocol.name == "kap-oral"


def test_the_oral_protocol_checks_clean(capsys):
    assert main(["protocol", "check", "kap-oral"]) == 0
    assert "routes: oral" in capsys.readouterr().out


@pytest.mark.parametrize(("answers", "words"), [
    ({"psychosis": "maybe"}, "answers.json:1: screening.psychosis: 'maybe' is not yes or no"),
    ({"age": "sixty"}, "answers.json:1: screening.age: 'sixty' is not a number"),
    ({"age": 300}, ": screening.age: 300 is outside 0-130 years"),
    ({"psychossis": True}, "unknown screening key 'psychossis' (did you mean 'psychosis'?)"),
    ({"hepatic_impairment": "mild"}, "'mild' is not one of none, moderate, severe"),
])
def test_protocol_check_refuses_a_mistyped_or_unknown_answer_naming_it(tmp_path, capsys, answers, words):
    (tmp_path / "answers.json").write_text(json.dumps(answers), encoding="utf-8")
    assert main(["protocol", "check", "kap-iv", "--screening", str(tmp_path / "answers.json")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_yes_in_words_is_yes():
    assert parse_answers({"psychosis": "yes", "pregnancy": " No ", "age": "61"}, "x") == {"psychosis": True, "pregnancy": False, "age": 61}
    with pytest.raises(ScreeningError):
        parse_answers(["psychosis"], "x")


def test_a_protocol_naming_an_unknown_screening_key_does_not_load():
    text = (resources.files("monitor.rules.protocols") / "kap-iv.toml").read_text(encoding="utf-8")
    broken = text.replace('id = "psychosis"', 'id = "psychossis"', 1)
    with pytest.raises(ProtocolError, match=r"screening\[\d+\]\.id: unknown screening key 'psychossis' \(did you mean 'psychosis'\?\)"):
        parse(broken, "kap-iv.toml")
    typed = text.replace('id = "pregnancy"\nquestion = "Pregnant or breast-feeding?"\nwhen = true',
                         'id = "pregnancy"\nquestion = "Pregnant or breast-feeding?"\nwhen = "yes please"', 1)
    with pytest.raises(ProtocolError, match="pregnancy is answered yes or no"):
        parse(typed, "kap-iv.toml")


@pytest.mark.parametrize("key", ["uncontrolled_hypertension"])
def test_new_blocking_question_blocks(key):
    plan = make_plan(load("kap-iv"), {**SAMPLE_SCREENING, key: True})
    assert key in [f.id for f in plan.blocks]


@pytest.mark.parametrize("key", ["prior_stroke", "raised_icp_or_cns_mass", "glaucoma", "porphyria"])
def test_new_relative_contraindications_need_physician_clearance(key):
    plan = make_plan(load("esketamine-intranasal"), {**SAMPLE_SCREENING, key: True})
    assert key in [f.id for f in plan.gates] and not plan.blocks


def test_substance_use_holds_until_attested():
    held = make_plan(load("kap-iv"), {**SAMPLE_SCREENING, "substance_use_disorder": True})
    assert "substance_use_disorder" in [f.id for f in held.gates]
    attested = make_plan(load("kap-iv"), {**SAMPLE_SCREENING, "substance_use_disorder": True, "substance_use_attested": True})
    assert "substance_use_disorder" not in [f.id for f in attested.gates]


@pytest.mark.parametrize(("sbp", "dbp", "words"), [
    (300, 20, "systolic 300 is outside 40-270 mmHg"),
    (250, 20, "pulse pressure of 230 mmHg"),
    (120, 115, "pulse pressure of 5 mmHg"),
    (80, 95, "diastolic 95 must be below systolic 80"),
    (float("nan"), 80, "systolic nan is not a number"),
    (True, 80, "systolic True is not a number"),
    ("120", 80, "systolic '120' is not a number"),
    (None, 80, "enter both"),
])
def test_a_hand_entered_bp_must_be_plausible(sbp, dbp, words):
    from monitor.rules.bedside import manual_bp

    with pytest.raises(ValueError, match=re.escape(words)):
        manual_bp(sbp, dbp, load("kap-iv").plausible)


def test_a_plausible_hand_entered_bp_is_kept_as_typed():
    from monitor.rules.bedside import manual_bp

    assert manual_bp(186, 104, load("kap-iv").plausible) == (186.0, 104.0, 131)
    assert manual_bp(270, 120, load("kap-iv").plausible) == (270.0, 120.0, 170)
