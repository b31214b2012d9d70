"""Holds, screening, doses outside the protocol, entered in error and discharge on the live page, in
headless Chromium (every wait is for a condition)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from selenium.webdriver.common.by import By

from devices.reading import reading
from devices.virtual.scenarios import screening
from layouts.app import create_app
from monitor.session.start import start_session
from monitor.session.model import Dose
from monitor.session.store import Store
from tests.helpers import ListSource, wait_for


QUIET = [reading(float(t), v, val, "ox") for t in range(1, 900) for v, val in (("hr", 72), ("pr", 72), ("spo2", 97))]
TIMEOUT = 20  # seconds: generous for a loaded 2-core machine


@contextmanager
def session(tmp_path, bp=(118, 76), **answers):
    """A live IV session (70 kg) at real speed: a pre-dose cuff reading, then quiet vitals."""
    store = Store(tmp_path / "page.db")
    sbp, dbp = bp
    cuff = [reading(0.0, v, x, "cuff") for v, x in (("sbp", sbp), ("dbp", dbp), ("map", round((sbp + 2 * dbp) / 3)))]
    hub = start_session(store, [ListSource(cuff + QUIET)], patient="P-1", route="iv", weight_kg=70.0,
                        screening=screening(45, **answers))
    try:
        yield store, hub
    finally:
        hub.stop()


def open_page(dash_duo, store, hub, who: str | None = "RN Li") -> None:
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_element("#hold", timeout=TIMEOUT)
    if who:
        dash_duo.find_element("#who").send_keys(who)


def shown(dash_duo, selector: str) -> str:
    """The visible text of an element ('' when it is hidden or absent)."""
    return dash_duo.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e && e.offsetParent !== null ? e.innerText : '';",
        selector)


def test_a_psychosis_block_shows_in_the_hold_banner_from_page_load_beside_the_alarm_banner(dash_duo, tmp_path):
    with session(tmp_path, psychosis=True) as (store, hub):
        open_page(dash_duo, store, hub, who=None)
        wait_for(lambda: "DOSING BLOCKED: psychosis (protocol kap-iv)" in shown(dash_duo, "#hold"), TIMEOUT, "the block")
        assert "physician override" in shown(dash_duo, "#hold")
        assert "hold-blocked" in dash_duo.find_element("#hold").get_attribute("class")
        assert shown(dash_duo, "#banner")  # the alarm banner stays
        assert dash_duo.find_element("#dose-result").text == ""  # nobody pressed Record dose


def test_a_predose_bp_of_186_104_holds_dosing_from_page_load_and_the_alarm_stays_in_its_banner(dash_duo, tmp_path):
    with session(tmp_path, bp=(186, 104)) as (store, hub):
        open_page(dash_duo, store, hub, who=None)
        wait_for(lambda: "Resting BP at or above 180/100 (latest BP 186/104)" in shown(dash_duo, "#hold"), TIMEOUT,
                 "the BP hold")
        assert "DOSING BLOCKED" in shown(dash_duo, "#hold")
        assert "recheck after 5 min rest" in shown(dash_duo, "#hold")
        wait_for(lambda: "186" in shown(dash_duo, "#banner") and "HIGH" in shown(dash_duo, "#banner"), TIMEOUT,
                 "the SBP alarm in the alarm banner")
        assert "DOSING" not in shown(dash_duo, "#banner")


def test_a_dose_outside_the_bounds_is_refused_then_given_on_a_physicians_order(dash_duo, tmp_path):
    with session(tmp_path) as (store, hub):
        open_page(dash_duo, store, hub)
        wait_for(lambda: not shown(dash_duo, "#hold"), TIMEOUT, "dosing to be clear")
        dash_duo.find_element("#dose-mg").send_keys("84")  # 1.2 mg/kg
        dash_duo.find_element("#dose-save").click()
        dash_duo.wait_for_contains_text("#dose-result", "is above the protocol maximum 1 mg/kg", timeout=TIMEOUT)
        wait_for(lambda: "only on a physician's order" in shown(dash_duo, "#dose-order"), TIMEOUT, "the order fields")
        assert store.events(hub.session.id, kind="dose") == []
        dash_duo.find_element("#dose-physician").send_keys("Dr Rahman")
        dash_duo.find_element("#dose-order-reason").send_keys("1.2 mg/kg tolerated in May")
        dash_duo.find_element("#dose-save").click()
        dash_duo.wait_for_contains_text("#dose-result", "on the order of Dr Rahman", timeout=TIMEOUT)
        assert [d.mg for d in store.doses(hub.session.id)] == [84.0]
        (order,) = [a for _, a in store.alarm_events(hub.session.id) if a.event == "overridden"]
        assert order.who == "Dr Rahman" and "1.2 mg/kg tolerated in May" in order.message
        wait_for(lambda: not shown(dash_duo, "#dose-order"), TIMEOUT, "the order fields to fold away")
        # A repeat dose asks for confirmation, naming the earlier one.
        dash_duo.find_element("#dose-mg").send_keys("10")
        dash_duo.find_element("#dose-save").click()
        dash_duo.wait_for_contains_text("#dose-result", "already recorded this session (ketamine 84 mg", timeout=TIMEOUT)
        assert len(store.events(hub.session.id, kind="dose")) == 1


def answer(dash_duo, key: str, label: str) -> None:
    dash_duo.driver.find_element(By.XPATH, f"//div[@data-key='{key}']//label[normalize-space()='{label}']").click()


def test_a_screening_answer_on_the_page_turns_a_gate_into_clear_then_a_block(dash_duo, tmp_path):
    with session(tmp_path, pregnancy=None) as (store, hub):
        open_page(dash_duo, store, hub)
        wait_for(lambda: "pregnancy not answered" in shown(dash_duo, "#hold"), TIMEOUT, "the unanswered question's gate")
        assert dash_duo.find_element("#screening").get_attribute("open") is not None  # opened by itself
        answer(dash_duo, "pregnancy", "No")
        dash_duo.find_element("#screen-save").click()
        dash_duo.wait_for_contains_text("#screen-result", "pregnancy: not answered \u2192 no", timeout=TIMEOUT)
        wait_for(lambda: not shown(dash_duo, "#hold"), TIMEOUT, "dosing to be clear")
        answer(dash_duo, "psychosis", "Yes")
        dash_duo.find_element("#screen-save").click()
        dash_duo.wait_for_contains_text("#screen-result", "psychosis: no \u2192 yes", timeout=TIMEOUT)
        wait_for(lambda: "DOSING BLOCKED: psychosis" in shown(dash_duo, "#hold"), TIMEOUT, "the block")
        assert [(e.who, e.data["answers"]["psychosis"]) for e in store.events(hub.session.id, kind="screening")] == [
            ("RN Li", False), ("RN Li", True)]


def test_a_hand_taken_bp_entered_in_error_takes_its_alarm_away(dash_duo, tmp_path):
    with session(tmp_path) as (store, hub):
        open_page(dash_duo, store, hub)
        dash_duo.find_element("#bp-sbp").send_keys("250")
        dash_duo.find_element("#bp-dbp").send_keys("120")
        dash_duo.find_element("#bp-save").click()
        dash_duo.wait_for_contains_text("#alarm-list", "SBP 250", timeout=TIMEOUT)
        row = wait_for(lambda: dash_duo.driver.find_elements(
            By.XPATH, "//div[@class='entry'][contains(., 'BP 250/120')]//button"), TIMEOUT, "the BP in the recent entries")
        row[0].click()
        dash_duo.wait_for_contains_text("#error-prompt", "BP 250/120", timeout=TIMEOUT)
        dash_duo.find_element("#error-save").click()  # no reason: refused
        dash_duo.wait_for_contains_text("#error-result", "write why the entry is wrong", timeout=TIMEOUT)
        dash_duo.find_element("#error-reason").send_keys("typed 250/120 for 150/80")
        dash_duo.find_element("#error-save").click()
        dash_duo.wait_for_contains_text("#error-result", "marked entered in error by RN Li", timeout=TIMEOUT)
        wait_for(lambda: "250" not in dash_duo.find_element("#alarm-list").text, TIMEOUT, "the alarm to go")
        wait_for(lambda: "BP 250/120" not in dash_duo.find_element("#entries").text, TIMEOUT, "the entry to leave the list")
        assert not any(a.alarm_id == "sbp_critical" for a in hub.active_alarms())


def test_discharge_before_the_minimum_observation_is_refused_saying_how_long_is_left(dash_duo, tmp_path):
    with session(tmp_path) as (store, hub):
        hub.add_dose(Dose(hub.now(), "iv", "ketamine", 35.0), "RN Li")
        open_page(dash_duo, store, hub)
        dash_duo.find_element("#discharge-save").click()
        dash_duo.wait_for_contains_text("#discharge-result", "minimum observation not over: 60 more min", timeout=TIMEOUT)
        assert store.events(hub.session.id, kind="discharge") == []
        wait_for(lambda: shown(dash_duo, "#discharge-order"), TIMEOUT, "the physician's order fields")
        dash_duo.find_element("#discharge-physician").send_keys("Dr Rahman")
        dash_duo.find_element("#discharge-order-reason").send_keys("escort waiting, stable, seen by me")
        dash_duo.find_element("#discharge-save").click()
        dash_duo.wait_for_contains_text("#discharge-result", "discharged by RN Li", timeout=TIMEOUT)
        assert "on the order of Dr Rahman" in dash_duo.find_element("#discharge-result").text
        wait_for(lambda: "Discharged at" in dash_duo.find_element("#status").text, TIMEOUT, "the status panel")


FITS = """
const off = sel => { const e = document.querySelector(sel); if (!e) return sel + ' missing';
  const r = e.getBoundingClientRect();
  const box = e.closest('.alarm-list') || document.documentElement, b = box.getBoundingClientRect();
  const bottom = Math.min(innerHeight, box === document.documentElement ? innerHeight : b.bottom);
  return r.width === 0 || r.top < 0 || r.bottom > bottom || r.right > innerWidth ? sel + ' off screen' : null; };
