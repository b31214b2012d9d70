"""Structured observations on the live page, in headless Chromium (every wait is for a condition), and the
charting callback refusing what a forged request sends."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from selenium.webdriver.common.by import By

from devices.reading import reading
from devices.virtual.scenarios import screening
from layouts.app import create_app
from monitor.session.model import Dose, Observation
from monitor.session.start import start_session
from monitor.session.store import Store
from tests.helpers import ListSource, dash_callback, wait_for

TIMEOUT = 20  # seconds: generous for a loaded 2-core machine
CUFF = [reading(0.0, v, x, "cuff") for v, x in (("sbp", 118), ("dbp", 76), ("map", 90))]


def quiet(seconds: int) -> list:
    return [reading(float(t), v, x, "ox") for t in range(1, seconds) for v, x in (("hr", 72), ("pr", 72), ("spo2", 97))]


@contextmanager
def session(tmp_path, seconds: int = 900, playback: bool = False):
    """A live IM session (70 kg, kap-im: MOAA/S, breathing, dissociation, nausea, anxiety) with quiet vitals."""
    store = Store(tmp_path / "obs.db")
    hub = start_session(store, [ListSource(CUFF + quiet(seconds))], patient="P-7", route="im", weight_kg=70.0,
                        screening=screening(45), playback=playback)
    try:
        yield store, hub
    finally:
        hub.stop()


def open_page(dash_duo, store, hub, who: str = "RN Li") -> None:
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_element("[data-scale='moaas']", timeout=TIMEOUT)
    dash_duo.find_element("#who").send_keys(who)


def button(dash_duo, scale: str) -> str:
    return dash_duo.driver.execute_script(
        "const b = document.querySelector(`[data-scale='${arguments[0]}']`); return b ? b.innerText : '';", scale)


def state_of(dash_duo, scale: str) -> str | None:
    return dash_duo.driver.execute_script(
        "const b = document.querySelector(`[data-scale='${arguments[0]}']`); return b && b.dataset.state;", scale)


def test_a_nurse_charts_moaas_2_and_sees_it_the_high_alarm_and_the_hold_then_marks_it_in_error(dash_duo, tmp_path):
    with session(tmp_path) as (store, hub):
        open_page(dash_duo, store, hub)
        order = dash_duo.driver.execute_script(
            "return Array.from(document.querySelectorAll('.obs-btn')).map(b => b.dataset.scale)")
        assert order == [r.scale for r in hub.view.snapshot().plan.protocol.observations]
        assert "not charted yet" in button(dash_duo, "moaas")
        dash_duo.find_element("[data-scale='moaas']").click()
        levels = wait_for(lambda: dash_duo.find_elements("#obs-chooser .obs-choice"), TIMEOUT, "the MOAA/S levels")
        assert [b.text.split("\n")[0] for b in levels] == ["0", "1", "2", "3", "4", "5"]
        assert "responds only to mild prodding or shaking" in levels[2].text
        levels[2].click()
        dash_duo.wait_for_contains_text("#obs-result", "MOAA/S 2 (responds only to mild prodding or shaking) charted by RN Li",
                                        timeout=TIMEOUT)
        wait_for(lambda: not dash_duo.find_element("#obs-chooser").is_displayed(), TIMEOUT, "the chooser to close")
        wait_for(lambda: "RN Li" in button(dash_duo, "moaas") and "!!!" in button(dash_duo, "moaas"), TIMEOUT,
                 "the level, its mark and who on the button")
        shown = button(dash_duo, "moaas")
        assert shown.split("\n")[1:3] == ["2", "!!!"] and "responds only to mild prodding" in shown
        wait_for(lambda: "MOAA/S" in dash_duo.find_element("#alarm-list").text, TIMEOUT, "the sedation alarm")
        wait_for(lambda: "banner-high" in dash_duo.find_element("#banner").get_attribute("class"), TIMEOUT,
                 "the HIGH banner")
        wait_for(lambda: "DOSING" in dash_duo.find_element("#hold").text, TIMEOUT, "the dosing hold")
        (charted,) = store.events(hub.session.id, kind="observation")
        assert charted.data == {"scale": "moaas", "level": 2} and charted.who == "RN Li"

        # Entered in error: listed with the other entries; marking it takes its alarm and hold away.
        row = wait_for(lambda: dash_duo.driver.find_elements(
            By.XPATH, "//div[@class='entry'][contains(., 'MOAA/S 2')]//button"), TIMEOUT, "the observation in the entries")
        row[0].click()
        dash_duo.wait_for_contains_text("#error-prompt", "MOAA/S 2 (responds only to mild prodding", timeout=TIMEOUT)
        dash_duo.find_element("#error-reason").send_keys("charted for the wrong patient")
        dash_duo.find_element("#error-save").click()
        dash_duo.wait_for_contains_text("#error-result", "marked entered in error by RN Li", timeout=TIMEOUT)
        wait_for(lambda: "not charted yet" in button(dash_duo, "moaas"), TIMEOUT, "the button to forget the level")
        wait_for(lambda: "MOAA/S" not in dash_duo.find_element("#alarm-list").text, TIMEOUT, "the alarm to go")
        wait_for(lambda: "DOSING" not in dash_duo.find_element("#hold").text, TIMEOUT, "the hold to lift")
        assert dash_duo.get_logs() == []


def test_a_charting_session_past_the_grace_shows_the_scale_overdue(dash_duo, tmp_path):
    with session(tmp_path, seconds=3000, playback=True) as (store, hub):
        rule = next(r for r in hub.view.snapshot().plan.protocol.observations if r.scale == "moaas")
        start = hub.now()
        hub.add_dose(Dose(start, "im", "ketamine", 35.0), "RN Li")
        hub.observe(Observation(start, "moaas", 5, "RN Li"))
        open_page(dash_duo, store, hub)
        wait_for(lambda: "next" in button(dash_duo, "moaas"), TIMEOUT, "MOAA/S not due yet")
        assert state_of(dash_duo, "moaas") == "not_due"
        hub.clock.skip_to(start + rule.every_s + 30)  # due, within the grace
        wait_for(lambda: hub.now() >= start + rule.every_s + 30, TIMEOUT, "the hub clock to move")
        wait_for(lambda: state_of(dash_duo, "moaas") == "due", TIMEOUT, "MOAA/S due")
        assert "DUE NOW" in button(dash_duo, "moaas")
        hub.clock.skip_to(start + rule.every_s + rule.grace_s + 30)
        wait_for(lambda: hub.now() >= start + rule.every_s + rule.grace_s + 30, TIMEOUT, "the hub clock to move")
        wait_for(lambda: state_of(dash_duo, "moaas") == "overdue", TIMEOUT, "MOAA/S overdue")
        assert "OVERDUE" in button(dash_duo, "moaas")  # a word as well as the colour
        assert "obs-overdue" in dash_duo.find_element("[data-scale='moaas']").get_attribute("class")
        dash_duo.find_element("[data-scale='moaas']").click()
        wait_for(lambda: dash_duo.find_elements("#obs-chooser .obs-choice"), TIMEOUT, "the levels")[5].click()
        wait_for(lambda: state_of(dash_duo, "moaas") == "not_due", TIMEOUT, "MOAA/S charted again: no longer due")
        assert dash_duo.get_logs() == []


# --- the charting callback refuses what a page never sends ---------------------------------------------------

def chart_request(client, hub, scale: object, level: object, who: object = "RN Li"):
    """What the browser posts when the level button ``{"type": "obs-level", "scale", "level"}`` is pressed."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if d["inputs"] and '"obs-level"' in d["inputs"][0]["id"])
    pressed = {"type": "obs-level", "scale": scale, "level": level}
    return dash_callback(client, dep["inputs"][0]["id"], state={"cursor.data": {"session": hub.session.id}, "who.value": who},
                         inputs=[[{"id": pressed, "property": "n_clicks", "value": 1}]], changed=pressed)


