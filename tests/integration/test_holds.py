"""Holds, screening, doses, entered in error and discharge where a user meets them: the words of a hold,
the checks of what a page sends (posted as a browser would, forged values included), the central
station's tile, the terminal line, and the review and report sections."""

from __future__ import annotations

import html
import math
import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from devices.reading import reading
from devices.virtual.scenarios import screening
from layouts.app import create_app
from monitor.central import topics as mt
from monitor.rules.bedside import PREDISCHARGE_BP_S, dose_entry, physician_order, predischarge_bp_due
from monitor.rules.holds import headline, hold_text
from monitor.central.checks import parse_state
from monitor.central.topics import MessageError
from monitor.session.start import build_plan, start_session
from monitor.session.model import Dose
from monitor.rules.session_rules import SessionRules
from monitor.session.store import Store
from tests.helpers import ROOT, ListSource, dash_callback, wait_for

QUIET = [reading(float(t), v, val, "ox") for t in range(1, 900) for v, val in (("hr", 72), ("pr", 72), ("spo2", 97))]


def cuff(sbp: float, dbp: float, t: float = 0.0) -> list:
    return [reading(t, v, x, "cuff") for v, x in (("sbp", sbp), ("dbp", dbp), ("map", round((sbp + 2 * dbp) / 3)))]


@contextmanager
def live(tmp_path, bp=(118, 76), weight_kg=70.0, **answers):
    """A live IV session at real speed: a pre-dose cuff reading, then quiet vitals; screening complete
    (nothing found) unless ``answers`` say otherwise."""
    store = Store(tmp_path / "holds.db")
    hub = start_session(store, [ListSource(cuff(*bp) + QUIET)], patient="H-1", route="iv", weight_kg=weight_kg,
                        screening=screening(45, **answers))
    try:
        wait_for(lambda: hub.decision().findings == () or all(f.id != "predose_bp_missing" for f in hub.decision().findings),
                 10, "the pre-dose BP to reach the rules")
        yield store, hub
    finally:
        hub.stop()


def judged(bp: tuple[float, float] | None = None, **answers):
    """The plan and dosing decision of a kap-iv session after an optional cuff reading."""
    rules = SessionRules(build_plan("kap-iv", "iv", screening(45, **answers)), 0.0)
    if bp is not None:
        rules.add(cuff(*bp))
    rules.advance(1.0)
    return rules.plan, rules.decision


# --- a hold in words ---------------------------------------------------------------------------------------


def test_a_hold_says_what_holds_dosing_under_which_protocol_and_what_lifts_it():
    plan, decision = judged((118, 76), psychosis=True)
    assert headline(decision, plan) == "DOSING BLOCKED: psychosis (protocol kap-iv)"
    assert hold_text(decision, plan).endswith("\u2014 physician override (side panel)")

    plan, decision = judged((186, 104))
    assert decision.state == "blocked"
    words = headline(decision, plan)
    assert words.startswith("DOSING BLOCKED: Resting BP at or above 180/100 (latest BP 186/104)")
    assert words.endswith("(protocol kap-iv)")
    assert "recheck after 5 min rest, or physician override" in hold_text(decision, plan)

    plan, decision = judged((118, 76), pregnancy=None)
    assert headline(decision, plan) == "DOSING ON HOLD: pregnancy not answered (protocol kap-iv)"
    assert "answer the screening question" in hold_text(decision, plan)

    plan, decision = judged((118, 76), hepatic_impairment=None)
    assert headline(decision, plan) == "DOSING ON HOLD: hepatic impairment not answered (protocol kap-iv)"
    plan, decision = judged((118, 76), hepatic_impairment="severe")
    assert headline(decision, plan) == "DOSING BLOCKED: hepatic impairment severe (protocol kap-iv)"
    plan, decision = judged((118, 76), substance_use_disorder=True, substance_use_attested=None)
    assert headline(decision, plan) == "DOSING ON HOLD: substance use disorder (protocol kap-iv)"
    assert "attest it in the screening" in hold_text(decision, plan)

    plan, decision = judged(None)
    assert headline(decision, plan) == "DOSING ON HOLD: No blood pressure recorded yet (protocol kap-iv)"
    assert hold_text(decision, plan).endswith("take a pre-dose BP")

    plan, decision = judged((118, 76))
    assert hold_text(decision, plan) == "Dosing: clear to dose"


