"""Training with a scripted patient: the sedation scenario runs through start_training on its playback clock,
a trainee charts through Hub.observe (or does not), and the debrief judges the charting, the reminders let
run and the doses given during the hold. The clock is paused and skipped; the tests wait for the hub to
have taken the data up to each skip, never for time to pass."""

import json
import time

import pytest

from monitor.session.model import Dose, Observation
from monitor.training.debrief import debrief, patient_now
from monitor.training.library import start_training

SCENARIO = "im_sedation_deepening"
TRAINEE = "RN Ade"
# What the patient presents (tests/clinical/cases.py "im-sedation-deepening-at-30-min"), by minute.
PATIENT = {
    9: {"moaas": 5, "breathing": 0, "dissociation": 0, "nausea": 0, "anxiety": 0},
    25: {"moaas": 4, "breathing": 0, "dissociation": 1},
    40: {"moaas": 2, "breathing": 0, "dissociation": 2, "nausea": 0, "anxiety": 0},
    55: {"moaas": 4, "breathing": 0, "dissociation": 1},
    70: {"moaas": 5, "breathing": 0, "dissociation": 0, "nausea": 0, "anxiety": 0},
}


class Trainee:
    """Drives a paused training session: skip to a scenario minute, chart, act, dose."""

    def __init__(self, store):
        self.store = store
        self.hub = start_training(store, SCENARIO, 60.0, TRAINEE)
        self.hub.clock.pause()
        self.start = self.hub.session.started

    def at(self, minute: float) -> None:
        """Skip to ``minute`` and wait until the hub has recorded the readings up to it."""
        target = self.start + minute * 60
        self.hub.clock.skip_to(target)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            latest = self.store.latest(self.hub.session.id, "spo2")
            if latest is not None and latest.t >= target - 2:
                return
            self.hub.finished.wait(0.02)
        raise AssertionError(f"the hub never reached minute {minute}")

    def chart(self, minute: float, levels: dict) -> None:
        self.at(minute)
        for scale, level in levels.items():
            self.hub.observe(Observation(self.hub.now(), scale, level, TRAINEE))

    def act(self, minute: float, action: str) -> None:
        self.at(minute)
        self.hub.add_event("action", {"action": action}, TRAINEE)

    def acknowledge(self, minute: float, prefix: str) -> None:
        self.at(minute)
        for alarm in self.hub.active_alarms():
            if alarm.alarm_id.startswith(prefix):
                self.hub.acknowledge(alarm.alarm_id, TRAINEE)

    def end(self, minute: float):
        self.at(minute)
        self.hub.stop()
        assert self.hub.finished.wait(30)
        return debrief(self.store, self.hub.session.id)


@pytest.fixture
def trainee(store):
    t = Trainee(store)
    yield t
    t.hub.stop()


def by_state(d) -> dict:
    return {(c.state.at_s / 60, c.state.scale): c for c in d.charting}


def test_a_trainee_who_charts_on_time_and_right_meets_every_expectation(trainee):
    for minute in (9, 25):
        trainee.chart(minute + 2, PATIENT[minute])
    trainee.chart(41, PATIENT[40])
    trainee.acknowledge(42, "moaas")
    trainee.act(43, "call_help")
    trainee.chart(57, PATIENT[55])
    trainee.chart(72, PATIENT[70])
    trainee.at(84)
    assert trainee.hub.finished.wait(30), "the scenario ends by itself at 84 min"
    d = debrief(trainee.store, trainee.hub.session.id)
    assert len(d.charting) == 21 and all(c.met for c in d.charting), [c.words() for c in d.charting if not c.met]
    deep = by_state(d)[(40, "moaas")]
    assert (deep.after_s, deep.charted_level, deep.level_result) == (60, 2, "right")
    assert {o.id: o.result for o in d.outcomes} == {"acknowledge_sedation": "done", "escalate": "done",
                                                      "no_dose_while_sedated": "avoided"}
    assert d.reminders == () and d.hold_doses == () and d.missed_words == []
    # The trainee's charting is in the timeline, in words, beside the patient's presentation it answered.
    events = [r.event for r in d.timeline]
    assert "patient: Sedation: responds only to mild prodding or shaking (MOAA/S 2)" in events
    assert "RN Ade: charted MOAA/S 2 (responds only to mild prodding or shaking)" in events
    # The scenario never charted for the trainee.
    assert {o.who for o in trainee.store.observations(trainee.hub.session.id)} == {TRAINEE}


