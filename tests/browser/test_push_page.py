"""The live page's push channel in headless Chromium: a reading reaches the tile through the push alone (the
1-s poll set to an hour), and with the channel refused the page still updates by polling."""


import pytest
from flask import Response, request

from devices.reading import reading
from layouts import live
from layouts.app import create_app
from monitor.session.start import start_session
from monitor.session.store import Store
from tests.helpers import HeldAnswer, Idle, wait_for


@pytest.fixture
def session(tmp_path):
    store = Store(tmp_path / "k.db")
    hub = start_session(store, [Idle()], patient="PUSH-1", route="iv", weight_kg=70.0)
    yield store, hub
    hub.stop()


def channel(dash_duo) -> str:
    return dash_duo.driver.execute_script("return window.kapmonPush ? window.kapmonPush.state : '';")


def shown_hr(dash_duo) -> str:
    return dash_duo.driver.execute_script("const e = document.getElementById('value-hr'); return e ? e.innerText : '';")


def test_a_reading_reaches_the_tile_by_push_with_the_poll_an_hour_away(dash_duo, session, monkeypatch):
    store, hub = session
    monkeypatch.setattr(live, "TICK_MS", 3_600_000)
    dash_duo.start_server(create_app(store, {hub.session.id: hub}))
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    wait_for(lambda: channel(dash_duo) == "open", 20, "the push channel to open")
    dash_duo.wait_for_contains_text("#patient", "PUSH-1", timeout=20)  # the tick the channel's first news woke
    for value in (123, 77):
        hub.add_readings([reading(hub.now(), "hr", value, "test")])
        dash_duo.wait_for_text_to_equal("#value-hr", str(value), timeout=20)
    assert "nodata-hidden" in dash_duo.find_element("#nodata").get_attribute("class")


def test_with_the_channel_refused_the_page_still_updates_by_polling(dash_duo, session):
    """A proxy that does not pass WebSockets: every handshake is refused; the page keeps trying now and then
    and meanwhile polls, and the watchdog stays quiet."""
    store, hub = session
    app = create_app(store, {hub.session.id: hub})
    refused: list[str] = []

    @app.server.before_request
    def no_websockets() -> Response | None:
        if request.path.startswith("/push/"):
            refused.append(request.path)
            return Response("WebSockets are not passed here.\n", 502)
        return None

    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    wait_for(lambda: refused and channel(dash_duo) == "polling", 20, "the refused channel")
    for value in (131, 64):
        hub.add_readings([reading(hub.now(), "hr", value, "test")])
        dash_duo.wait_for_text_to_equal("#value-hr", str(value), timeout=20)
    assert "nodata-hidden" in dash_duo.find_element("#nodata").get_attribute("class")
    assert channel(dash_duo) in ("polling", "connecting")



def test_news_while_a_polls_tick_is_on_its_way_wakes_a_tick_at_once(dash_duo, session):
    """A busy server holds a poll's answer for 2 s, and a reading comes meanwhile. The push wakes a tick of its
    own at once (numbered after the poll's), instead of the news waiting for the next poll (1.25 s on)."""
    store, hub = session
    app = create_app(store, {hub.session.id: hub})
    held = HeldAnswer(app, b"tick.n_intervals", 2.0)

    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/live/{hub.session.id}")
    wait_for(lambda: channel(dash_duo) == "open", 20, "the push channel to open")
    dash_duo.driver.execute_script(WATCH)
    held.arm()
    assert held.holding.wait(10), "no poll's tick came"
    hub.add_readings([reading(hub.now(), "hr", 131, "test")])
    dash_duo.wait_for_text_to_equal("#value-hr", "131", timeout=20)
    news, ticks = dash_duo.driver.execute_script("return [window.watchedNews, window.watchedTicks];")
    assert news, "no news came through the push"
    asked = [t - news[0] for t in ticks if t >= news[0]]
    assert asked and asked[0] < 1000, f"the tick after the news started {asked[:1]} ms after it"
    assert held.released.wait(10)  # the held answer goes before the server stops


WATCH = """
window.watchedNews = []; window.watchedTicks = [];
kapmonPush.socket.addEventListener('message', function () { window.watchedNews.push(Date.now()); });
const fetched = window.fetch;
window.fetch = function (url, options) {
  if (String(url).includes('_dash-update') && String((options && options.body) || '').includes('tick.n_intervals')) {
    window.watchedTicks.push(Date.now());
  }
  return fetched.apply(this, arguments);
};
"""
