"""The live page in headless Chromium, driven by the demo's simulated session."""

import re
import time
from contextlib import contextmanager

import pytest
from selenium.webdriver.common.by import By

from layouts.app import create_app
from layouts.components import TRENDS, clock_text
from monitor.cli.demo import start_demo
from devices.reading import Condition, reading
from devices.virtual.scenarios import screening
from monitor.session.start import start_session
from monitor.session.model import Dose
from monitor.session.store import Store
from tests.helpers import HeldAnswer, Idle, ListSource, wait_for



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


@contextmanager
def running(path, items: list, patient: str, weight_kg: float = 80.0, predose_bp: bool = True, **answers):
    """A live IV session at real speed playing ``items`` (after a pre-dose BP of 118/76 unless
    ``predose_bp`` is False); screening complete (nothing found unless ``answers``)."""
    store = Store(path)
    cuff = [reading(0.0, v, val, "cuff") for v, val in (("sbp", 118), ("dbp", 76), ("map", 90))] if predose_bp else []
    hub = start_session(store, [ListSource(cuff + list(items))], patient=patient, route="iv", weight_kg=weight_kg,
                        screening=screening(age=45, **answers))
    try:
        yield store, hub
    finally:
        hub.stop()


QUIET = [reading(float(t), v, val, "ox") for t in range(600) for v, val in (("hr", 72), ("pr", 72), ("spo2", 97))]


@pytest.fixture
def quiet(tmp_path):
    """A live session at real speed whose only changes are the ones a test injects."""
    with running(tmp_path / "q.db", QUIET, "Q-1") as session:
        yield session


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
    dash_duo.wait_for_contains_text("#phase-clock", "T+0:0", timeout=5)
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