# --- what the dose form accepts ----------------------------------------------------------------------------


@pytest.mark.parametrize("mg, minutes, route, drug, why", [
    (math.nan, None, "iv", "ketamine", "not a number of mg"),
    (math.inf, None, "iv", "ketamine", "not a number of mg"),
    (1e308, None, "iv", "ketamine", "outside 0-10000 mg"),
    (True, None, "iv", "ketamine", "not a number of mg"),
    ("40", None, "iv", "ketamine", "not a number of mg"),
    (-5, None, "iv", "ketamine", "outside 0-10000 mg"),
    (40, -5, "iv", "ketamine", "infusion of -5 min is not possible"),
    (40, 0, "iv", "ketamine", "infusion of 0 min is not possible"),
    (40, math.nan, "iv", "ketamine", "not a number of minutes"),
    (40, 1e9, "iv", "ketamine", "at most 1440 min"),
    (40, True, "iv", "ketamine", "not a number of minutes"),
    (40, None, "subcutaneous", "ketamine", "not this session's route (IV)"),
    (40, None, "im", "ketamine", "not this session's route (IV)"),
    (40, None, True, "ketamine", "not this session's route"),
    (40, None, "iv", "k" * 1_000_000, "1,000,000 characters long (at most 80)"),
    (40, None, "iv", "  ", "enter the drug"),
    (40, None, "iv", 7, "not a name"),
    (None, None, "iv", "ketamine", "enter the dose in mg"),
])
def test_a_dose_entry_that_is_not_a_dose_is_refused_saying_why(mg, minutes, route, drug, why):
    with pytest.raises(ValueError, match=re.escape(why)) as refused:
        dose_entry(1000.0, route, drug, mg, minutes, "iv")
    assert len(str(refused.value)) < 300  # a megabyte is never repeated back


def test_a_dose_entry_within_bounds_is_a_dose():
    assert dose_entry(1000.0, "iv", " ketamine ", 35, 40, "iv") == Dose(1000.0, "iv", "ketamine", 35.0, 1000.0 + 2400)
    assert dose_entry(1000.0, "im", "ketamine", 30.5, None, "im") == Dose(1000.0, "im", "ketamine", 30.5, None)
    assert dose_entry(1000.0, "intranasal", "esketamine", 28, None, "intranasal", " 23HG512 ").lot == "23HG512"
    assert dose_entry(1000.0, "im", "ketamine", 30, None, "im", "  ").lot is None  # a blank lot is no lot


@pytest.mark.parametrize("lot, why", [
    ("L" * 41, "41 characters long (at most 40)"), ("ab;c", "not a lot number"), (7, "is not a text"),
    ("-12", "not a lot number"),
])
def test_a_lot_that_is_not_a_lot_number_is_refused(lot, why):
    with pytest.raises(ValueError, match=re.escape(why)):
        dose_entry(1000.0, "intranasal", "esketamine", 28, None, "intranasal", lot)


def test_a_physicians_order_needs_a_name_and_a_reason():
    assert physician_order(None, "") is None and physician_order("  ", None) is None
    assert physician_order(" Dr Rahman ", "tolerated 1.2 mg/kg before") == ("Dr Rahman", "tolerated 1.2 mg/kg before")
    for physician, reason in (("Dr Rahman", ""), ("", "a reason"), ("Dr Rahman", True), ("x" * 65, "a reason"),
                              ("Dr Rahman", "y" * 501)):
        with pytest.raises(ValueError):
            physician_order(physician, reason)


