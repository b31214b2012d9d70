"""The live page in headless Chromium, driven by the demo's simulated session."""

import re
import time

import pytest
from selenium.webdriver.common.by import By

from layouts.app import create_app
from monitor.commands.demo import start_demo
from devices.reading import reading
from devices.scenarios import screening
from monitor.running import start_session
from monitor.store import Store
from tests.helpers import ListSource

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path):
    store = Store(tmp_path / "k.db")
    hub = start_demo(store, "typical_iv", speed=10.0)  # the README's demo command
    yield store, hub
    hub.stop()


def text(dash_duo, selector: str) -> str:
    """Text of an element that the page re-renders every tick (so no stale element handles)."""
    return dash_duo.driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector)


def number(text: str) -> int | None:
    m = re.search(r"\d+", text)
    return int(m.group()) if m else None


def test_numbers_move_and_an_alarm_appears(dash_duo, demo):
    store, hub = demo
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_contains_text("#patient", hub.session.patient, timeout=10)

    seen_hr = set()
    deadline = time.time() + 25
    while time.time() < deadline and len(seen_hr) < 3:
        seen_hr.add(text(dash_duo, "#value-hr"))
        time.sleep(0.5)
    assert len({number(v) for v in seen_hr if number(v)}) >= 2, f"heart rate did not move: {seen_hr}"
    assert 40 <= number(text(dash_duo, "#value-spo2")) <= 100

    # The scenario's probe slips off at 5 min (30 s at 10x): a technical alarm is announced.
    assert dash_duo.find_element("#banner").get_attribute("aria-live") == "assertive"
    seen = ""
    deadline = time.time() + 45
    while time.time() < deadline and "sensor off" not in seen.lower():
        seen = text(dash_duo, "#banner")
        time.sleep(0.25)
    assert "sensor off" in seen.lower(), seen
    assert any(a.event == "raised" for _, a in store.alarm_events(hub.session.id))

    # Trends receive data.
    points = dash_duo.driver.execute_script(
        "return document.getElementById('trend-hr').querySelector('.js-plotly-plot').data[0].x.length")
    assert points > 5


@pytest.fixture
def quiet(tmp_path):
    """A live session at real speed whose only changes are the ones a test injects."""
    store = Store(tmp_path / "q.db")
    items = [reading(0.0, v, val, "cuff") for v, val in (("sbp", 118), ("dbp", 76), ("map", 90))]  # the pre-dose BP
    items += [reading(float(t), v, val, "ox") for t in range(600) for v, val in (("hr", 72), ("pr", 72), ("spo2", 97))]
    hub = start_session(store, [ListSource(items)], patient="Q-1", route="iv", weight_kg=80.0,
                        screening=screening(age=45))  # every question answered, nothing found
    yield store, hub
    hub.stop()


def inject_bp(hub, sbp, dbp):
    now = hub.now()
    hub.add_readings([reading(now, "sbp", sbp, "manual"), reading(now, "dbp", dbp, "manual"),
                      reading(now, "map", round((sbp + 2 * dbp) / 3), "manual")])


