"""The review page in headless Chromium: open a recorded session, see alarm spans and the summary, zoom."""

import time

import pytest
from selenium.webdriver.common.by import By

from devices.virtual.simulator import SimSource
from layouts.app import create_app
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.model import Session
from monitor.session.store import Store

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

    # Alarm spans: one lane per priority in the events row, in IEC colours; the shading behind the traces
    # never overlaps itself, so no blend of two alarm colours appears.
    alarms = js(dash_duo, "return gd.data.filter(d => d.name.startsWith('alarm ') && d.x.some(x => x !== null))"
                          ".map(d => [d.name, d.line.color, [...new Set(d.y.filter(y => y !== null))]]);")
    assert alarms, "no alarm spans drawn"
    colours = {"alarm HIGH": "#e0191b", "alarm MEDIUM": "#f5c400", "alarm LOW": "#00bcd4"}
    assert all(colours[name] == colour and len(lane) == 1 for name, colour, lane in alarms)
    assert len({lane[0] for _, _, lane in alarms}) == len(alarms)  # each priority in its own lane
    spans = js(dash_duo, "return (gd.layout.shapes || []).filter(s => s.fillcolor).map(s => [s.fillcolor, s.x0, s.x1]);")
    assert spans and {c for c, _, _ in spans} <= set(colours.values())
    spans.sort(key=lambda s: s[1])
    assert all(a[2] <= b[1] for a, b in zip(spans, spans[1:]))
    assert "sensor off" in js(dash_duo, "return JSON.stringify(gd.data.map(d => d.text || ''));")

    # One time reference: T+ minutes since the first dose (at 08:10), clock time under each tick.
    axis = time_axis(dash_duo)
    assert axis[0].startswith("minutes since first dose (T+0 = ")
    assert any(t.startswith("T+0<br>") for t in axis[1]) and any(t.startswith("T-10<br>") for t in axis[1])

    # The summary and the course are on the page.
    summary = dash_duo.find_element("#review-summary").text
    for words in ("Peak SBP", "Lowest SpO2", "Pre-dose BP", "Discharge", "MEDIUM"):
        assert words in summary
    assert "s1" in dash_duo.find_element("#review-course").text

    # The whole session arrives downsampled; a zoom re-sends only the visible minute at full detail.
    full = pleth_x(dash_duo)
    assert 1000 < len(full) <= 2200 and min(full) < -9 and max(full) > 39
    zoomed = relayout_until(dash_duo, "{'xaxis.range': [20, 21]}", lambda x: min(x) > 19.9 and max(x) < 21.1)
    assert len(zoomed) > 1000  # ~4,500 samples in that minute, min/max-kept
    assert "T+20:30<br>" in " ".join(time_axis(dash_duo)[1])  # the ticks follow the zoom, down to seconds
    relayout_until(dash_duo, "{'xaxis.autorange': true}", lambda x: max(x) > 39 and min(x) < -9)


def time_axis(dash_duo) -> list:
    """The title and tick labels of the x axis that carries them."""
    return js(dash_duo, "const k = Object.keys(gd.layout).filter(k => k.startsWith('xaxis') && gd.layout[k].ticktext)[0];"
                        "return [gd.layout[k].title.text, gd.layout[k].ticktext];")


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
    # The probe is off from 5:00 to 5:25 (T-5 before the dose at 10:00): SpO2 and pleth have a null (a break)
    # there, not a line across.
    for name in ("SpO2", "Pleth"):
        breaks = js(dash_duo, f"const t = gd.data.find(d => d.name === '{name}');"
                              "return t.x.filter((x, i) => t.y[i] === null && x > -5 && x < -4.5).length;")
        assert breaks >= 1, name


def test_sessions_page_links_to_review_and_unknown_session(dash_duo, store):
    dash_duo.start_server(create_app(store))
    dash_duo.wait_for_contains_text(".session-table", "s1", timeout=10)
    dash_duo.driver.find_element(By.LINK_TEXT, "Review").click()
    dash_duo.wait_for_contains_text("#review-patient", "SIM-TIV-01", timeout=15)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/review/nope")
    dash_duo.wait_for_contains_text(".review", "No such session", timeout=10)


@pytest.fixture
def unended(tmp_path):
    """A 20-minute IV session with no pleth whose recorder is still running (no end event, a fresh heartbeat),
    and a dose written by older code with NaN as its amount."""
    import sqlite3

    from devices.reading import Reading
    from monitor.session.model import Dose

    store = Store(tmp_path / "u.db")
    started = time.time() - 1200
    src = SimSource("typical_iv", seed=2, pleth=False, duration=1200)
    store.create_session(Session("u1", "SIM-RUN-01", started, "iv", 70.0, "kap-iv", "demo", src.metadata))
    store.write("u1", [r for r in src.items(started) if isinstance(r, Reading)])
    store.add_dose("u1", Dose(started + 600, "iv", "ketamine", 35.0), who="RN Lee")
    with sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO events (session_id, t, kind, data, who) VALUES ('u1', ?, 'dose', ?, 'RN Old')",
                   (started + 700, '{"route": "iv", "drug": "ketamine", "mg": NaN, "end": null}'))
    store.beat("u1", time.time() + 3600, 1)  # alive for the whole test however slow the machine
    return store


def test_a_running_session_says_so_has_no_empty_pleth_panel_and_exports_with_a_warning(dash_duo, unended):
    dash_duo.start_server(create_app(unended))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/review/u1")
    dash_duo.wait_for_contains_text("#review-running", "still being recorded", timeout=15)
    dash_duo.wait_for_element("#review-graph .js-plotly-plot", timeout=15)
    titles = js(dash_duo, "return (gd.layout.annotations || []).map(a => a.text);")
    assert "SpO2 %" in titles and "Pleth" not in titles
    assert not js(dash_duo, "return gd.data.filter(d => d.name === 'Pleth').length;")
    n_axes = js(dash_duo, "return Object.keys(gd.layout).filter(k => k.startsWith('yaxis')).length;")
    assert n_axes == 4  # events lane, NIBP, HR/PR, SpO2
    assert "amount NaN" in dash_duo.find_element("#review-events").text  # shown, marked invalid

    # The FHIR download offers the CLI's reading interval; the page says what the export left out, once.
    dash_duo.select_dcc_dropdown("#export-fhir-interval", "one per minute")
    dash_duo.find_element("#export-fhir").click()
    dash_duo.wait_for_contains_text("#review-export-message", "Exported with 1 warning", timeout=15)
    message = dash_duo.find_element("#review-export-message").text
    assert message.count("amount NaN") == 1 and "Traceback" not in message
