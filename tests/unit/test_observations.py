"""Structured observations: the scales, the protocol's [[observation]] tables and limits on scales, when a
charting is due and overdue, the engine's judgement, the record (store, resume, sidecar) and the summary."""

from __future__ import annotations

import json

import pytest

from devices.errors import SidecarError
from devices.io.recording import FORMAT, validate_metadata
from devices.patient import WHO_MAX, observation_problem, person, who_problem
from devices.reading import reading
from devices.vocabulary import MEASURES, SCALES, SCORE_UNIT
from monitor.analysis.charted import UNSCHEDULED_HOLD_S, summarise_charted
from monitor.analysis.summary import describe, load_record, observation_rows, summarise
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.observations import DUE, NOT_DUE, OVERDUE, next_due, overdue_at, status
from monitor.rules.plan import make_plan
from monitor.rules.protocol import ObservationRule, ProtocolError, load, parse, shipped
from monitor.rules.session_rules import SessionRules, alarm_events
from monitor.session.model import Dose, Observation, Session
from monitor.session.resume import restore_rules
from monitor.session.store import CORRECTION
from tests.helpers import ROOT

RULE = ObservationRule("moaas", 15, 5, None)  # type: ignore[arg-type]
IM = ROOT / "monitor" / "rules" / "protocols" / "kap-im.toml"


# ---------------------------------------------------------------- the scales


def test_every_scale_has_words_for_each_level_a_direction_and_a_source():
    for spec in SCALES.values():
        assert len(spec.levels) >= 2 and all(w.strip() for w in spec.levels), spec.name
        assert spec.worse in ("low", "high") and spec.source.strip()
        assert MEASURES[spec.name].unit == SCORE_UNIT and MEASURES[spec.name].high == spec.top
    moaas = SCALES["moaas"]
    assert moaas.normal == 5 and moaas.worst([5, 2, 4]) == 2 and moaas.affected(4) and not moaas.affected(5)
    assert SCALES["dissociation"].normal == 0 and SCALES["dissociation"].worst([0, 2, 1]) == 2
    assert SCALES["moaas"].name_text == "Sedation (MOAA/S)" and SCALES["nausea"].name_text == "Nausea"


@pytest.mark.parametrize(
    ("scale", "level", "ok"),
    [("moaas", 0, True), ("moaas", 5, True), ("moaas", 6, False), ("moaas", -1, False), ("moaas", 2.0, True),
     ("moaas", 2.5, False), ("moaas", True, False), ("moaas", "2", False), ("moaas", None, False),
     ("moaas", float("nan"), False), ("dissociation", 3, True), ("dissociation", 4, False), ("rass", 0, False)],
)
def test_a_level_is_a_whole_number_on_its_scale(scale, level, ok):
    assert (observation_problem(scale, level) is None) == ok
    if not ok:
        with pytest.raises(ValueError):
            Observation(0.0, scale, level)


# ---------------------------------------------------------------- protocol files


def _protocol_with(extra: str, replace: tuple[str, str] | None = None) -> str:
    text = IM.read_text(encoding="utf-8")
    if replace is not None:
        assert replace[0] in text
        text = text.replace(replace[0], replace[1], 1)
    return text + extra


def test_every_shipped_protocol_charts_sedation_and_breathing_with_sources():
    for name in shipped():
        protocol = load(name)
        charted = {o.scale for o in protocol.observations}
        assert {"moaas", "breathing", "dissociation"} <= charted, name
        assert all(o.cited.source.strip() for o in protocol.observations)
        deep = next(lim for lim in protocol.limits if lim.id == "moaas_deep")
        assert deep.priority == "high" and deep.holds_dosing and deep.comparison == "at_most" and deep.threshold == 2


