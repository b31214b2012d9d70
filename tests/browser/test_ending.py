"""Ending a session is an explicit, confirmed, audited POST with who ends it; opening a page (a GET,
a navigated tab, an invisible iframe) never stops anything."""

import base64
import json

import pytest
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from layouts.app import create_app
from layouts.auth import protect
from layouts.security import harden
from monitor.cli.demo import start_demo
from monitor.session.store import Store
from monitor.training.library import start_training
from monitor.auth.users import Users, add_user
from tests.helpers import dash_callback

PASSWORD = "correct horse battery"


@pytest.fixture
def clinical(tmp_path):
    store = Store(tmp_path / "k.db")
    hub = start_demo(store, "typical_iv", speed=1.0)
    yield store, hub
    hub.stop()


@pytest.fixture
def training(tmp_path):
    store = Store(tmp_path / "k.db")
    hub = start_training(store, "hypertensive_surge", 10.0, "RN Ade")
    yield store, hub
    hub.stop()


def client_for(store, hub):
    return create_app(store, {hub.session.id: hub}).server.test_client()


def open_page(client, path: str, headers: dict | None = None):
    return dash_callback(client, "url", path, headers=headers)


def text_of(response) -> str:
    return json.dumps(response.get_json())


def ended_audit(store) -> list:
    return [(who, d) for _, _, action, who, d in store.audit() if action == "session_ended"]


# --- opening a page never ends a session --------------------------------------------------------

@pytest.mark.parametrize("session", ["clinical", "training"])
def test_opening_the_debrief_of_a_running_session_stops_nothing(session, request):
    store, hub = request.getfixturevalue(session)
    c = client_for(store, hub)
    for path in (f"/debrief/{hub.session.id}", f"/live/{hub.session.id}", "/", f"/review/{hub.session.id}"):
        assert open_page(c, path).status_code == 200
    assert hub.running and not hub.finished.is_set()
    assert not store.events(hub.session.id, kind="end") and not ended_audit(store)


def test_the_debrief_of_a_running_training_session_offers_end_session(training):
    store, hub = training
    page = text_of(open_page(client_for(store, hub), f"/debrief/{hub.session.id}"))
    assert "still running" in page and "debrief-end" in page and f"/review/{hub.session.id}" in page


# --- ending is a POST with who ends it, audited before the recorder stops -------------------------

def end_clinical(c, hub, who: str, headers: dict | None = None):
    return dash_callback(c, "end-session", 1, {"cursor.data": {"session": hub.session.id}, "who.value": who},
                         headers=headers)


def test_ending_needs_a_name(clinical):
    store, hub = clinical
    r = end_clinical(client_for(store, hub), hub, "  ")
    assert r.status_code == 200 and "enter your name" in r.get_data(as_text=True)
    assert hub.running and not ended_audit(store)


def test_ending_is_audited_before_the_hub_stops(clinical, monkeypatch):
    store, hub = clinical
    seen_at_stop = []
    real_stop = hub.stop
    monkeypatch.setattr(hub, "stop", lambda *a, **k: seen_at_stop.append(ended_audit(store)) or real_stop(*a, **k))
    r = end_clinical(client_for(store, hub), hub, "RN K")
    assert "Session ended by RN K" in r.get_data(as_text=True)
    assert hub.finished.is_set() and store.events(hub.session.id, kind="end")
    [(who, detail)] = ended_audit(store)
    assert who == "RN K" and detail["session"] == hub.session.id and detail["kind"] == "demo"
    assert detail["address"] == "127.0.0.1"
    assert seen_at_stop == [[(who, detail)]]


def test_with_sign_in_the_signed_in_user_ends_it_not_the_typed_name(clinical, tmp_path):
    store, hub = clinical
    add_user(tmp_path / "users", "nurse.k", PASSWORD)
    app = create_app(store, {hub.session.id: hub})
    protect(app, Users.load(tmp_path / "users"), store)
    c = app.server.test_client()
    signed_in = {"Authorization": "Basic " + base64.b64encode(f"nurse.k:{PASSWORD}".encode()).decode()}
    assert c.post("/_dash-update-component", json={}).status_code == 401
    assert "ended by nurse.k" in end_clinical(c, hub, "RN Someone Else", signed_in).get_data(as_text=True)
    assert [who for who, _ in ended_audit(store)] == ["nurse.k"]


def test_a_cross_site_end_request_is_refused(clinical):
    store, hub = clinical
    app = create_app(store, {hub.session.id: hub})
    harden(app, "127.0.0.1", 8050)
    c = app.server.test_client()
    r = end_clinical(c, hub, "RN K", {"Host": "localhost:8050", "Origin": "http://attacker.example"})
    assert r.status_code == 403 and hub.running and not ended_audit(store)


def test_end_and_debrief_ends_the_training_session_then_opens_its_debrief(training):
    store, hub = training
    c = client_for(store, hub)
    state = {"cursor.data": {"session": hub.session.id}, "instructor.value": "", "who.value": ""}
    refused = dash_callback(c, "end-training", 1, state).get_json()
    assert "enter your name" in str(refused) and hub.running
    state["instructor.value"] = "Instr J"
    done = dash_callback(c, "end-training", 1, state).get_json()["response"]
    assert done["url"]["pathname"] == f"/debrief/{hub.session.id}"
    assert hub.finished.is_set() and [who for who, _ in ended_audit(store)] == ["Instr J"]


def test_the_debrief_pages_end_session_ends_it_and_shows_the_final_debrief(training):
    store, hub = training
    c = client_for(store, hub)
    state = {"debrief-session.data": hub.session.id, "debrief-who.value": "Instr J"}
    body = text_of(dash_callback(c, "debrief-end", 1, state))
    assert "Session ended by Instr J" in body and "still running" not in body
    assert hub.finished.is_set() and [who for who, _ in ended_audit(store)] == ["Instr J"]


# --- in the browser -------------------------------------------------------------------------------

@pytest.mark.browser
def test_end_session_on_the_live_page_asks_then_posts_and_is_audited(dash_duo, clinical):
    store, hub = clinical
    app = create_app(store, {hub.session.id: hub})
    harden(app, "127.0.0.1", 8050)  # the browser's own requests pass the host and same-origin checks
    dash_duo.start_server(app, port=8050)
    dash_duo.wait_for_page(f"http://localhost:8050/debrief/{hub.session.id}")
    dash_duo.wait_for_contains_text("h1", "No training session", timeout=10)
    assert hub.running  # opening the debrief URL in a signed-in tab stopped it before
    dash_duo.wait_for_page(f"http://localhost:8050/live/{hub.session.id}")
    dash_duo.wait_for_contains_text("#patient", hub.session.patient, timeout=10)
    confirm = WebDriverWait(dash_duo.driver, 10)

    dash_duo.find_element("#end-session button").click()
    confirm.until(expected_conditions.alert_is_present()).dismiss()  # "Cancel": nothing happens
    dash_duo.find_element("#end-session button").click()
    confirm.until(expected_conditions.alert_is_present()).accept()
    dash_duo.wait_for_contains_text("#end-result", "enter your name", timeout=10)
    assert hub.running

    dash_duo.find_element("#who").send_keys("RN K")
    dash_duo.find_element("#end-session button").click()
    confirm.until(expected_conditions.alert_is_present()).accept()
    dash_duo.wait_for_contains_text("#end-result", "Session ended by RN K", timeout=10)
    assert hub.finished.is_set()
    assert [who for who, _ in ended_audit(store)] == ["RN K"]
    assert dash_duo.find_element("#end-result a").get_attribute("href").endswith(f"/review/{hub.session.id}")
