"""The review page in headless Chromium: open a recorded session, see alarm spans and the summary, zoom."""

import time

import pytest
from selenium.webdriver.common.by import By

from devices.simulator import SimSource
from layouts.app import create_app
from monitor.running import build_plan, record_at_full_speed
from monitor.session import Session
from monitor.store import Store

pytestmark = pytest.mark.browser
T0 = 1_800_000_000.0


@pytest.fixture
def store(tmp_path):
    """A recorded 50-minute IV session with 75 Hz pleth (about 225,000 pleth samples) and alarms."""
    store = Store(tmp_path / "k.db")
    src = SimSource("typical_iv", seed=1, pleth=True, duration=3000)
    session = Session("s1", "SIM-TIV-01", T0, "iv", 70.0, "kap-iv", "demo", src.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, src, build_plan("kap-iv", "iv", {}))
    return store


def js(dash_duo, script: str):
    return dash_duo.driver.execute_script(
        "const gd = document.querySelector('#review-graph .js-plotly-plot'); " + script)


def pleth_x(dash_duo) -> list:
    return js(dash_duo, "const t = gd.data.find(d => d.name === 'Pleth'); return t.x.filter(x => x !== null);")


def test_open_see_alarms_and_zoom(dash_duo, store):
    dash_duo.start_server(create_app(store))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/review/s1")
    dash_duo.wait_for_contains_text("#review-patient", "SIM-TIV-01", timeout=15)
    dash_duo.wait_for_element("#review-graph .js-plotly-plot", timeout=15)

    # Alarm spans: one trace per priority in the events lane, shaded spans over every trace in IEC colours.
    alarms = js(dash_duo, "return gd.data.filter(d => d.name.startsWith('alarm ') && d.x.some(x => x !== null))"
                          ".map(d => [d.name, d.line.color]);")
    assert alarms, "no alarm spans drawn"
    colours = {"alarm HIGH": "#e0191b", "alarm MEDIUM": "#f5c400", "alarm LOW": "#00bcd4"}
    assert all(colours[name] == colour for name, colour in alarms)
    fills = js(dash_duo, "return (gd.layout.shapes || []).map(s => s.fillcolor).filter(c => c);")
    assert set(fills) <= set(colours.values()) and fills
    assert "sensor off" in js(dash_duo, "return JSON.stringify(gd.data.map(d => d.text || ''));")

    # The summary and the course are on the page.
    summary = dash_duo.find_element("#review-summary").text
    for words in ("Peak SBP", "Lowest SpO2", "Pre-dose BP", "Discharge", "MEDIUM"):
        assert words in summary
    assert "s1" in dash_duo.find_element("#review-course").text

    # The whole session arrives downsampled; a zoom re-sends only the visible minute at full detail.
    full = pleth_x(dash_duo)
    assert 1000 < len(full) <= 2200 and min(full) < 1 and max(full) > 49
    zoomed = relayout_until(dash_duo, "{'xaxis.range': [20, 21]}", lambda x: min(x) > 19.9 and max(x) < 21.1)
    assert len(zoomed) > 1000  # ~4,500 samples in that minute, min/max-kept
    relayout_until(dash_duo, "{'xaxis.autorange': true}", lambda x: max(x) > 49 and min(x) < 1)


def relayout_until(dash_duo, update: str, done, timeout: float = 15) -> list:
    """Zoom the way a drag does; repeat if the page was not listening yet; the pleth x once ``done``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        js(dash_duo, f"Plotly.relayout(gd, {update});")
        for _ in range(10):
            time.sleep(0.2)
            x = pleth_x(dash_duo)
            if x and done(x):
                return x
    pytest.fail(f"{update} did not re-send the window: pleth x {min(x)}..{max(x)}")


def test_gaps_stay_gaps(dash_duo, store):
    dash_duo.start_server(create_app(store))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/review/s1")
    dash_duo.wait_for_element("#review-graph .js-plotly-plot", timeout=15)
    # The probe is off from 5:00 to 5:25: SpO2 and pleth have a null (a break) there, not a line across.
    for name in ("SpO2", "Pleth"):
        breaks = js(dash_duo, f"const t = gd.data.find(d => d.name === '{name}');"
                              "return t.x.filter((x, i) => t.y[i] === null && x > 5 && x < 5.5).length;")
        assert breaks >= 1, name


def test_sessions_page_links_to_review_and_unknown_session(dash_duo, store):
    dash_duo.start_server(create_app(store))
    dash_duo.wait_for_contains_text(".session-table", "s1", timeout=10)
    dash_duo.driver.find_element(By.LINK_TEXT, "Review").click()
    dash_duo.wait_for_contains_text("#review-patient", "SIM-TIV-01", timeout=15)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/review/nope")
    dash_duo.wait_for_contains_text(".review", "No such session", timeout=10)