@pytest.mark.parametrize(
    ("extra", "replace", "field", "words"),
    [
        ('\n[[observation]]\nscale = "rass"\nevery_min = 15\ngrace_min = 5\nsource = "x"\nverified = false\n', None,
         "observation[5].scale", "unknown observation scale 'rass'"),
        ('\n[[observation]]\nscale = "moaas"\nevery_min = 10\ngrace_min = 5\nsource = "x"\nverified = false\n', None,
         "observation[5].scale", "already charted"),
        ('\n[[observation]]\nscale = "moaas"\nevery_min = 0\ngrace_min = 5\nsource = "x"\nverified = false\n', None,
         "observation[5].every_min", ""),
        ("", ('id = "moaas_low"\nvital = "moaas"\nat_most = 3\npriority = "medium"\ndelay_s = 0',
              'id = "moaas_low"\nvital = "moaas"\nat_most = 3\npriority = "medium"\ndelay_s = 10'),
         "limit[", "delay_s must be 0"),
        ("", ('id = "moaas_low"\nvital = "moaas"\nat_most = 3', 'id = "moaas_low"\nvital = "moaas"\nat_most = 2.5'),
         "limit[", "whole numbers"),
        ("", ('id = "moaas_low"\nvital = "moaas"\nat_most = 3', 'id = "moaas_low"\nvital = "moaas"\nat_most = 7'),
         "limit[", "outside the physical range of moaas"),
        ("", ('id = "moaas_low"\nvital = "moaas"', 'id = "moaas_low"\nvital = "moas"'), "limit[", "unknown vital or scale"),
    ],
)
def test_a_bad_observation_table_or_limit_on_a_scale_is_refused_naming_line_and_field(extra, replace, field, words):
    with pytest.raises(ProtocolError) as caught:
        parse(_protocol_with(extra, replace), "kap-im.toml")
    assert caught.value.line is not None and caught.value.line >= 1
    assert caught.value.field.startswith(field) and words in str(caught.value), str(caught.value)


# ---------------------------------------------------------------- due and overdue


def test_due_runs_from_the_first_dose_or_the_last_charting_whichever_is_later():
    assert next_due(RULE, None, 100.0) is None and overdue_at(RULE, None, None) is None
    assert next_due(RULE, 600.0, None) == 600.0 + 900
    assert next_due(RULE, 600.0, 500.0) == 600.0 + 900  # charted before the dose: due from the dose
    assert next_due(RULE, 600.0, 1200.0) == 1200.0 + 900
    assert overdue_at(RULE, 600.0, 1200.0) == 1200.0 + 900 + 300


@pytest.mark.parametrize(
    ("now", "charting", "expected"),
    [(1499.0, True, NOT_DUE), (1500.0, True, DUE), (1800.0, True, DUE), (1800.5, True, OVERDUE),
     (1800.5, False, DUE), (99999.0, False, DUE)],
)
def test_status_at_just_before_at_and_after_each_boundary(now, charting, expected):
    assert status(RULE, 600.0, None, now, charting) == expected
    assert status(RULE, None, None, now, charting) == NOT_DUE


def _rules(protocol: str = "kap-im") -> SessionRules:
    plan = make_plan(load(protocol), SAMPLE_SCREENING)
    rules = SessionRules(plan, 0.0, weight_kg=70.0)
    cuffs = [reading(float(t), v, x, "cuff") for t in range(0, 3600, 300) for v, x in (("sbp", 120), ("dbp", 78), ("map", 92))]
    ox = [reading(float(t), v, x, "ox") for t in range(0, 3600) for v, x in (("spo2", 97), ("pr", 72))]
    rules.add(rules.admit(cuffs + ox))
    rules.add([Dose(600.0, "im", "ketamine", 50.0)])
    return rules


def _raised(rules: SessionRules, end: float) -> list[tuple[float, str, str]]:
    return [(e.t, e.alarm_id, e.priority) for e in alarm_events(rules.finish(end)) if e.event == "raised"]


def test_overdue_is_raised_at_its_due_time_once_the_session_charts_and_cleared_by_a_charting():
    rules = _rules()
    rules.add([Observation(590.0, "moaas", 5, "RN"), Observation(600.0 + 1500.0, "moaas", 4, "RN")])
    events = alarm_events(rules.finish(3000.0))
    raised = [(e.t, e.alarm_id) for e in events if e.event == "raised" and e.alarm_id == "moaas_overdue"]
    assert raised == [(600.0 + 900 + 300, "moaas_overdue")]
    cleared = [e for e in events if e.event == "cleared" and e.alarm_id == "moaas_overdue"]
    assert [e.t for e in cleared] == [2100.0] and "received" in cleared[0].message
    overdue = next(e for e in events if e.alarm_id == "moaas_overdue")
    assert overdue.priority == "low" and overdue.kind == "technical" and "Sedation (MOAA/S) overdue" in overdue.message


