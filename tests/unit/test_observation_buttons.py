"""The live page's observation buttons and their checks, as pure functions: what a button says, where each
scale stands, which level a request may chart, how a charted level reads in the entries list."""

from __future__ import annotations

import pytest

from layouts.corrections import entry_text, observation_text
from layouts.observations import ago_text, button_lines, chosen_level, scale_alarm, state_text
from monitor.rules.alarms import ActiveAlarm
from monitor.rules.observations import DUE, NOT_DUE, OVERDUE
from monitor.rules.protocol import load
from monitor.session.live_view import charts, latest_observations
from monitor.session.model import Observation
from monitor.session.store import StoredEvent

RULES = load("kap-im").observations  # moaas, breathing, dissociation every 15 min (5 min grace); nausea, anxiety 30 (10)
DOSE = 1_000_000.0
MIN = 60.0


def chart_of(scale: str, latest: dict, now: float, first_dose: float | None = DOSE):
    return next(c for c in charts(RULES, latest, first_dose, now) if c.rule.scale == scale)


def test_charts_follow_the_protocols_order_and_its_intervals():
    assert [c.rule.scale for c in charts(RULES, {}, DOSE, DOSE)] == ["moaas", "breathing", "dissociation", "nausea", "anxiety"]
    moaas = {"moaas": Observation(DOSE, "moaas", 5, "RN Li")}
    assert chart_of("moaas", moaas, DOSE + 15 * MIN - 1).status == NOT_DUE
    assert chart_of("moaas", moaas, DOSE + 15 * MIN).status == DUE
    assert chart_of("moaas", moaas, DOSE + 20 * MIN).status == DUE  # the grace is 5 min: not yet overdue
    assert chart_of("moaas", moaas, DOSE + 20 * MIN + 1).status == OVERDUE
    assert chart_of("nausea", moaas, DOSE + 35 * MIN).status == DUE  # every 30 min, 10 min grace


def test_no_scale_is_overdue_until_the_session_charts_one_and_none_is_due_before_a_dose():
    assert chart_of("moaas", {}, DOSE + 60 * MIN).status == DUE  # a session that charts nothing: due, never overdue
    assert chart_of("moaas", {}, DOSE + 60 * MIN, first_dose=None).status == NOT_DUE


def test_a_button_says_the_level_its_words_who_how_long_ago_and_its_state():
    latest = {"moaas": Observation(DOSE + 30 * MIN, "moaas", 2, "RN Li")}
    c = chart_of("moaas", latest, DOSE + 33 * MIN + 10)
    name, level, words, who, state = button_lines(c, DOSE, DOSE + 33 * MIN + 10)
    assert (name, level, words) == ("Sedation (MOAA/S)", "2", "responds only to mild prodding or shaking")
    assert who == "RN Li \u00b7 3 min ago" and state.startswith("next ")
    overdue = chart_of("breathing", latest, DOSE + 21 * MIN)
    assert button_lines(overdue, DOSE, DOSE + 21 * MIN)[1:3] == ("\u2014", "not charted yet")
    assert state_text(overdue, DOSE) == "\u26a0 OVERDUE"  # a mark and a word, not colour alone
    assert state_text(chart_of("breathing", {}, DOSE + 16 * MIN), DOSE) == "DUE NOW"
    assert state_text(chart_of("breathing", {}, DOSE, first_dose=None), None) == "every 15 min from the first dose"


@pytest.mark.parametrize("seconds, said", [(0, "just now"), (59, "just now"), (60, "1 min ago"), (89 * 60, "89 min ago"),
                                           (120 * 60, "2.0 h ago"), (-5, "just now")])
def test_how_long_ago_is_in_whole_minutes(seconds, said):
    assert ago_text(seconds) == said


def alarm(vital: str, priority: str, kind: str = "physiological") -> ActiveAlarm:
    return ActiveAlarm(f"{vital}_{priority}", priority, kind, "m", 0.0, vital, None, None, "")


def test_a_scales_mark_is_its_highest_physiological_alarm_never_its_overdue_reminder():
    alarms = [alarm("moaas", "medium"), alarm("moaas", "high"), alarm("breathing", "low", "technical")]
    assert scale_alarm(alarms, "moaas") == "high"
    assert scale_alarm(alarms, "breathing") is None
    assert scale_alarm(alarms, "nausea") is None


@pytest.mark.parametrize("scale, level, said", [
    ("moaas", 6, "MOAA/S level 6 is not a whole number from 0 to 5"),
    ("moaas", -1, "MOAA/S level -1 is not"),
    ("moaas", "2", "MOAA/S level '2' is not"),
    ("moaas", 2.0, "MOAA/S level 2.0 is not"),
    ("moaas", None, "MOAA/S level None is not"),
    ("moaas", False, "MOAA/S level False is not"),
    ("breathing", 4, "Breathing level 4 is not a whole number from 0 to 3"),
    ("rass", 0, "'rass' is not an observation this protocol charts (it charts: moaas, breathing"),
    (None, 0, "None is not an observation this protocol charts"),
    ("x" * 1000, 0, "is not an observation this protocol charts"),
])
def test_a_level_a_page_sends_is_checked_against_the_protocols_scales(scale, level, said):
    with pytest.raises(ValueError) as refused:
        chosen_level(RULES, scale, level)
    assert said in str(refused.value) and len(str(refused.value)) < 200


def test_a_scale_the_vocabulary_knows_but_the_protocol_does_not_chart_is_refused():
    assert chosen_level(RULES, "moaas", 0) == ("moaas", 0)
    with pytest.raises(ValueError, match=r"it charts: moaas\)$"):
        chosen_level(RULES[:1], "nausea", 1)


def event(i: int, t: float, scale: object, level: object, who: str | None = "RN Li") -> StoredEvent:
    return StoredEvent(i, t, "observation", {"scale": scale, "level": level}, who)


def test_the_latest_level_of_each_scale_leaves_out_entries_in_error_and_invalid_rows():
    events = [event(1, 10.0, "moaas", 5), event(2, 20.0, "moaas", 2), event(3, 30.0, "moaas", 9), event(4, 15.0, "nausea", 1)]
    assert {s: o.level for s, o in latest_observations(events, []).items()} == {"moaas": 2, "nausea": 1}
    assert latest_observations(events, [2])["moaas"].level == 5  # the level charted in error gives way to the one before
    assert latest_observations(events, [1, 2]).get("moaas") is None


def test_an_observation_in_the_entries_list_reads_as_its_level_and_words():
    assert entry_text(event(7, 0.0, "moaas", 2)).endswith("MOAA/S 2 (responds only to mild prodding or shaking) \u00b7 RN Li")
    assert observation_text({"scale": "nausea", "level": 3.0}) == "Nausea 3 (vomiting)"
    assert observation_text({"scale": "moaas", "level": 7}) == "observation (invalid: moaas 7)"
    assert observation_text({"scale": "rass", "level": "x"}) == "observation (invalid: rass x)"