def test_the_predischarge_bp_reminder_comes_only_near_discharge_without_a_recent_bp():
    window = PREDISCHARGE_BP_S
    assert predischarge_bp_due(now=5000, left_s=600, last_bp=5000 - window - 1, discharged=False, dosed=True)
    assert predischarge_bp_due(now=5000, left_s=0, last_bp=None, discharged=False, dosed=True)
    assert not predischarge_bp_due(now=5000, left_s=600, last_bp=5000 - 60, discharged=False, dosed=True)  # a fresh BP
    assert not predischarge_bp_due(now=5000, left_s=window + 60, last_bp=None, discharged=False, dosed=True)  # not yet
    assert not predischarge_bp_due(now=5000, left_s=0, last_bp=None, discharged=True, dosed=True)
    assert not predischarge_bp_due(now=5000, left_s=0, last_bp=None, discharged=False, dosed=False)


# --- forged requests to the dose callback (as a browser posts them) ----------------------------------------


def dose_state(sid: str, **fields) -> dict:
    values = {"route": "iv", "drug": "ketamine", "mg": 35, "minutes": 40, "repeat": [], "physician": "", "reason": "",
              "lot": None}
    values.update(fields)
    return {"dose-route.value": values["route"], "dose-drug.value": values["drug"], "dose-mg.value": values["mg"],
            "dose-minutes.value": values["minutes"], "dose-repeat.value": values["repeat"],
            "dose-physician.value": values["physician"], "dose-order-reason.value": values["reason"],
            "dose-lot.value": values["lot"], "cursor.data": {"session": sid}, "who.value": "RN Li"}


FORGED = [
    {"mg": math.nan}, {"mg": math.inf}, {"mg": 1e308}, {"mg": True}, {"mg": -35}, {"mg": "35"}, {"mg": [35]},
    {"minutes": -40}, {"minutes": math.inf}, {"minutes": True}, {"minutes": "40"},
    {"route": "subcutaneous"}, {"route": "im"}, {"route": {"iv": 1}},
    {"drug": "k" * 1_000_000}, {"drug": 12},
    {"lot": "L" * 1_000_000}, {"lot": 7}, {"lot": "<script>"}, {"lot": "A1\nB2"}, {"lot": ["A1"]},
]


def test_forged_dose_values_are_refused_with_a_message_and_never_stored(tmp_path):
    with live(tmp_path) as (store, hub):
        client = create_app(store, {hub.session.id: hub}).server.test_client()
        wait_for(lambda: hub.decision().state == "clear", 10, "dosing to be clear")
        for forged in FORGED:
            response = dash_callback(client, "dose-save", 1, dose_state(hub.session.id, **forged))
            assert response.status_code == 200, forged
            said = response.get_json()["response"]["dose-result"]["children"]
            assert said["props"]["className"] == "said-error", forged
            assert said["props"]["children"][0].startswith("Not recorded: "), forged
            assert len(response.data) < 5000, forged  # the megabyte is not sent back
        assert store.events(hub.session.id, kind="dose") == []
        # The same request with good values records the dose: the refusals above were the values'.
        response = dash_callback(client, "dose-save", 1, dose_state(hub.session.id, lot=" 23HG-512 "))
        said = response.get_json()["response"]["dose-result"]["children"]["props"]["children"][0]
        assert "lot 23HG-512" in said and "recorded by RN Li" in said
        assert [(d.mg, d.lot) for d in store.doses(hub.session.id)] == [(35.0, "23HG-512")]


def test_forged_names_and_cursors_never_break_the_dose_callback(tmp_path):
    with live(tmp_path) as (store, hub):
        client = create_app(store, {hub.session.id: hub}).server.test_client()
        for state in ({**dose_state(hub.session.id), "who.value": True},
                      {**dose_state(hub.session.id), "who.value": "x" * 100_000},
                      {**dose_state(hub.session.id), "cursor.data": ["not", "a", "cursor"]},
                      {**dose_state(hub.session.id), "cursor.data": {"session": 7}}):
            response = dash_callback(client, "dose-save", 1, state)
            assert response.status_code == 200
            assert response.get_json()["response"]["dose-result"]["children"]["props"]["className"] == "said-error"
        assert store.events(hub.session.id, kind="dose") == []


def said_text(response) -> str:
    return response.get_json()["response"]