@pytest.mark.parametrize("scale, level, who, said", [
    ("moaas", 9, "RN Li", "MOAA/S level 9 is not a whole number from 0 to 5"),
    ("moaas", -1, "RN Li", "MOAA/S level -1 is not a whole number from 0 to 5"),
    ("moaas", "2", "RN Li", "MOAA/S level '2' is not a whole number from 0 to 5"),
    ("moaas", 2.5, "RN Li", "is not a whole number from 0 to 5"),
    ("moaas", True, "RN Li", "is not a whole number from 0 to 5"),
    ("rass", 1, "RN Li", "'rass' is not an observation this protocol charts"),
    ("moaas", 2, "x" * 500, "the Nurse box"),
    ("moaas", 2, "", "Enter your initials"),
])
def test_a_bad_level_scale_or_name_posted_is_refused_and_nothing_is_stored(tmp_path, scale, level, who, said):
    with session(tmp_path) as (store, hub):
        client = create_app(store, {hub.session.id: hub}).server.test_client()
        answer = chart_request(client, hub, scale, level, who)
        assert answer.status_code == 200
        text = json.dumps(answer.get_json())
        assert said in text and "said-error" in text
        assert store.events(hub.session.id, kind="observation") == []
        ok = json.dumps(chart_request(client, hub, "moaas", 4).get_json())
        assert "MOAA/S 4 (lethargic response" in ok and "said-ok" in ok  # the same request with a real level is charted
        assert [e.data for e in store.events(hub.session.id, kind="observation")] == [{"scale": "moaas", "level": 4}]


def test_a_double_tap_on_a_level_charts_it_once_and_another_level_at_once_is_still_charted(tmp_path):
    with session(tmp_path) as (store, hub):
        client = create_app(store, {hub.session.id: hub}).server.test_client()
        first = json.dumps(chart_request(client, hub, "moaas", 4).get_json())
        again = json.dumps(chart_request(client, hub, "moaas", 4).get_json())  # the second tap of a double tap
        assert "said-ok" in first and "said-ok" in again
        assert "MOAA/S 4 already charted by RN Li" in again
        assert [e.data for e in store.events(hub.session.id, kind="observation")] == [{"scale": "moaas", "level": 4}]
        chart_request(client, hub, "moaas", 3)  # a mis-tap put right at once is a charting of its own
        chart_request(client, hub, "moaas", 4, "RN Ng")  # and so is another nurse's
        assert [(e.data["level"], e.who) for e in store.events(hub.session.id, kind="observation")] == [
            (4, "RN Li"), (3, "RN Li"), (4, "RN Ng")]