def test_no_charting_raises_no_overdue_and_charting_exactly_at_the_overdue_time_raises_none():
    assert not [a for a in _raised(_rules(), 3600.0) if a[1].endswith("_overdue")]
    rules = _rules()
    rules.add([Observation(590.0, "moaas", 5), Observation(1800.0, "moaas", 5)])
    assert not [a for a in _raised(rules, 2000.0) if a[1] == "moaas_overdue"]


def test_a_level_beyond_a_limit_on_its_scale_alarms_in_the_scales_words_and_holds_dosing():
    rules = _rules()
    rules.add([Observation(2400.0, "moaas", 2, "RN")])
    outputs = rules.finish(2401.0)
    raised = {e.alarm_id: e for e in alarm_events(outputs) if e.event == "raised"}
    assert raised["moaas_deep"].priority == "high" and raised["moaas_deep"].t == 2400.0
    assert "Sedation: MOAA/S 2 (responds only to mild prodding or shaking)" in raised["moaas_deep"].message
    assert raised["moaas_low"].priority == "medium"
    assert rules.decision.state == "gated" and any("moaas_deep" in r for r in rules.decision.reasons)


def test_the_engine_never_takes_a_charted_level_for_a_vital_or_a_baseline():
    rules = _rules()
    rules.add([Observation(300.0, "moaas", 5), Observation(300.0, "breathing", 0)])
    rules.finish(700.0)
    assert set(rules.engine.baseline.values) <= {"sbp", "dbp", "map", "spo2", "pr", "hr"}
    assert rules.engine.charted("moaas") == 300.0 and rules.engine.charted("nausea") is None


# ---------------------------------------------------------------- the record


def _session(store, **kw) -> Session:
    s = Session("s1", "P-1", 0.0, "im", 70.0, "kap-im", metadata={"screening": dict(SAMPLE_SCREENING)}, **kw)
    store.create_session(s)
    return s


def test_the_store_keeps_observations_as_events_leaves_out_corrected_and_invalid_rows(store):
    _session(store)
    store.write("s1", events=[(100.0, "observation", {"scale": "moaas", "level": 4}, "RN A"),
                              (200.0, "observation", {"scale": "moaas", "level": 9}, "RN A"),
                              (300.0, "observation", {"scale": "rass", "level": 0}, None),
                              (400.0, "observation", {"scale": "dissociation", "level": 2}, "RN B")])
    ids = {e.t: e.id for e in store.events("s1", kind="observation")}
    store.write("s1", events=[(500.0, CORRECTION, {"corrects": ids[400.0], "kind": "observation", "reason": "wrong patient"}, "RN B")])
    assert store.observations("s1") == [Observation(100.0, "moaas", 4, "RN A")]


def test_resuming_restores_the_charted_state_and_its_alarm(store):
    s = _session(store)
    store.write("s1", events=[(0.0, "dose", {"route": "im", "drug": "ketamine", "mg": 50.0, "end": None}, "RN"),
                              (900.0, "observation", {"scale": "moaas", "level": 2}, "RN")])
    plan = make_plan(load("kap-im"), SAMPLE_SCREENING)
    rules, _ = restore_rules(store, s, SessionRules(plan, 0.0, weight_kg=70.0))
    assert rules.engine.charted("moaas") == 900.0
    assert "moaas_deep" in {a.alarm_id for a in rules.engine.active()}