def test_a_dead_recorder_shows_no_data_while_the_page_still_ticks(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_contains_text("#value-hr", "72", timeout=10)
    hub._loop.call_soon_threadsafe(time.sleep, 10)  # the recorder's thread is stuck (its event loop blocked)
    dash_duo.wait_for_contains_text("#nodata", "the recorder has stopped", timeout=15)
    assert dash_duo.find_element("#nodata").is_displayed()
    assert "live-stale" in dash_duo.find_element("#live-root").get_attribute("class")
    served = dash_duo.driver.execute_script("return window.kapmonLastCursor && window.kapmonLastCursor.served")
    wait_for(lambda: dash_duo.driver.execute_script("return window.kapmonLastCursor.served") != served, 10,
             "the page to keep ticking")  # ticks succeed; only the recorder is gone


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
    items = [reading(float(t), "spo2", 97, "ox") for t in range(600)]
    with running(tmp_path / "b.db", items, "B-1", 70.0, aneurysm_or_avm=True) as session:
        yield session


def test_a_block_holds_dosing_until_a_named_physician_overrides(dash_duo, blocked):
    store, hub = blocked
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.find_element("#who").send_keys("RN Okafor")
    dash_duo.find_element("#dose-mg").send_keys("35")
    dash_duo.find_element("#dose-save").click()
    dash_duo.wait_for_contains_text("#dose-result", "DOSING BLOCKED: aneurysm or avm (protocol kap-iv)", timeout=5)
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


# --- alarm cards -------------------------------------------------------------------------------------------


@pytest.fixture
def busy(tmp_path):
    """A quiet live session whose cuff reports a low battery at once (a technical alarm after 10 s)."""
    with running(tmp_path / "busy.db", [Condition(1.0, "low_battery", "cuff"), *QUIET], "Q-2") as session:
        yield session


def cards(dash_duo) -> list[dict]:
    """The alarm cards as the nurse sees them: group, text, Acknowledge button label and state."""
    return dash_duo.driver.execute_script("""
        return Array.from(document.querySelectorAll('#alarm-list .alarm-card')).map(c => ({
            group: c.dataset.group, text: c.innerText, button: c.querySelector('button.ack').innerText,
            disabled: c.querySelector('button.ack').disabled}));""")


def acks(store, hub) -> list:
    return [a for _, a in store.alarm_events(hub.session.id) if a.event == "acknowledged"]


def test_one_reading_is_one_card_acknowledged_together_then_acknowledge_all(dash_duo, busy):
    store, hub = busy
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.find_element("#who").send_keys("RN Li")
    wait_for(lambda: any(c["group"].startswith("technical:low_battery") for c in cards(dash_duo)), 30, "the battery alarm")
    inject_bp(hub, 196, 104)  # SBP >= 180 (high), SBP > 160, DBP > 100 and MAP > 110 (low): four alarms, one reading
    nibp = wait_for(lambda: next((c for c in cards(dash_duo) if c["group"] == "physiological:nibp"), None), 15, "NIBP card")
    assert len(cards(dash_duo)) == 2  # one card for the reading, one for the cuff's battery
    assert nibp["text"].startswith("!!!\nHIGH · NIBP") or "HIGH · NIBP" in nibp["text"]
    assert "SBP 196" in nibp["text"] and "+3 more: 3 low" in nibp["text"]
    assert nibp["button"] == "Acknowledge 4"
    response = next(a.response for a in hub.active_alarms() if a.alarm_id == "sbp_critical")
    assert response and response in nibp["text"]  # what the protocol says to do, beside the alarm
    assert cards(dash_duo)[0]["group"] == "physiological:nibp"  # the high card first
    assert text(dash_duo, "#banner").startswith("!!!") and "SBP 196" in text(dash_duo, "#banner")

    # Open the fold, acknowledge the card: all three alarms, each recorded; the fold stays open.
    dash_duo.find_element("#alarm-list [data-group='physiological:nibp'] summary").click()
    dash_duo.find_element("#alarm-list [data-group='physiological:nibp'] button.ack").click()
    dash_duo.wait_for_contains_text("#ack-result", "Acknowledged 4 alarms by RN Li", timeout=5)
    assert sorted(a.alarm_id for a in acks(store, hub)) == ["dbp_high", "map_high", "sbp_critical", "sbp_high"]
    assert {a.who for a in acks(store, hub)} == {"RN Li"}
    wait_for(lambda: next(c for c in cards(dash_duo) if c["group"] == "physiological:nibp")["disabled"], 5, "re-render")
    assert dash_duo.driver.execute_script(
        "return document.querySelector(\"[data-group='physiological:nibp'] details\").open")
    # The banner now leads with the highest alarm not yet acknowledged: the battery.
    wait_for(lambda: "battery" in text(dash_duo, "#banner").lower(), 5, "the banner to move on")

    inject_bp(hub, 150, 115)  # DBP >= 110: a new high alarm joins the acknowledged NIBP card
    wait_for(lambda: any(c["group"] == "physiological:nibp" and not c["disabled"] and "DBP 115" in c["text"]
                         for c in cards(dash_duo)), 15, "the new DBP alarm")
    dash_duo.find_element("#ack-all").click()
    dash_duo.wait_for_contains_text("#ack-result", "Acknowledged 2 alarms by RN Li", timeout=5)
    assert len(acks(store, hub)) == 6 and {a.who for a in acks(store, hub)} == {"RN Li"}
    wait_for(lambda: all(c["disabled"] for c in cards(dash_duo)), 5, "every card acknowledged")
    assert "acknowledged" in text(dash_duo, "#banner")
    assert dash_duo.get_logs() == []


def test_an_acknowledgement_answered_after_the_cards_are_redrawn_still_says_so(dash_duo, busy):
    """The server holds the answer to an Acknowledge for 2 s; meanwhile the acknowledgement itself redraws the
    card. The nurse is still told what was acknowledged (a callback on the cards' buttons was fired again by
    the redraw, and the answer on its way was dropped: the alarms were acknowledged and the page said nothing)."""
    store, hub = busy
    app = create_app(store, {hub.session.id: hub})
    held = HeldAnswer(app, b"ack-result.children", 2.0)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.find_element("#who").send_keys("RN Li")
    inject_bp(hub, 196, 104)
    wait_for(lambda: any(c["group"] == "physiological:nibp" for c in cards(dash_duo)), 15, "the NIBP card")
    held.arm()
    dash_duo.find_element("#alarm-list [data-group='physiological:nibp'] button.ack").click()
    assert held.holding.wait(10), "no acknowledgement reached the server"
    wait_for(lambda: next(c for c in cards(dash_duo) if c["group"] == "physiological:nibp")["disabled"], 10,
             "the card redrawn as acknowledged while the answer is held")
    dash_duo.wait_for_contains_text("#ack-result", "Acknowledged 4 alarms by RN Li", timeout=10)
    assert len(acks(store, hub)) == 4


# --- one screen at 1920x1080 and at a 1280x800 bedside laptop -----------------------------------------------


def viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport (not the window) exactly ``width`` x ``height``."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])


SCREEN = """
const visible = sel => { const e = document.querySelector(sel); if (!e) return sel + ' missing';
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) return sel + ' off screen';
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return e.contains(hit) ? null : sel + ' covered'; };
const boxes = Array.from(document.querySelectorAll('#trend-bp .annotation-text, #trend-hr .annotation-text'))
  .map(t => t.getBoundingClientRect());
const overlaps = boxes.filter((a, i) => boxes.slice(i + 1).some(b =>
  a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)).length;
const clipped = Array.from(document.querySelectorAll('.tile-value')).filter(v => v.scrollWidth > v.clientWidth + 1).length;
const d = document.documentElement;
return {scroll_x: d.scrollWidth - d.clientWidth, scroll_y: d.scrollHeight - d.clientHeight,
        hidden: ['#ack-all', '#pause-audio', "[data-group='physiological:nibp'] button.ack", '#banner', '#who',
                 "[data-scale='moaas']", "[data-scale='anxiety']"]
                .map(visible).filter(x => x), overlaps: overlaps, labels: boxes.length, clipped: clipped};
"""


@pytest.mark.parametrize("width, height", [(1920, 1080), (1280, 800)])
def test_the_page_fits_the_screen_with_everything_open(dash_duo, quiet, width, height):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    viewport(dash_duo.driver, width, height)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    inject_bp(hub, 196, 118)
    wait_for(lambda: cards(dash_duo), 15, "the NIBP card")
    wait_for(lambda: "196/118" in text(dash_duo, "#value-nibp"), 15, "the NIBP tile")  # redrawn each tick: no handle
    wait_for(lambda: dash_duo.driver.execute_script(
        "return document.querySelectorAll('#trend-bp .annotation-text').length >= 6"), 15, "the trends drawn")
    dash_duo.driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    screen = dash_duo.driver.execute_script(SCREEN)
    assert screen["scroll_x"] <= 0, f"horizontal scroll of {screen['scroll_x']} px"
    assert screen["scroll_y"] <= 0, f"the page scrolls {screen['scroll_y']} px (panels scroll inside it)"
    assert screen["hidden"] == []
    assert screen["labels"] >= 8 and screen["overlaps"] == 0
    assert screen["clipped"] == 0  # 196/118 fits its tile
    # The dose form is reachable inside the panel, whatever is open above it.
    dash_duo.driver.execute_script("document.getElementById('dose-save').scrollIntoView({block: 'nearest'})")
    assert dash_duo.driver.execute_script(SCREEN.replace("'#ack-all',", "'#dose-save', '#ack-all',"))["hidden"] == []
    assert dash_duo.get_logs() == []  # no script error in the browser (a failing clientside callback, say)


# --- an ended session ----------------------------------------------------------------------------------------


@pytest.fixture
def ended(tmp_path):
    """A three-hour simulated IV session recorded at full speed and ended (over 20,000 trend rows)."""
    from devices.virtual.simulator import SimSource
    from monitor.session.start import build_plan, record_at_full_speed
    from monitor.session.model import Session

    store = Store(tmp_path / "e.db")
    source = SimSource("typical_iv", seed=2, duration=3 * 3600)
    session = Session("ended-1", "SIM-TIV-02", 1_800_000_000.0, "iv", 70.0, "kap-iv", "demo", source.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, source, build_plan("kap-iv", "iv", {}))
    return store


def test_an_ended_session_looks_ended(dash_duo, ended):
    store = ended
    end = store.events("ended-1", kind="end")[0].t
    assert store.count_readings("ended-1") > 20000
    dash_duo.start_server(create_app(store, {}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/ended-1")
    hhmm = time.strftime("%H:%M", time.localtime(end))
    dash_duo.wait_for_text_to_equal("#phase-clock", f"ENDED {hhmm}", timeout=15)
    assert "Session ended" in text(dash_duo, "#banner") and "review" in text(dash_duo, "#banner")
    wait_for(lambda: all("tile-ended" in dash_duo.find_element(f"#tile-{k}").get_attribute("class")
                         for k in ("nibp", "hr", "spo2")), 10, "grey tiles")
    tiles = text(dash_duo, ".tiles")
    assert "ago" not in tiles and "STALE" not in tiles and re.search(r"at \d\d:\d\d:\d\d", tiles)
    assert not dash_duo.find_element("#dose-save").is_displayed()  # no actions on an ended session
    # The trends catch up on the last two hours (the newest rows are past the first ticks' 20,000), then
    # the ticks stop, and the page does not call that NO DATA.
    wait_for(lambda: dash_duo.driver.execute_script(
        "const gd = document.querySelector('#trend-hr .js-plotly-plot'); return gd && gd.data[0].x.length > 3600"),
        30, "the last two hours of HR")
    stopped = time.time()
    wait_for(lambda: time.time() - stopped > 5 and not dash_duo.find_element("#nodata").is_displayed(), 10,
             "five quiet seconds")
    assert not dash_duo.find_element("#nodata").is_displayed()


def test_a_page_opened_on_a_session_under_way_draws_every_reading_of_its_trend_window(dash_duo, tmp_path):
    """A nurse opens the live page of a session an hour under way (its first hour stored by another recorder):
    the HR and SpO2 trends show every reading of that hour (the page's first tick reads them all) as well as
    what comes after the page opened."""
    store = Store(tmp_path / "k.db")
    live = [reading(float(t), v, 72, "ox") for t in range(600) for v in ("hr", "spo2")]
    hub = start_session(store, [ListSource(live), Idle()], patient="U-1", route="iv", weight_kg=70.0,
                        screening=screening(age=45))
    try:
        start = hub.session.started
        store.write(hub.session.id, [reading(start - 3600 + t, v, 60 + t % 11, "ox") for t in range(0, 3600, 2)
                                     for v in ("hr", "spo2")])
        wait_for(lambda: hub.view.snapshot().reading_id > 3600, 10, "a live reading stored after the first hour")
        dash_duo.start_server(create_app(store, {hub.session.id: hub}))
        dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
        points = ("return ['hr', 'spo2'].map(k => { const gd = document.querySelector('#trend-' + k + ' .js-plotly-plot');"
                  " return gd && gd.data ? gd.data[0].x.filter(x => x !== null && x < '" + clock_text(start) + "').length : 0; })")
        wait_for(lambda: dash_duo.driver.execute_script(points) == [1800, 1800], 15, "the first hour's 1800 HR and SpO2 points")
        first = dash_duo.driver.execute_script(  # points come in the order they were stored: the oldest by time
            "return document.querySelector('#trend-hr .js-plotly-plot').data[0].x.filter(x => x !== null).sort()[0]")
        assert first == clock_text(start - 3600)  # the oldest point at its own time, as the page's clock reads it
        wait_for(lambda: dash_duo.driver.execute_script(
            "return document.querySelector('#trend-hr .js-plotly-plot').data[0].x.length") > 1805, 15, "live points after it")
    finally:
        hub.stop()


# --- several processes on one store -------------------------------------------------------------------------


def test_the_sessions_page_sees_a_session_live_in_another_process(dash_duo, demo, tmp_path):
    import threading

    from monitor.session.model import Session

    store, hub = demo
    other = Store(store.path)  # another recorder's connection to the same file
    other.create_session(Session("other-live", "P-OTHER", time.time(), "iv"))
    other.create_session(Session("other-ended", "P-ENDED", time.time() - 60, "iv"))
    other.write("other-ended", events=[(time.time() - 30, "end", {}, None)])
    other.create_session(Session("other-crashed", "P-CRASH", time.time() - 90, "iv"))
    other.beat("other-crashed", time.time() - 60, 1)
    other.beat("other-live", time.time(), 1)  # a running recorder has beaten before anyone opens the page
    beating = threading.Event()

    def recorder():  # beats as a running hub does, from its own thread and connection
        while not beating.wait(0.5):
            other.beat("other-live", time.time(), 1)

    thread = threading.Thread(target=recorder, daemon=True)
    thread.start()
    try:
        dash_duo.start_server(create_app(store, {hub.session.id: hub}))
        dash_duo.wait_for_contains_text("#live-sessions", "other-live", timeout=10)
        live_rows = dash_duo.find_element("#live-sessions").text
        assert "P-OTHER" in live_rows and "LIVE · other process" in live_rows and hub.session.id in live_rows
        clinical = dash_duo.find_element("#clinical-sessions").text
        assert "other-ended" in clinical and "other-crashed" in clinical and "other-live" not in clinical
        assert re.search(r"other-ended.*ended", clinical) and re.search(r"other-crashed.*unfinished", clinical)
    finally:
        beating.set()
        thread.join()


# --- forms, notes, the time axis, waiting -------------------------------------------------------------------


def answer(dash_duo, selector: str) -> tuple[str, str]:
    """The text and colour class of a form's answer."""
    return dash_duo.driver.execute_script(
        "const s = document.querySelector(arguments[0] + ' span'); return s ? [s.innerText, s.className] : ['', ''];",
        selector)


def test_forms_are_labelled_clear_after_saving_and_answer_in_colour(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_element("#dose-minutes", timeout=10)
    labels = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.actions .field')).map(f => [f.innerText.split('\\n')[0],"
        " f.querySelector('input') ? f.querySelector('input').id : '', f.offsetParent !== null]);")
    by_input = {i: (label, shown) for label, i, shown in labels if i}
    assert by_input["dose-minutes"] == ("Infusion (min)", True) and by_input["dose-mg"] == ("Dose (mg)", True)
    assert by_input["bp-sbp"][0] == "Systolic" and by_input["bp-dbp"][0] == "Diastolic"
    dash_duo.find_element("#bp-sbp").send_keys("120")
    dash_duo.find_element("#bp-dbp").send_keys("80")
    dash_duo.find_element("#bp-save").click()  # nobody named: refused, in red, nothing cleared
    wait_for(lambda: answer(dash_duo, "#bp-result")[1] == "said-error", 5, "the refusal")
    assert "initials" in answer(dash_duo, "#bp-result")[0]
    assert dash_duo.find_element("#bp-sbp").get_attribute("value") == "120"
    dash_duo.find_element("#who").send_keys("RN Li")
    dash_duo.find_element("#bp-save").click()
    wait_for(lambda: answer(dash_duo, "#bp-result")[1] == "said-ok", 5, "the confirmation")
    assert "recorded by RN Li" in answer(dash_duo, "#bp-result")[0]
    wait_for(lambda: dash_duo.find_element("#bp-sbp").get_attribute("value") == ""
             and dash_duo.find_element("#bp-dbp").get_attribute("value") == "", 5, "the BP boxes cleared")
    dash_duo.find_element("#dose-mg").send_keys("40")
    dash_duo.find_element("#dose-save").click()
    wait_for(lambda: answer(dash_duo, "#dose-result")[1] == "said-ok", 5, "the dose confirmation")
    wait_for(lambda: dash_duo.find_element("#dose-mg").get_attribute("value") == "", 5, "the mg box cleared")
    assert len(store.doses(hub.session.id)) == 1
    green, red = dash_duo.driver.execute_script(
        "const c = cls => { const e = document.createElement('span'); e.className = cls; document.body.appendChild(e);"
        " const v = getComputedStyle(e).color; e.remove(); return v; }; return [c('said-ok'), c('said-error')];")
    assert green != red and green.startswith("rgb(127, 223") and red.startswith("rgb(255, 138")


def marker_texts(dash_duo) -> list:
    return dash_duo.driver.execute_script(
        "const gd = document.querySelector('#trend-bp .js-plotly-plot');"
        " return gd && gd.data ? gd.data[gd.data.length - 1].hovertext.filter(t => t) : [];")


def test_a_quick_note_can_be_undone_for_a_few_seconds(dash_duo, quiet):
    from layouts.controls import UNDO_S

    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.find_element("#who").send_keys("RN Li")
    dash_duo.find_element("button[id*='Vomiting']").click()
    dash_duo.wait_for_contains_text("#note-result", "added by RN Li", timeout=5)
    dash_duo.find_element("#note-result .undo").click()
    dash_duo.wait_for_contains_text("#note-result", "undone by RN Li", timeout=5)
    (note,) = store.events(hub.session.id, kind="note")
    (correction,) = store.events(hub.session.id, kind="correction")
    assert correction.data["corrects"] == note.id and correction.who == "RN Li"
    dash_duo.find_element("button[id*='Anxiety']").click()
    dash_duo.wait_for_contains_text("#note-result", "Anxiety", timeout=5)
    undo = dash_duo.find_element("#note-result .undo")
    assert undo.is_displayed()
    # The undo goes away after UNDO_S seconds; the kept note reaches the trend, the undone one never does.
    wait_for(lambda: not undo.is_displayed(), UNDO_S + 10, "the undo button to expire")
    wait_for(lambda: "Anxiety" in marker_texts(dash_duo), 10, "the kept note on the trend")
    assert "Vomiting" not in marker_texts(dash_duo)


def test_the_time_axis_is_t_plus_after_a_dose_and_never_shows_milliseconds(dash_duo, quiet):
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")

    def ticks() -> list[str]:
        return dash_duo.driver.execute_script(
            "return Array.from(document.querySelectorAll('#trend-hr .xtick text')).map(t => t.textContent);")

    before = wait_for(ticks, 15, "the time axis")
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in before), before  # clock time, no milliseconds
    hub.add_dose(Dose(t=hub.now(), route="iv", drug="ketamine", mg=40.0), "RN Li")
    after = wait_for(lambda: [t for t in ticks() if t.startswith("T")], 10, "T+ ticks")
    assert all(re.fullmatch(r"T[+-]\d+( h \d\d)?\d\d:\d\d", t) for t in after), after  # T+5 over its clock time
    assert "minutes since first dose" in text(dash_duo, "#time-ref")


def test_the_trend_window_slides_in_steps_not_on_every_tick(dash_duo, quiet):
    """Redrawing every trend's axes on every tick took most of a page's time with several pages open: over
    five ticks each graph's window is drawn at most once more, and it still ends ahead of now."""
    store, hub = quiet
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    wait_for(lambda: dash_duo.driver.execute_script(
        "const gs = Array.from(document.querySelectorAll('.trend .js-plotly-plot'));"
        "return gs.length > 0 && gs.length === document.querySelectorAll('.trend').length && gs.every(g => g.kapmonWindow)"), 20,
        "the trends drawn")
    dash_duo.driver.execute_script("""
        window.relayouts = 0; const relayout = window.Plotly.relayout;
        window.Plotly.relayout = function () { window.relayouts += 1; return relayout.apply(this, arguments); };""")
    served = lambda: dash_duo.driver.execute_script("return window.kapmonLastCursor.served")
    for _ in range(5):
        last = served()
        wait_for(lambda: served() != last, 15, "the next tick")
    assert dash_duo.driver.execute_script("return window.relayouts") <= len(TRENDS)  # one slide at most
    ahead = dash_duo.driver.execute_script(
        "const g = document.querySelector('#trend-hr .js-plotly-plot'); return g.kapmonWindow.end - window.kapmonLastCursor.now_ms")
    assert 0 < ahead <= 30_000


@pytest.fixture
def silent(tmp_path):
    """A live session whose first reading comes in ten minutes."""
    with running(tmp_path / "s.db", [reading(600.0, "hr", 70, "ox")], "S-1", predose_bp=False) as session:
        yield session


def test_before_any_reading_the_page_says_it_is_waiting(dash_duo, silent):
    store, hub = silent
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    dash_duo.wait_for_contains_text("#patient", "S-1", timeout=10)  # ticks arrive
    dash_duo.wait_for_contains_text("#tile-hr", "no reading", timeout=5)
    assert dash_duo.find_element(".trends-waiting-note").is_displayed()
    assert not dash_duo.find_element("#trend-hr").is_displayed()  # no empty axis from the year 2000
    assert "no reading" in text(dash_duo, "#tile-nibp") and "---" in text(dash_duo, "#value-nibp")