def test_a_dose_outside_the_bounds_needs_a_physicians_order_and_a_repeat_needs_a_tick(tmp_path):
    with live(tmp_path) as (store, hub):
        client = create_app(store, {hub.session.id: hub}).server.test_client()
        wait_for(lambda: hub.decision().state == "clear", 10, "dosing to be clear")
        sid = hub.session.id
        out = said_text(dash_callback(client, "dose-save", 1, dose_state(sid, mg=84)))
        assert "above the protocol maximum" in str(out["dose-result"]) and out["dose-order"]["hidden"] is False
        assert store.events(sid, kind="dose") == []
        out = said_text(dash_callback(client, "dose-save", 1, dose_state(sid, mg=84, physician="Dr Rahman")))
        assert "physician's name and a reason" in str(out["dose-result"])
        out = said_text(dash_callback(client, "dose-save", 1, dose_state(sid, mg=84, physician="Dr Rahman",
                                                                       reason="1.2 mg/kg tolerated before")))
        assert "on the order of Dr Rahman" in str(out["dose-result"]) and out["dose-order"]["hidden"] is True
        (override,) = [a for _, a in store.alarm_events(sid) if a.event == "overridden"]
        assert override.who == "Dr Rahman" and "1.2 mg/kg tolerated before" in override.message
        # A second dose: named in the refusal until the repeat is ticked.
        out = said_text(dash_callback(client, "dose-save", 1, dose_state(sid, mg=10)))
        assert re.search(r"already recorded this session \(ketamine 84 mg at \d\d:\d\d:\d\d by RN Li\)", str(out["dose-result"]))
        assert len(store.events(sid, kind="dose")) == 1


def test_screening_from_the_page_is_checked_with_the_files_validator(tmp_path):
    from layouts.screening_form import save, sent_answers

    with live(tmp_path, pregnancy=None) as (store, hub):
        assert hub.decision().state == "gated"
        text, ok = save(hub, "RN Li", {"age": "sixty", "pregnancy": "no"})
        assert not ok and "screening.age: 'sixty' is not a number (expected a number 0-130 years)" in text
        text, ok = save(hub, "RN Li", {"psychossis": "no"})
        assert not ok and "did you mean 'psychosis'?" in text
        for forged in ("y" * 1_000_000, ["yes"] * 100_000, {"a": "b" * 100_000}):
            text, ok = save(hub, "RN Li", {"pregnancy": forged})
            assert not ok and len(text) < 200 and "screening.pregnancy: not an answer" in text
        assert store.events(hub.session.id, kind="screening") == []
        text, ok = save(hub, "RN Li", {"pregnancy": "no", "age": "45"})
        assert ok and "pregnancy: not answered \u2192 no" in text and "Dosing: clear to dose" in text
        assert "age" not in text  # unchanged answers are not listed
        (given,) = store.events(hub.session.id, kind="screening")
        assert given.who == "RN Li" and given.data["answers"]["pregnancy"] is False
        assert given.data["answers"]["psychosis"] is False  # the answers not on the form are kept
        assert save(hub, "RN Li", {"pregnancy": "no"}) == ("No change: the answers are as recorded.", True)
        assert sent_answers([{"id": {"type": "screen", "key": "age"}, "value": "50"}, "junk", {"id": "x"}]) == {"age": "50"}


def test_entered_in_error_from_the_page_refuses_what_it_cannot_mark(tmp_path):
    from layouts.corrections import chosen_entry, entry_text, recent, retract

    with live(tmp_path) as (store, hub):
        hub.add_manual_bp(250, 120, 163, "RN Li")
        hub.add_event("note", {"text": "Vomiting"}, "RN Li")
        note, bp = recent(store, hub.session.id)
        assert note.kind == "note" and bp.kind == "manual_nibp"
        assert entry_text(bp).endswith("BP 250/120 mmHg (MAP 163) \u00b7 RN Li")
        assert retract(hub, "RN Li", bp.id, "  ") == ("Not marked: write why the entry is wrong first.", False)
        assert retract(hub, "RN Li", True, "typo")[1] is False and retract(hub, "RN Li", 10**9, "typo")[1] is False
        assert chosen_entry(store, hub.session.id, "1") is None and chosen_entry(store, "other", bp.id) is None
        text, ok = retract(hub, "RN Li", bp.id, "typed 250/120 for 150/80")
        assert ok and "entered in error by RN Li: typed 250/120 for 150/80" in text
        assert [e.kind for e in recent(store, hub.session.id)] == ["note"]
        assert retract(hub, "RN Li", bp.id, "again") == ("Not marked: that entry is already marked entered in error.", False)


