"""Sign-in and binding: every route needs credentials when sign-in is on, a non-loopback bind needs
sign-in, passwords are only ever stored as salted hashes, and sign-ins are audited."""

import base64
import io
import os
import stat

import pytest

from layouts.app import create_app
from layouts.auth import protect
from monitor.cli.main import main
from monitor.session.start import StartError, check_bind
from monitor.session.store import Store
from monitor.auth.users import Users, UsersError, add_user, hash_password, verify_password

PASSWORD = "correct horse battery"
ROUTES = ["/", "/live/s1", "/review/s1", "/_dash-layout", "/_dash-dependencies", "/assets/kapmon.css",
          "/_favicon.ico", "/_reload-hash"]


def basic(name: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "users"
    add_user(path, "nurse.k", PASSWORD)
    return path


@pytest.fixture
def client(tmp_path, users_file):
    store = Store(tmp_path / "k.db")
    app = create_app(store, {})
    protect(app, Users.load(users_file), store)
    return app.server.test_client(), store


def test_password_hashes_are_salted_and_verify(users_file):
    a, b = hash_password("same password"), hash_password("same password")
    assert a != b and "same password" not in a
    assert verify_password(a, "same password") and not verify_password(a, "other password")
    text = users_file.read_text()
    assert PASSWORD not in text and "nurse.k:nurse:scrypt$" in text
    assert stat.S_IMODE(os.stat(users_file).st_mode) == 0o600
    users = Users.load(users_file)
    assert users.verify("nurse.k", PASSWORD)
    assert not users.verify("nurse.k", "wrong password") and not users.verify("nobody", PASSWORD)


def test_bad_users_files_and_entries_say_why(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("# comment\nnurse:plaintext\n")
    with pytest.raises(UsersError, match="line 2"):
        Users.load(bad)
    with pytest.raises(UsersError, match="cannot read"):
        Users.load(tmp_path / "missing")
    with pytest.raises(UsersError, match="at least 8"):
        add_user(tmp_path / "u", "nurse", "short")
    with pytest.raises(UsersError, match="no spaces"):
        add_user(tmp_path / "u", "bad name", PASSWORD)


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_sign_in(client, route):
    c, _ = client
    assert c.get(route).status_code == 401
    assert c.get(route).headers["WWW-Authenticate"].startswith("Basic")
    assert c.get(route, headers=basic("nurse.k", "wrong password")).status_code == 401
    assert c.get(route, headers=basic("nurse.k", PASSWORD)).status_code == 200


def test_callbacks_need_sign_in(client):
    c, _ = client
    body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": "/"}], "changedPropIds": ["url.pathname"],
            "state": []}
    assert c.post("/_dash-update-component", json=body).status_code == 401
    assert c.post("/_dash-update-component", json=body, headers=basic("nurse.k", PASSWORD)).status_code == 200
    bundles = c.get("/", headers=basic("nurse.k", PASSWORD)).get_data(as_text=True)
    suite = bundles[bundles.index("/_dash-component-suites/"):].split('"')[0]
    assert c.get(suite).status_code == 401
    assert c.get(suite, headers=basic("nurse.k", PASSWORD)).status_code == 200


def test_sign_ins_are_audited_once_not_per_request_and_failures_each(client):
    c, store = client
    for _ in range(3):
        c.get("/_dash-layout", headers=basic("nurse.k", PASSWORD))
        c.get("/_dash-layout", headers=basic("mallory", "guess-guess"))
    log = [(action, who) for _, _, action, who, _ in store.audit()]
    assert log == [("sign_in", "nurse.k")] + [("sign_in_failed", "mallory")] * 3


def test_the_audit_log_is_append_only(store):
    store.write_audit(1.0, "sign_in", "nurse.k")
    with pytest.raises(Exception, match="append-only"):
        store._conn().execute("DELETE FROM audit")


def test_non_loopback_bind_needs_sign_in(users_file):
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(host)
    with pytest.raises(StartError, match="--users"):
        check_bind("0.0.0.0")
    with pytest.raises(StartError):
        check_bind("192.168.1.20", Users(users_file, {}))
    check_bind("0.0.0.0", Users.load(users_file))


def test_commands_refuse_a_public_bind_without_users(tmp_path, capsys):
    assert main(["demo", "--host", "0.0.0.0", "--db", str(tmp_path / "k.db")]) == 2
    assert "without sign-in" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.write_text("")
    assert main(["demo", "--host", "0.0.0.0", "--users", str(empty), "--db", str(tmp_path / "k.db")]) == 2
    assert "no users yet" in capsys.readouterr().err


def test_user_add_reads_the_password_from_stdin_never_the_command_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "dr.m", "--users", str(path)]) == 0
    assert "added dr.m" in capsys.readouterr().out
    assert Users.load(path).verify("dr.m", PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "dr.m", "--users", str(path)]) == 2
    assert "at least 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["user", "add", "dr.m", "--password", PASSWORD])


def test_the_signed_in_user_is_who_acts_on_the_live_page(client):
    from layouts.controls import _who

    c, _ = client
    app = c.application
    with app.test_request_context("/_dash-update-component", method="POST", headers=basic("nurse.k", PASSWORD)):
        assert app.preprocess_request() is None
        assert _who("XY") == "nurse.k"  # the typed initials cannot stand in for someone else
    with app.test_request_context("/"):
        assert _who(" XY ") == "XY"  # sign-in off: the Nurse box


def test_the_rules_a_session_runs_under_are_audited(tmp_path):
    from monitor.session.start import start_session

    store = Store(tmp_path / "k.db")
    hub = start_session(store, [], patient="P-1", route="iv", weight_kg=70, protocol="kap-iv", who="dr.m")
    hub.stop()
    [event] = store.events(hub.session.id, kind="protocol")
    assert event.who == "dr.m" and event.data["protocol"] == "kap-iv" and event.data["version"]


def test_exports_carry_the_pseudonym_and_not_the_audit_trail(tmp_path):
    import json as _json

    from monitor.exports.writer import export
    from monitor.session.start import start_session
    from devices.registry import open_source

    store = Store(tmp_path / "k.db")
    hub = start_session(store, [open_source("sim://typical_iv?seed=1&duration=30")], patient="P-7", route="iv",
                        weight_kg=70, speed=60, protocol="kap-iv", screening={"age": 44}, who="dr.m")
    assert hub.finished.wait(10)
    fhir = _json.loads(export(store, hub.session.id, "fhir", tmp_path / "s.json").read_text())
    [patient] = [e["resource"] for e in fhir["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert set(patient) == {"resourceType", "id", "identifier"}  # no name, birth date, address or contact
    assert patient["identifier"][0]["value"] == "P-7"
    csv_path = export(store, hub.session.id, "csv", tmp_path / "s.csv")
    sidecar = _json.loads(csv_path.with_suffix(".json").read_text())
    assert sidecar["patient"] == {"pseudonym": "P-7", "weight_kg": 70}
    assert not [e for e in sidecar.get("events", []) if e["kind"] in ("protocol", "resumed")]
    assert "dr.m" not in csv_path.with_suffix(".json").read_text()