def test_the_sidecar_carries_observations_and_refuses_bad_ones_naming_the_field():
    meta = validate_metadata({"format": FORMAT, "observations": [{"t": 60, "scale": "moaas", "level": 3.0, "who": "RN"}]})
    assert meta["observations"] == [{"t": 60, "scale": "moaas", "level": 3, "who": "RN"}]
    for bad, field in (({"t": 60, "scale": "moaas", "level": 6}, "observations[0].level"),
                       ({"t": 60, "scale": "sedation", "level": 1}, "observations[0].scale"),
                       ({"t": -1, "scale": "moaas", "level": 1}, "observations[0].t"),
                       ({"t": 60, "scale": "moaas", "level": 1, "who": "x" * 65}, "observations[0].who"),
                       ({"t": 60, "scale": "moaas", "level": 1, "who": "  "}, "observations[0].who"),
                       ({"t": 60, "scale": "moaas", "level": 1, "who": "RN\nDoses: none"}, "observations[0].who"),
                       ({"t": 60, "scale": "moaas", "level": 1, "who": "RN \x1b[2J"}, "observations[0].who"),
                       ({"t": 60, "scale": "moaas", "level": 1, "who": 7}, "observations[0].who")):
        with pytest.raises(SidecarError) as caught:
            validate_metadata({"format": FORMAT, "observations": [bad]}, "rec.json")
        assert caught.value.field == field, str(caught.value)
    assert json.dumps(meta)  # stays JSON


def test_a_name_typed_on_a_page_is_recorded_as_one_line_of_text():
    """What a page records of a typed name passes the sidecar's check, so an export of the session imports."""
    assert person("  RN   Li\n") == "RN Li"
    assert person("RN\tLi\r\nextra") == "RN Li extra"
    assert person("RN \x1b[2JLi") == "RN [2JLi"
    assert person(" \n\t ") is None and person(None) is None
    assert len(person("x" * 500) or "") == WHO_MAX
    for typed in ("  RN   Li\n", "RN \x1b[2JLi", "x" * 500, "Dr \x85O\u2028de"):
        assert who_problem(person(typed)) is None, typed


# ---------------------------------------------------------------- the summary


def test_time_affected_holds_each_level_until_the_next_charting_capped_by_the_protocols_interval():
    rules = (RULE,)
    charted = [Observation(0.0, "moaas", 4), Observation(600.0, "moaas", 5), Observation(900.0, "moaas", 3),
               Observation(5000.0, "moaas", 5)]
    [s] = summarise_charted(charted, 9000.0, rules)
    assert s.worst == 3 and s.worst_t == 900.0 and s.last == 5 and s.count == 4
    assert s.affected_s == 600.0 + (900 + 300) and s.first_affected_t == 0.0  # 4 held to the next; 3 for 20 min at most
    [never] = summarise_charted([Observation(0.0, "nausea", 0)], 100.0, rules)
    assert not never.affected and never.affected_s == 0
    [late] = summarise_charted([Observation(0.0, "anxiety", 2)], 100.0, rules)
    assert late.affected_s == 100.0  # never past the end of the record
    [free] = summarise_charted([Observation(0.0, "anxiety", 2)], 10 * 3600.0, ())
    assert free.affected_s == UNSCHEDULED_HOLD_S


def test_the_summary_says_the_deepest_sedation_with_its_time_and_answers_rems(store):
    _session(store)
    store.write("s1", events=[(600.0, "dose", {"route": "im", "drug": "ketamine", "mg": 50.0, "end": None}, "RN"),
                              (590.0, "observation", {"scale": "moaas", "level": 5}, "RN"),
                              (2400.0, "observation", {"scale": "moaas", "level": 2}, "RN"),
                              (2400.0, "observation", {"scale": "dissociation", "level": 0}, "RN")])
    record = load_record(store, "s1")
    s = summarise(record)
    assert s.rems.sedated is True and s.rems.dissociated is False
    rows = dict(next(rows for title, rows in describe(s, 0.0)
                     if title == "Observations"))
    assert rows["Sedation (MOAA/S)"].startswith("deepest 2 (responds only to mild prodding or shaking) at T+40 min, "
                                                 "30 min after the first dose")
    assert rows["Dissociation"].startswith("never affected")


def test_a_level_charted_after_the_last_reading_is_still_part_of_the_recording():
    from devices.io.recording import Recording

    meta = validate_metadata({"format": FORMAT, "duration_s": 60, "observations": [{"t": 600, "scale": "moaas", "level": 2}]})
    recording = Recording(None, meta, [reading(0.0, "spo2", 97, "ox"), reading(30.0, "spo2", 97, "ox")])
    assert recording.end == 600.0