const page = document.querySelector('.live-page');
return {overflow: page.scrollHeight - page.clientHeight, wide: document.documentElement.scrollWidth - innerWidth,
        off: ['#banner', '#hold', '#ack-all', '#pause-audio', '#alarm-list .alarm-message', '.end-session', '#who']
             .map(off).filter(x => x)};
"""


@pytest.mark.parametrize("width, height", [(1920, 1080), (1280, 800), (1280, 660)])  # 660: 1280x800 less a browser's bars
def test_with_a_hold_and_alarms_the_page_still_fits_one_screen(dash_duo, tmp_path, width, height):
    with session(tmp_path, bp=(186, 104)) as (store, hub):
        dash_duo.start_server(create_app(store, {hub.session.id: hub}))
        dash_duo.driver.set_window_size(width, height)
        inner = dash_duo.driver.execute_script("return [window.innerWidth, window.innerHeight]")
        dash_duo.driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])
        dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
        wait_for(lambda: "186/104" in shown(dash_duo, "#hold") and "SBP 186" in shown(dash_duo, "#alarm-list"), TIMEOUT,
                 "the hold and the alarm card")
        dash_duo.driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
        fits = dash_duo.driver.execute_script(FITS)
        assert fits == {"overflow": 0, "wide": 0, "off": []}, fits