def test_discharge_from_the_page_before_the_minimum_observation_needs_a_physicians_order(tmp_path):
    from layouts.controls import discharge

    with live(tmp_path) as (store, hub):
        hub.add_dose(Dose(hub.now(), "iv", "ketamine", 35.0), "RN Li")
        text, ok, ask = discharge(hub, store, "RN Li", None, None)
        assert not ok and ask and text == ("Not discharged: minimum observation not over: 60 more min (a physician may "
                                           "order discharge earlier, with a reason).")
        assert discharge(hub, store, "RN Li", "Dr Rahman", "")[:2] == (
            "Not discharged: a physician's order needs the physician's name and a reason.", False)
        assert store.events(hub.session.id, kind="discharge") == []
        text, ok, _ = discharge(hub, store, "RN Li", "Dr Rahman", "escort waiting, stable")
        assert ok and "before the minimum observation, on the order of Dr Rahman" in text
        assert "take one now" not in text  # the pre-dose BP is recent
        assert discharge(hub, store, "RN Li", None, None)[0].startswith("Already discharged at ")
        assert len(store.events(hub.session.id, kind="discharge")) == 1


# --- the central station's tile --------------------------------------------------------------------------


def test_a_rooms_dosing_hold_reaches_the_central_tile_and_bad_fields_are_refused(tmp_path):
    from layouts.central import room_tile
    from monitor.central.station import CentralStore, Room
    from monitor.central.publisher import dosing_state

    with live(tmp_path, psychosis=True) as (store, hub):
        dosing = dosing_state(hub)
        assert dosing == {"state": "blocked", "headline": "DOSING BLOCKED: psychosis (protocol kap-iv)"}
        state = mt.state(hub.session, [], None, {}, time.time(), 1.0, False, dosing=dosing)
        parsed = parse_state(state, time.time())
        tile = room_tile(Room("clinic", "room-1", "online", parsed), CentralStore(tmp_path / "central.db"))
        marks = [c for c in tile.children if "c-dosing" in (getattr(c, "className", "") or "")]
        assert [(m.className, m.children) for m in marks] == [
            ("c-dosing c-dosing-blocked", "DOSING BLOCKED: psychosis (protocol kap-iv)")]
        clear = parse_state({**state, "dosing": {"state": "clear", "headline": "Dosing: clear to dose"}}, time.time())
        assert not [c for c in room_tile(Room("clinic", "room-1", "online", clear), CentralStore(tmp_path / "c2.db")).children
                    if "c-dosing" in (getattr(c, "className", "") or "")]
        assert parse_state({**state, "dosing": None}, time.time()).dosing is None  # an older bedside
        for bad, field in (({"state": "maybe", "headline": "x"}, "dosing.state"), ({"state": "blocked"}, "dosing.headline"),
                           ({"state": "blocked", "headline": "x" * 501}, "dosing.headline"), ("blocked", "dosing")):
            with pytest.raises(MessageError, match=re.escape(field)):
                parse_state({**state, "dosing": bad}, time.time())


# --- the terminal -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status == 200
    except (urllib.error.URLError, OSError):
        return False