def test_a_whole_level_stored_as_a_float_is_a_level_everywhere(store):
    """A level of 2.0 is level 2: the central station's check of a room's mirrored rows takes it as JSON gives it,
    and what it stores must summarise, be described and exported as the whole level, never stop the summary."""
    from monitor.central.checks import checked_row

    _session(store)
    t, kind, data, who = checked_row("events", [7, 60.0, "observation", {"scale": "moaas", "level": 2.0}, "RN A"], 100.0)
    store.write("s1", events=[(t, kind, data, who)])
    [charted] = store.observations("s1")
    assert type(charted.level) is int and charted.data() == {"scale": "moaas", "level": 2}
    s = summarise(load_record(store, "s1"))
    rows = dict(next(rows for title, rows in describe(s, 0.0) if title == "Observations"))
    assert rows["Sedation (MOAA/S)"].startswith("deepest 2 (responds only to mild prodding or shaking) at T+1 min")


@pytest.mark.parametrize("who", ["RN\nDoses: none", "RN \x1b[2J", "RN\x00"])
def test_a_room_row_whose_who_is_not_one_line_of_text_is_refused(who):
    from monitor.central.checks import MessageError, checked_row

    for kind, row in (("events", [7, 60.0, "note", {"text": "ok"}, who]),
                      ("alarms", [8, 60.0, "acknowledged", "hr_high", "medium", "physiological", "hr", 130.0, 120.0,
                                  "kap-iv: hr_high", "HR 130 above 120", who, "ox"])):
        with pytest.raises(MessageError, match="who: holds a control character"):
            checked_row(kind, row, 100.0)


@pytest.mark.parametrize("level", [1e308, -1e300, 1e20])
def test_a_huge_level_is_refused_in_one_short_line_as_it_was_given(level):
    problem = observation_problem("moaas", level)
    assert problem == f"MOAA/S level {level!r} is not one of 0-5"


def test_the_summary_says_a_rems_answer_is_not_known_when_nothing_was_charted_after_the_dose(store):
    _session(store)
    store.write("s1", events=[(600.0, "dose", {"route": "im", "drug": "ketamine", "mg": 50.0, "end": None}, "RN"),
                              (590.0, "observation", {"scale": "moaas", "level": 5}, "RN"),
                              (600.0, "observation", {"scale": "dissociation", "level": 0}, "RN")])
    s = summarise(load_record(store, "s1"))
    rows = dict(next(rows for title, rows in describe(s, 0.0) if title == "Monitoring (REMS-style)"))
    assert rows["Sedation"] == "not known (MOAA/S not charted after the dose)"
    assert rows["Dissociation"] == "not known (dissociation not charted after the dose)"


def test_a_scale_charted_once_reads_charted_1_time():
    [once] = summarise_charted([Observation(60.0, "nausea", 1)], 600.0, ())
    [(_, text)] = observation_rows([once], 0.0, None)
    assert text.endswith("charted 1 time"), text


def test_a_name_in_the_nurse_box_or_a_physicians_order_is_recorded_as_one_line():
    """Every name a page takes goes to the record as the sidecar takes it back: the Nurse box, a physician's order."""
    from monitor.rules.bedside import physician_order, typed_name

    assert typed_name("  RN\tLi\n", "the Nurse box") == "RN Li"
    assert typed_name("RN \x1b[2JLi", "the Nurse box") == "RN [2JLi"
    assert typed_name(" \n ", "the Nurse box") is None and typed_name(None, "the Nurse box") is None
    assert physician_order("Dr\r\nOde", "research protocol") == ("Dr Ode", "research protocol")
    with pytest.raises(ValueError, match="a physician's order needs"):
        physician_order("\x00\n", "a reason")  # a name of control characters is no name
    with pytest.raises(ValueError, match="at most 64"):
        typed_name("x" * 65, "the Nurse box")
    with pytest.raises(ValueError, match="is not a text"):
        typed_name(["RN"], "the Nurse box")
