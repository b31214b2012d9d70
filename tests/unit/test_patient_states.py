"""Training: a scenario's scripted patient states, their validation, and the trainee's charting judged
against them (pure functions; the end-to-end runs are in tests/integration/test_training_charting.py)."""

import pytest

from devices.vocabulary import SCALES
from monitor.rules.alarm_events import AlarmEvent
from monitor.session.model import Observation
from monitor.training.charting import (
    PatientState,
    cues_at,
    doses_on_hold,
    judge_charting,
    overdue_reminders,
    presentation,
)
from monitor.training.library import ScenarioFileError, library, load_scenario

START = 1_800_000_000.0
HEAD = '[scenario]\nbase = "typical_im"\nduration_min = 60\n'


def state(minute, scale="moaas", level=2, within_min=5, tolerance=0):
    return PatientState(minute * 60.0, scale, level, within_min * 60.0, tolerance, presentation(scale, level))


def chart(minute, level, scale="moaas", who="RN Ade"):
    return Observation(START + minute * 60, scale, level, who)


def judged(states, observations, so_far_min=84):
    return judge_charting(states, observations, START, so_far_min * 60)


# --- validation of the scenario file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table, line, field, reason",
    [
        ('at_min = 30\nscale = "sedation"\nlevel = 2\n', 7, "observation[0].scale", "unknown observation scale 'sedation'"),
        ('at_min = 30\nscale = "moaas"\nlevel = 6\n', 8, "observation[0].level", "MOAA/S level 6 is not one of 0-5"),
        ('at_min = 30\nscale = "dissociation"\nlevel = -1\n', 8, "observation[0].level", "not one of 0-3"),
        ('at_min = 30\nscale = "moaas"\nlevel = 2.5\n', 8, "observation[0].level", "must be int"),
        ('at_min = 30\nscale = "moaas"\nlevel = 2\ntolerance = 6\n', 9, "observation[0].tolerance", "accepts any level"),
        ('at_min = 60\nscale = "moaas"\nlevel = 2\n', 6, "observation[0].at_min", "not inside the scenario (0 to 60 min)"),
        ('at_min = -1\nscale = "moaas"\nlevel = 2\n', 6, "observation[0].at_min", "must be >= 0"),
        ('at_min = 30\nscale = "moaas"\nlevel = 2\nwithin_min = 0\n', 9, "observation[0].within_min", "must be > 0"),
        ('at_min = 30\nscale = "moaas"\nlevel = 2\ncue = ""\n', 9, "observation[0].cue", "at least 1 character"),
        ('at_min = 30\nscale = "moaas"\nlevel = 2\ncolour = "red"\n', 9, "observation[0].colour", "unknown field"),
        ('at_min = 30\nlevel = 2\n', 5, "observation[0].scale", "missing required field"),
    ],
)
def test_a_bad_observation_names_file_line_and_field_in_one_line(tmp_path, table, line, field, reason):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + "\n[[observation]]\n" + table)
    with pytest.raises(ScenarioFileError) as err:
        load_scenario(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: {field}: ") and reason in message and "\n" not in message


def test_two_states_of_one_scale_at_once_are_refused(tmp_path):
    path = tmp_path / "twice.toml"
    path.write_text(HEAD + '[[observation]]\nat_min = 30\nscale = "moaas"\nlevel = 2\n'
                    '[[observation]]\nat_min = 30\nscale = "moaas"\nlevel = 3\n')
    with pytest.raises(ScenarioFileError, match=r"twice.toml:9: observation\[1\].at_min: moaas already has a state at 30 min"):
        load_scenario(path)


@pytest.mark.parametrize("table", ['[[expect]]\nid = "x"\nat_min = 90\nwithin_s = 60\nactions = ["note"]\nwhat = "?"\n',
                                   '[[perturbation]]\nkind = "probe_off"\nat_min = 61\nduration_s = 60\n'])
def test_expectations_and_perturbations_outside_the_scenario_are_refused(tmp_path, table):
    path = tmp_path / "late.toml"
    path.write_text(HEAD + table)
    with pytest.raises(ScenarioFileError, match=r"late.toml:6: (expect|perturbation)\[0\].at_min: .* not inside the scenario"):
        load_scenario(path)


def test_without_a_duration_the_base_scenarios_length_bounds_the_times(tmp_path):
    path = tmp_path / "base.toml"  # typical_im runs 120 min
    path.write_text('[scenario]\nbase = "typical_im"\n[[observation]]\nat_min = 119\nscale = "moaas"\nlevel = 5\n')
    assert load_scenario(path).patient_states[0].at_s == 119 * 60
    path.write_text('[scenario]\nbase = "typical_im"\n[[observation]]\nat_min = 121\nscale = "moaas"\nlevel = 5\n')
    with pytest.raises(ScenarioFileError, match="0 to 120 min"):
        load_scenario(path)


def test_a_state_defaults_to_the_scales_words_a_5_min_window_and_the_exact_level(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(HEAD + '[[observation]]\nat_min = 30\nscale = "moaas"\nlevel = 2\n'
                    '[[observation]]\nat_min = 20\nscale = "dissociation"\nlevel = 1\ntolerance = 1\n'
                    'cue = "The patient says the room feels far away"\n')
    first, second = load_scenario(path).patient_states  # in time order
    assert (second.at_s, second.level, second.within_s, second.tolerance) == (1800, 2, 300, 0)
    assert second.cue == "Sedation: responds only to mild prodding or shaking"
    assert first.cue == "The patient says the room feels far away" and first.tolerance == 1


def test_presentations_use_the_level_words_without_the_grade():
    assert presentation("dissociation", 2) == "Dissociation: detached or confused, answers when asked"
    assert presentation("breathing", 2) == "Breathing: snoring or obstructed"
    for name, spec in SCALES.items():
        for level in range(spec.top + 1):
            assert spec.words(level).endswith(presentation(name, level).split(": ", 1)[1])


# --- the shipped scenario ------------------------------------------------------------------------------------


def test_the_sedation_scenario_scripts_the_clinical_case():
    from tests.clinical.cases import CASES

    case = next(c for c in CASES if c.id == "im-sedation-deepening-at-30-min")
    spec = library()["im_sedation_deepening"]
    scripted = sorted((s.at_s / 60, s.scale, s.level) for s in spec.patient_states)
    assert scripted == sorted(case.observations)
    assert spec.scenario.route == "im" and spec.duration_s == case.minutes * 60
    deep = next(s for s in spec.patient_states if s.scale == "moaas" and s.level == 2)
    assert deep.at_s == 40 * 60 and "responds only to mild prodding or shaking" in deep.cue
    assert {e.id for e in spec.expectations} >= {"acknowledge_sedation", "no_dose_while_sedated"}
    # The states are for the page and the debrief: the scenario never charts them itself.
    assert "observations" not in spec.training_metadata() and spec.training_metadata()["patient_states"]


def test_stored_states_that_are_not_states_are_left_out():
    from monitor.training.charting import states_of

    good = state(40).as_dict()
    rows = [good, {**good, "scale": "mood"}, {**good, "level": 9}, {**good, "colour": 1}, "moaas", {**good, "at_s": "x"}]
    assert states_of(rows) == [state(40)]


def test_the_cue_is_the_latest_state_of_each_scale():
    states = [state(9, level=5), state(9, "breathing", 0), state(40, level=2), state(55, level=4)]
    assert cues_at(states, 8 * 60) == []
    assert [(s.scale, s.level) for s in cues_at(states, 41 * 60)] == [("moaas", 2), ("breathing", 0)]
    assert [(s.scale, s.level) for s in cues_at(states, 55 * 60)] == [("moaas", 4), ("breathing", 0)]


# --- judging the trainee's charting -------------------------------------------------------------------------


def test_charted_on_time_at_the_right_level():
    [c] = judged([state(40)], [chart(42, 2)])
    assert (c.timing, c.after_s, c.level_result, c.met, c.missed) == ("on time", 120, "right", True, False)
    assert c.words() == ("MOAA/S 2 (responds only to mild prodding or shaking) from session 40:00: charted after 2 min 00 s, "
                         "on time; level right")


def test_charted_late_says_how_late():
    [c] = judged([state(40)], [chart(48, 2)])
    assert (c.timing, c.after_s, c.late_s, c.met, c.missed) == ("late", 480, 180, False, True)
    assert "charted after 8 min 00 s, 3 min 00 s late; level right" in c.words()


def test_the_wrong_level_says_what_was_charted_and_what_the_patient_was():
    [c] = judged([state(40)], [chart(41, 4)])
    assert (c.timing, c.level_result, c.charted_level, c.met) == ("on time", "wrong", 4, False)
    assert "wrong level: charted MOAA/S 4 (lethargic response to the name in a normal tone), the patient was 2" in c.words()


def test_within_the_tolerance_counts_and_says_so():
    [c] = judged([state(40, "dissociation", 2, tolerance=1)], [chart(41, 1, "dissociation")])
    assert (c.level_result, c.met) == ("within 1 level", True)
    [c] = judged([state(40, "dissociation", 3, tolerance=1)], [chart(41, 1, "dissociation")])
    assert (c.level_result, c.met) == ("wrong", False)


def test_never_charted_pending_and_not_reached():
    never, pending, unreached = judged([state(20), state(40), state(80)], [], so_far_min=42)
    assert (never.timing, never.missed) == ("never", True) and "never charted (due within 5 min)" in never.words()
    assert (pending.timing, pending.missed) == ("pending", False)
    assert (unreached.timing, unreached.missed) == ("not reached", False)


def test_a_charting_counts_for_the_state_the_patient_was_in_then():
    # Charted before the change (the old state), by the scenario (not the trainee), and after the next change.
    states = [state(25, level=4), state(40), state(55, level=4)]
    charted = [chart(26, 4), chart(39, 4), chart(40, 2, who="scenario"), chart(56, 4)]
    first, deep, later = judged(states, charted)
    assert (first.after_s, first.charted_level) == (60, 4)
    assert deep.timing == "never"
    assert (later.after_s, later.timing) == (60, "on time")


def alarm(minute, event, alarm_id, message="", priority="low"):
    return AlarmEvent(START + minute * 60, event, alarm_id, priority, "technical", None, None, None, "kap-im", message)


def test_overdue_reminders_and_how_long_they_ran():
    alarms = [alarm(47, "raised", "moaas_overdue"), alarm(50, "raised", "sbp_high"), alarm(49, "cleared", "moaas_overdue"),
              alarm(50, "raised", "nausea_overdue"), alarm(51, "raised", "nibp_overdue")]
    moaas, nausea = overdue_reminders(alarms, START, 60 * 60)
    assert (moaas.scale, moaas.raised_s, moaas.ran_s, moaas.cleared) == ("moaas", 47 * 60, 120, True)
    assert (nausea.ran_s, nausea.cleared) == (600, False)
    assert moaas.words() == "Sedation (MOAA/S) overdue reminder from session 47:00 ran 2 min 00 s until charted"
    assert nausea.words().endswith("ran 10 min 00 s and was never cleared")


def test_only_the_trainees_doses_during_a_hold_are_listed():
    alarms = [alarm(10, "raised", "dose_on_hold", "dose 60 mg given while gated"),
              alarm(44, "raised", "dose_on_hold", "dose 20 mg given while DOSING ON HOLD", "high")]
    [dose] = doses_on_hold(alarms, START, [START + 44 * 60])
    assert dose.t_s == 44 * 60
    assert dose.words() == "Dose given during a hold at session 44:00: dose 20 mg given while DOSING ON HOLD"