def test_an_injected_breach_turns_the_tile_red_and_lists_the_alarm(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_contains_text("#value-hr", "72", timeout=10)
    inject_bp(hub, 196, 104)
    dash_duo.wait_for_contains_text("#alarm-list", "196", timeout=15)
    dash_duo.wait_for_contains_text("#value-nibp", "196/104", timeout=5)
    assert "tile-alarm-high" in dash_duo.find_element("#tile-nibp").get_attribute("class")
    assert "HIGH" in text(dash_duo, "#banner") and "196" in text(dash_duo, "#banner")
    assert dash_duo.find_element("#banner").get_attribute("role") == "alert"


def test_audio_state_is_visible_and_unlocked_by_start_monitoring(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_contains_text("#audio-state", "AUDIO OFF", timeout=10)
    dash_duo.find_element("#start-audio").click()
    dash_duo.wait_for_text_to_equal("#audio-state", "AUDIO ON", timeout=5)
    inject_bp(hub, 196, 104)
    dash_duo.wait_for_contains_text("#alarm-list", "196", timeout=15)
    deadline = time.time() + 5
    while dash_duo.driver.execute_script("return window.kapmonTones.sounding()") != "high":
        assert time.time() < deadline, "the high-priority tone did not start"
        time.sleep(0.2)
    dash_duo.find_element("#who").send_keys("RN Li")
    dash_duo.find_element("#pause-audio").click()
    dash_duo.wait_for_contains_text("#audio-state", "AUDIO PAUSED", timeout=5)
    assert [a.who for _, a in store.alarm_events(hub.session.id) if a.event == "audio_paused"] == ["RN Li"]


def test_acknowledge_from_the_page_is_audited(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    inject_bp(hub, 196, 104)
    dash_duo.wait_for_contains_text("#alarm-list", "196", timeout=15)
    dash_duo.find_elements("#alarm-list button.ack")[0].click()
    dash_duo.wait_for_contains_text("#ack-result", "initials", timeout=5)  # nobody named: refused
    assert not [a for _, a in store.alarm_events(hub.session.id) if a.event == "acknowledged"]
    who = dash_duo.find_element("#who")
    who.clear()
    who.send_keys("RN Patel\n")
    dash_duo.find_elements("#alarm-list button.ack")[0].click()
    dash_duo.wait_for_contains_text("#ack-result", "RN Patel", timeout=5)
    acks = [a for _, a in store.alarm_events(hub.session.id) if a.event == "acknowledged"]
    assert acks and acks[0].who == "RN Patel"


def test_sessions_page_lists_the_live_session(dash_duo, demo):
    store, hub = demo
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_contains_text(".session-table", hub.session.id, timeout=10)
    assert "LIVE" in dash_duo.find_element(".session-table").text
    dash_duo.driver.find_element(By.LINK_TEXT, hub.session.id).click()
    dash_duo.wait_for_contains_text("#patient", hub.session.patient, timeout=10)


def test_dose_entry_computes_mg_per_kg_and_draws_a_marker(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.find_element("#who").send_keys("RN Okafor")
    dash_duo.find_element("#dose-mg").send_keys("40")
    dash_duo.wait_for_contains_text("#dose-mgkg", "0.50 mg/kg", timeout=5)  # 40 mg / 80 kg
    dash_duo.find_element("#dose-save").click()
    dash_duo.wait_for_contains_text("#dose-result", "recorded by RN Okafor", timeout=5)
    doses = store.doses(hub.session.id)
    assert len(doses) == 1 and doses[0].mg == 40.0 and doses[0].end == pytest.approx(doses[0].t + 40 * 60)
    assert store.events(hub.session.id, kind="dose")[0].who == "RN Okafor"
    dash_duo.wait_for_contains_text("#phase-clock", "since first dose", timeout=5)
    marker = dash_duo.driver.execute_script(
        "const gd = document.querySelector('#trend-bp .js-plotly-plot'); return gd.data[gd.data.length - 1].text;")
    assert any("ketamine 40 mg" in (t or "") for t in marker)


def test_the_page_says_no_data_when_the_server_stops(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_contains_text("#value-hr", "72", timeout=10)
    assert not dash_duo.find_element("#nodata").is_displayed()
    dash_duo.server.stop()
    dash_duo.wait_for_contains_text("#nodata", "NO DATA", timeout=10)
    assert dash_duo.find_element("#nodata").is_displayed()
    assert "live-stale" in dash_duo.find_element("#live-root").get_attribute("class")
    first = int(re.search(r"(\d+) s", text(dash_duo, "#nodata")).group(1))
    time.sleep(2.2)
    assert int(re.search(r"(\d+) s", text(dash_duo, "#nodata")).group(1)) >= first + 2


def test_manual_nibp_is_validated_and_recorded(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.find_element("#who").send_keys("RN Li")
    dash_duo.find_element("#bp-sbp").send_keys("80")
    dash_duo.find_element("#bp-dbp").send_keys("95")
    dash_duo.find_element("#bp-save").click()
    dash_duo.wait_for_contains_text("#bp-result", "must be below systolic", timeout=5)
    assert [r.value for r in store.readings(hub.session.id, vitals=["sbp"])] == [118]  # only the pre-dose cuff
    dash_duo.find_element("#bp-dbp").clear()
    dash_duo.find_element("#bp-dbp").send_keys("52")
    dash_duo.find_element("#bp-save").click()
    dash_duo.wait_for_contains_text("#bp-result", "recorded by RN Li", timeout=5)
    dash_duo.wait_for_contains_text("#value-nibp", "80/52", timeout=5)
    assert store.events(hub.session.id, kind="manual_nibp")[0].who == "RN Li"


@pytest.fixture
def blocked(tmp_path):
    """A live session whose screening blocks dosing (aneurysm)."""
    store = Store(tmp_path / "b.db")
    items = [reading(0.0, v, val, "cuff") for v, val in (("sbp", 118), ("dbp", 76), ("map", 90))]
    items += [reading(float(t), "spo2", 97, "ox") for t in range(600)]
    hub = start_session(store, [ListSource(items)], patient="B-1", route="iv", weight_kg=70.0,
                        screening=screening(age=45, aneurysm_or_avm=True))
    yield store, hub
    hub.stop()


def test_a_block_holds_dosing_until_a_named_physician_overrides(dash_duo, blocked):
    store, hub = blocked
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.find_element("#who").send_keys("RN Okafor")
    dash_duo.find_element("#dose-mg").send_keys("35")
    dash_duo.find_element("#dose-save").click()
    dash_duo.wait_for_contains_text("#dose-result", "dosing is on hold", timeout=5)
    assert store.doses(hub.session.id) == []
    dash_duo.find_element(".override summary").click()
    dash_duo.select_dcc_dropdown("#override-finding", index=0)
    dash_duo.find_element("#override-save").click()
    dash_duo.wait_for_contains_text("#override-result", "physician", timeout=5)  # name and reason required
    dash_duo.find_element("#override-physician").send_keys("Dr Rahman")
    dash_duo.find_element("#override-reason").send_keys("aneurysm repaired 2019, cleared by vascular surgery")
    dash_duo.find_element("#override-save").click()
    dash_duo.wait_for_contains_text("#override-result", "overridden by Dr Rahman", timeout=5)
    overrides = [a for _, a in store.alarm_events(hub.session.id) if a.event == "overridden"]
    assert overrides and overrides[0].who == "Dr Rahman"
    dash_duo.find_element("#dose-save").click()
    dash_duo.wait_for_contains_text("#dose-result", "recorded by RN Okafor", timeout=5)
    assert len(store.doses(hub.session.id)) == 1
