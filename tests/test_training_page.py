"""The trainee flow in headless Chromium: start a scenario, act on the live page, see the debrief."""

import pytest
from selenium.webdriver.common.by import By

from layouts.app import create_app
from monitor.store import Store

pytestmark = pytest.mark.browser


def click_text(dash_duo, text):
    dash_duo.driver.find_element(By.XPATH, f"//button[normalize-space()='{text}']").click()


def test_trainee_flow_through_to_the_debrief(dash_duo, tmp_path):
    store = Store(tmp_path / "k.db")
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

    # Acting needs a name.
    click_text(dash_duo, "Hold dosing")
    dash_duo.wait_for_contains_text("#training-result", "Enter your name", timeout=5)
    dash_duo.find_element("#who").send_keys("RN Ade")
    click_text(dash_duo, "+10 min")
    dash_duo.wait_for_contains_text("#training-result", "Skipped 10 min", timeout=5)
    click_text(dash_duo, "Pull probe 60 s")
    dash_duo.wait_for_contains_text("#training-result", "Injected: Pull probe", timeout=5)
    click_text(dash_duo, "+10 min")
    click_text(dash_duo, "+10 min")
    click_text(dash_duo, "+5 min")  # now ~35 min: the surge
    dash_duo.wait_for_contains_text("#alarm-list", "SBP", timeout=15)
    click_text(dash_duo, "Hold dosing")
    dash_duo.wait_for_contains_text("#training-result", "Hold dosing recorded for RN Ade", timeout=5)
    click_text(dash_duo, "Call for help")
    dash_duo.wait_for_contains_text("#training-result", "Call for help recorded", timeout=5)

    dash_duo.find_element("#end-training").click()
    dash_duo.wait_for_contains_text("h1", "Debrief: Hypertensive surge", timeout=10)
    assert hub.finished.wait(5)
    outcomes = dash_duo.find_element("#debrief-outcomes").text
    assert "hold" in outcomes and "DONE" in outcomes and "MISSED" in outcomes
    assert "recheck" in dash_duo.find_element("#debrief-missed").text
    assert "instructor: Pull probe 60 s" in dash_duo.find_element(".debrief").text
    events = store.events(session_id, kind="action")
    assert [(e.data["action"], e.who) for e in events] == [("hold_dosing", "RN Ade"), ("call_help", "RN Ade")]
