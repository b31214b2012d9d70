"""The trainee flow in headless Chromium: choose a described scenario, act on the live page (the
instructor injecting from a collapsed section), end it explicitly, see the debrief and its links."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from layouts.app import create_app
from monitor.session.store import Store



def click_text(dash_duo, text):
    dash_duo.driver.find_element(By.XPATH, f"//button[normalize-space()='{text}']").click()


def test_the_training_page_describes_each_scenario_and_links_back(dash_duo, tmp_path):
    from monitor.training.library import library

    dash_duo.start_server(create_app(Store(tmp_path / "k.db"), {}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/training")
    dash_duo.wait_for_contains_text("#train-catalogue", "Hypertensive surge", timeout=10)
    rows = dash_duo.find_elements("#train-catalogue tbody tr")
    assert len(rows) >= len(library())
    surge = next(r.text for r in rows if r.text.startswith("Hypertensive surge"))
    assert "90 min" in surge and "hold" in surge.lower() and "180/110" in surge
    dash_duo.find_element("#back-to-sessions").click()
    dash_duo.wait_for_contains_text("h1", "kapmon sessions", timeout=10)


def skip(dash_duo, hub, minutes: int) -> None:
    """Skip ahead and wait until the session's clock has moved (a loaded machine runs callbacks late)."""
    before = hub.clock.now()
    click_text(dash_duo, f"+{minutes} min")
    WebDriverWait(dash_duo.driver, 15).until(lambda _: hub.clock.now() >= before + minutes * 60 - 1)


def test_trainee_flow_through_to_the_debrief(dash_duo, store):
    live = {}
    dash_duo.start_server(create_app(store, live))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/training")
    dash_duo.select_dcc_dropdown("#train-choice", value="Hypertensive surge (scenario)")
    dash_duo.find_element("#train-trainee").send_keys("RN Ade")
    dash_duo.find_element("#train-start").click()
    dash_duo.wait_for_contains_text(".training-bar", "TRAINING · Hypertensive surge", timeout=10)
    (session_id,) = live
    hub = live[session_id]
    assert store.session(session_id).kind == "training"

    dash_duo.wait_for_contains_text("#play-state", "PLAYING 10", timeout=5)
    click_text(dash_duo, "60\u00d7")
    dash_duo.wait_for_contains_text("#play-state", "PLAYING 60", timeout=5)
    click_text(dash_duo, "Pause")
    dash_duo.wait_for_contains_text("#play-state", "PAUSED", timeout=5)

    # The trainee's name is filled in; the instructor injects from a collapsed section, under their own name.
    dash_duo.wait_for_text_to_equal("#who", "RN Ade", timeout=5)
    click_text(dash_duo, "+10 min")
    dash_duo.wait_for_contains_text("#training-result", "Skipped 10 min", timeout=5)
    assert not dash_duo.find_element("#instructor").is_displayed()
    dash_duo.driver.find_element(By.XPATH, "//summary[normalize-space()='Instructor']").click()
    click_text(dash_duo, "Pull probe 60 s")
    dash_duo.wait_for_contains_text("#inject-result", "Enter the instructor's name", timeout=5)
    dash_duo.find_element("#instructor").send_keys("Instr J")
    click_text(dash_duo, "Pull probe 60 s")
    dash_duo.wait_for_contains_text("#inject-result", "Injected: Pull probe", timeout=5)
    click_text(dash_duo, "+1 min")
    dash_duo.wait_for_contains_text("#alarm-list", "sensor off", timeout=15)
    alarms = dash_duo.find_element("#alarm-list").text
    assert "Instr J" not in alarms and "inject" not in alarms.lower()  # the trainee sees a probe fault, no more
    for minutes in (10, 10, 1, 1, 1, 1):  # now just past 35 min: the surge, when the expectations fall due
        skip(dash_duo, hub, minutes)
    dash_duo.wait_for_contains_text("#alarm-list", "SBP", timeout=15)
    click_text(dash_duo, "Hold dosing")
    dash_duo.wait_for_contains_text("#training-result", "Hold dosing recorded for RN Ade", timeout=5)
    click_text(dash_duo, "Call for help")
    dash_duo.wait_for_contains_text("#training-result", "Call for help recorded", timeout=5)

    # Ending is explicit: a confirmation, then the POST, then the debrief.
    dash_duo.find_element("#end-training button").click()
    WebDriverWait(dash_duo.driver, 10).until(expected_conditions.alert_is_present()).accept()
    dash_duo.wait_for_contains_text("h1", "Debrief: Hypertensive surge", timeout=10)
    assert hub.finished.wait(5)
    outcomes = dash_duo.find_element("#debrief-outcomes").text
    assert "hold" in outcomes and "DONE" in outcomes and "MISSED" in outcomes
    assert "recheck" in dash_duo.find_element("#debrief-missed").text
    timeline = dash_duo.find_element("#debrief-timeline").text
    assert "instructor Instr J: Pull probe 60 s" in timeline
    assert "RN Ade: Hold dosing" in timeline and "RN Ade: Call for help" in timeline
    assert "T+" in timeline and "Times are T+ minutes:seconds since the first dose" in dash_duo.find_element(".debrief").text
    events = store.events(session_id, kind="action")
    assert [(e.data["action"], e.who) for e in events] == [("hold_dosing", "RN Ade"), ("call_help", "RN Ade")]
    [(who, detail)] = [(who, d) for _, _, action, who, d in store.audit() if action == "session_ended"]
    assert who == "Instr J" and detail["session"] == session_id

    # The debrief links to the review of the same session.
    dash_duo.find_element("#debrief-review").click()
    dash_duo.wait_for_contains_text("#review-patient", "Review", timeout=15)
    assert dash_duo.driver.current_url.endswith(f"/review/{session_id}")
