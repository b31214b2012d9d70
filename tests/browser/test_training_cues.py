"""A training session with a scripted patient in headless Chromium: the training bar shows what the patient
presents now (never charted for the trainee), the trainee's charting raises the sedation alarm, and the debrief
lists each scripted state with what was charted. Waits for conditions, never sleeps."""

import os
from pathlib import Path

import pytest
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from layouts.app import create_app
from monitor.session.model import Observation
from monitor.training.library import start_training

SHOTS = os.environ.get("KAPMON_SCREENSHOTS")  # a folder to save screenshots in, when set
DEEP = "Sedation: responds only to mild prodding or shaking"

ON_SCREEN = """
const off = sel => { const e = document.querySelector(sel); if (!e) return sel + ' missing';
  const r = e.getBoundingClientRect();
  return r.width === 0 || r.top < 0 || r.bottom > innerHeight || r.right > innerWidth ? sel + ' off screen' : null; };
return {wide: document.documentElement.scrollWidth - innerWidth,
        off: ['#train-cues', '.cue-new', '#ack-all', '#who', '#end-training button'].map(off).filter(x => x)};
"""


def viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport (not the window) exactly ``width`` x ``height``."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])


def shoot(dash_duo, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        dash_duo.driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))


def reach(hub, store, minute: float) -> None:
    """Skip the paused session to ``minute`` and wait until the hub has recorded readings up to it."""
    target = hub.session.started + minute * 60
    hub.clock.skip_to(target)
    WebDriverWait(None, 60, poll_frequency=0.05).until(
        lambda _: (r := store.latest(hub.session.id, "spo2")) is not None and r.t >= target - 2
    )


@pytest.mark.parametrize("width, height", [(1920, 1080), (1280, 800)])
def test_the_trainee_sees_the_patient_charts_and_is_debriefed(dash_duo, store, width, height):
    hub = start_training(store, "im_sedation_deepening", 60.0, "RN Ade")
    hub.clock.pause()
    live = {hub.session.id: hub}
    try:
        dash_duo.start_server(create_app(store, live))
        viewport(dash_duo.driver, width, height)
        dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
        dash_duo.wait_for_contains_text(".training-bar", "TRAINING · IM: sedation deepening", timeout=30)
        reach(hub, store, 10)
        dash_duo.wait_for_contains_text("#train-cues", "Sedation: responds readily to the name in a normal tone", timeout=15)
        for scale, level in (("moaas", 5), ("breathing", 0), ("dissociation", 0), ("nausea", 0), ("anxiety", 0)):
            hub.observe(Observation(hub.now(), scale, level, "RN Ade"))
        reach(hub, store, 41)
        dash_duo.wait_for_contains_text("#train-cues", DEEP, timeout=15)
        marked = "return Array.from(document.querySelectorAll('#train-cues .cue-new')).map(e => e.textContent)"
        WebDriverWait(dash_duo.driver, 15).until(  # read in one script: the cues are redrawn every tick
            lambda d: {DEEP, "Dissociation: detached or confused, answers when asked"} <= set(d.execute_script(marked))
        )
        assert store.observations(hub.session.id)[-1].t <= hub.session.started + 600  # the cue charted nothing
        hub.observe(Observation(hub.now(), "moaas", 2, "RN Ade"))
        dash_duo.wait_for_contains_text("#alarm-list", "MOAA/S", timeout=15)
        hub.clock.set_speed(1.0)  # play on in real time, as a trainee would watch it
        hub.clock.resume()
        placed = dash_duo.driver.execute_script(ON_SCREEN)
        assert placed == {"wide": 0, "off": []}, placed
        shoot(dash_duo, f"training-cues-{width}x{height}")

        dash_duo.find_element("#end-training button").click()
        WebDriverWait(dash_duo.driver, 10).until(expected_conditions.alert_is_present()).accept()
        dash_duo.wait_for_contains_text("h1", "Debrief: IM: sedation deepening", timeout=15)
        assert hub.finished.wait(10)
        charting = dash_duo.find_element("#debrief-charting").text
        assert DEEP in charting and "ON TIME" in charting and "NEVER" in charting
        missed = dash_duo.find_element("#debrief-missed").text
        assert "Breathing 0 (normal) from session 25:00: never charted" in missed
        assert "Sedation (MOAA/S) overdue reminder from session 30:00 ran 11 min 00 s until charted" in missed
        assert "6 of 13 patient states charted on time at the right level" in dash_duo.find_element(".debrief").text
        shoot(dash_duo, f"training-debrief-{width}x{height}")
        assert dash_duo.get_logs() == []
    finally:
        hub.stop()