def test_late_charting_says_how_late_and_the_reminder_that_ran(trainee):
    for minute in (9, 25):
        trainee.chart(minute + 1, PATIENT[minute])
    trainee.chart(48, PATIENT[40])  # 8 min after the change: 3 min late; the reminders came at 46 min
    d = trainee.end(50)
    deep = by_state(d)[(40, "moaas")]
    assert (deep.timing, deep.late_s, deep.level_result, deep.met) == ("late", 180, "right", False)
    assert "3 min 00 s late" in deep.words()
    reminders = {r.scale: r for r in d.reminders}
    assert set(reminders) == {"moaas", "breathing", "dissociation"}  # nausea and anxiety: due 40, overdue 50
    assert (reminders["moaas"].raised_s, reminders["moaas"].ran_s, reminders["moaas"].cleared) == (46 * 60, 120, True)
    assert deep.words() in d.missed_words and reminders["moaas"].words() in d.missed_words
    assert by_state(d)[(55, "moaas")].timing == "not reached"


def test_the_wrong_level_is_judged_and_gives_no_hold_to_respond_to(trainee):
    trainee.chart(10, PATIENT[9])
    trainee.chart(26, PATIENT[25])
    trainee.chart(41, {**PATIENT[40], "moaas": 4, "dissociation": 1})  # under-calls both
    d = trainee.end(52)
    states = by_state(d)
    assert (states[(40, "moaas")].level_result, states[(40, "moaas")].charted_level) == ("wrong", 4)
    assert "wrong level: charted MOAA/S 4 (lethargic response to the name in a normal tone), the patient was 2" in (
        states[(40, "moaas")].words())
    assert states[(40, "dissociation")].level_result == "within 1 level" and states[(40, "dissociation")].met
    outcomes = {o.id: o.result for o in d.outcomes}
    assert outcomes["acknowledge_sedation"] == "missed"  # MOAA/S 4 raises no sedation alarm to acknowledge
    alarms = [a.alarm_id for _, a in trainee.store.alarm_events(trainee.hub.session.id) if a.event == "raised"]
    assert "moaas_deep" not in alarms


def test_a_trainee_who_stops_charting_lets_every_reminder_run(trainee):
    trainee.chart(10, PATIENT[9])
    trainee.chart(26, PATIENT[25])
    d = trainee.end(58)
    states = by_state(d)
    assert all(states[(40, scale)].timing == "never" for scale in PATIENT[40])
    assert states[(55, "moaas")].timing == "pending"  # its window runs to 60 min; the session ended before
    running = {r.scale: r for r in d.reminders}
    assert set(running) == set(PATIENT[9])
    assert all(not r.cleared for r in running.values())
    assert running["moaas"].raised_s == 46 * 60 and running["moaas"].ran_s == pytest.approx(12 * 60, abs=2)
    assert running["nausea"].raised_s == 50 * 60
    assert "Sedation (MOAA/S) overdue reminder from session 46:00 ran" in " ".join(d.missed_words)


def test_a_dose_during_the_hold_is_listed_and_breaks_the_expectation(trainee):
    trainee.chart(10, PATIENT[9])
    trainee.chart(26, PATIENT[25])
    trainee.chart(42, PATIENT[40])
    trainee.at(44)
    assert trainee.hub.decision().state != "clear"
    trainee.hub.add_dose(Dose(trainee.hub.now(), "im", "ketamine", 20.0), TRAINEE)
    d = trainee.end(46)
    [dose] = d.hold_doses
    assert dose.t_s == 44 * 60 and "dose 20 mg given while" in dose.words()
    assert {o.id: (o.result, o.response_s) for o in d.outcomes}["no_dose_while_sedated"] == ("violated", 240)
    assert dose.words() in d.missed_words
    # The scripted IM injection at 10 min is the scenario's, never blamed on the trainee.
    assert all(h.t_s != 600 for h in d.hold_doses)
    exported = d.as_dict()
    assert exported["hold_doses"][0]["t_s"] == 44 * 60 and json.dumps(exported)
    assert "chart moaas 40" in d.as_csv() and "on time; level right" in d.as_csv()


def test_the_page_cue_follows_the_scripted_patient_and_is_never_charted(trainee):
    meta = trainee.hub.session.metadata
    assert patient_now(meta, 8 * 60) == []
    now = {s.scale: s for s in patient_now(meta, 41 * 60)}
    assert now["moaas"].cue == "Sedation: responds only to mild prodding or shaking" and now["moaas"].level == 2
    assert now["dissociation"].cue == "Dissociation: detached or confused, answers when asked"
    trainee.at(45)
    assert trainee.store.observations(trainee.hub.session.id) == []
    assert not [a for a in trainee.hub.active_alarms() if a.alarm_id.startswith("moaas")]


def test_a_charting_marked_entered_in_error_does_not_count(trainee):
    trainee.chart(10, PATIENT[9])
    trainee.chart(26, PATIENT[25])
    trainee.chart(41, {"moaas": 4})
    wrong = trainee.store.events(trainee.hub.session.id, kind="observation")[-1]
    trainee.hub.retract(wrong.id, "tapped the wrong level", TRAINEE)
    trainee.chart(43, {"moaas": 2})
    deep = by_state(trainee.end(44))[(40, "moaas")]
    assert (deep.charted_level, deep.after_s, deep.level_result, deep.met) == (2, 180, "right", True)