def test_kapmon_demo_prints_each_dosing_change_in_the_terminal_and_no_other_info(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli.main", "demo", "--port", str(port), "--speed", "20",
                             "--db", str(tmp_path / "demo.db")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=tmp_path, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Dosing: clear to dose" in line for line in lines):
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
        wait_for(lambda: page(port), 30, "the page")  # requests are not logged
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    lines += err.splitlines()
    dosing = [line for line in lines if "DOSING" in line or "Dosing:" in line]
    assert re.match(r"kapmon \d\d:\d\d:\d\d session \S+: DOSING ON HOLD: No blood pressure recorded yet", dosing[0]), lines
    assert any("Dosing: clear to dose" in line for line in dosing), lines
    assert not [line for line in lines if "GET /" in line or "HTTP/1.1" in line], lines


# --- review and report ----------------------------------------------------------------------------------------


def test_the_review_and_report_list_screening_who_answered_overrides_and_dosing_changes(tmp_path):
    from monitor.analysis.record_view import decision_rows, dosing_rows, retracted_rows, screening_changes, screening_rows
    from monitor.exports.report import render
    from monitor.analysis.summary import load_record, plan_for, protocol_for, summarise
    from monitor.analysis.record_view import reference

    with live(tmp_path, psychosis=None) as (store, hub):
        hub.rescreen({**hub.engine.plan.screening, "psychosis": True}, "RN Li")
        hub.override("psychosis", "Dr Rahman", "remote history, assessed today")
        hub.add_manual_bp(250, 120, 163, "RN Li")
        (bp,) = store.events(hub.session.id, kind="manual_nibp")
        hub.retract(bp.id, "typed 250/120 for 150/80", "RN Okafor")
        sid = hub.session.id
    record = load_record(store, sid)
    ref = reference(record)
    protocol = protocol_for(record.session)
    rows = {r.question: r for r in screening_rows(record, protocol)}
    psychosis = rows["Psychosis, psychotic depression or schizophrenia?"]
    assert psychosis.answer == "yes" and psychosis.given.who == "RN Li" and psychosis.given.t is not None
    assert rows["Porphyria?"].given.t is None  # from the start
    ((given, changes),) = screening_changes(record)
    assert given.who == "RN Li" and changes == ["psychosis: not answered \u2192 yes"]
    lifted = [r for r in decision_rows(record, plan_for(record, protocol)) if r.finding and r.finding.id == "psychosis"]
    assert lifted[0].finding.action == "block" and lifted[0].override.who == "Dr Rahman"
    states = [state for _, state, _ in dosing_rows(record)]
    assert "BLOCKED" in states and states[-1] == "CLEAR"
    (struck,) = retracted_rows(record, ref)
    assert struck.what.startswith("250/120") and "entered in error by RN Okafor" in struck.retracted
    assert "typed 250/120 for 150/80" in struck.retracted

    text = html.unescape(re.sub(r"<[^>]+>", " ", render(record, summarise(record))))
    text = re.sub(r"\s+", " ", text)
    assert re.search(r"Psychosis, psychotic depression or schizophrenia\? yes T\S+ min \(\d\d:\d\d:\d\d\) by RN Li", text)
    assert "psychosis: not answered → yes" in text and "Dosing decision changes" in text
    assert re.search(r"BLOCK \S.* overridden by Dr Rahman, unverified \(typed name, no sign-in\) at T\S+ min · \d\d:\d\d:\d\d: block psychosis overridden", text)
    assert "Hand-taken blood pressures Time Blood pressure Taken by no hand-taken blood pressure" in text  # left out


def test_a_double_click_records_one_dose_and_one_discharge(tmp_path):
    import threading

    from layouts.controls import DoseForm, discharge, give_dose

    def twice(action) -> list:
        barrier = threading.Barrier(2)
        said: list = []

        def press() -> None:
            barrier.wait()
            said.append(action())

        presses = [threading.Thread(target=press) for _ in range(2)]
        for p in presses:
            p.start()
        for p in presses:
            p.join()
        return said

    with live(tmp_path) as (store, hub):
        wait_for(lambda: hub.decision().state == "clear", 10, "dosing to be clear")
        said = twice(lambda: give_dose(hub, store, "RN Li", DoseForm("iv", "ketamine", 35, 40)))
        assert sorted(ok for _, ok, _ in said) == [False, True]
        assert len(store.events(hub.session.id, kind="dose")) == 1
        said = twice(lambda: discharge(hub, store, "RN Li", "Dr Rahman", "escort waiting"))
        assert sorted(ok for _, ok, _ in said) == [False, True]
        assert len(store.events(hub.session.id, kind="discharge")) == 1
