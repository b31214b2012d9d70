"""Who overrides: roles in the users file (physician, nurse, trainer), and a physician's override of a
dosing block on the live page recorded under the signed-in physician's account (a nurse's refused), or,
without sign-in, under the typed name marked unverified in the record, the review page and the report."""

import base64
import io
import json

import pytest

from devices.reading import reading
from devices.virtual.scenarios import screening
from layouts.app import create_app
from layouts.auth import protect
from monitor.cli.main import main
from monitor.exports.writer import export
from monitor.analysis.record_view import UNVERIFIED
from monitor.session.start import start_session
from monitor.session.store import Store
from monitor.auth.users import Users, UsersError, add_user, hash_password, who_overrides
from tests.helpers import ListSource, dash_callback

PASSWORD = "correct horse battery"
REASON = "repaired 2019, cleared by vascular surgery"


def basic(name: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


# --- roles in the users file ---------------------------------------------------------------------------

def test_a_users_file_written_before_roles_still_works_and_its_users_are_nurses(tmp_path):
    path = tmp_path / "users"
    path.write_text("# kapmon users: name:scrypt hash (kapmon user add)\n"
                    f"nurse.k:{hash_password(PASSWORD)}\ndr.m:{hash_password(PASSWORD)}\n")
    users = Users.load(path)
    assert users.verify("nurse.k", PASSWORD) and users.verify("dr.m", PASSWORD)
    assert (users.role("nurse.k"), users.role("dr.m"), users.role("nobody")) == ("nurse", "nurse", None)


def test_user_add_role_changes_the_role_of_an_existing_user_and_keeps_the_password(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users"
    path.write_text(f"nurse.k:{hash_password(PASSWORD)}\ndr.m:{hash_password(PASSWORD)}\n")  # no roles yet
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))  # Enter: keep the password
    assert main(["user", "add", "dr.m", "--role", "physician", "--users", str(path)]) == 0
    assert "changed the role (nurse -> physician) of dr.m" in capsys.readouterr().out
    users = Users.load(path)
    assert users.role("dr.m") == "physician" and users.verify("dr.m", PASSWORD)
    assert users.role("nurse.k") == "nurse" and users.verify("nurse.k", PASSWORD)
    assert "dr.m:physician:scrypt$" in path.read_text() and "nurse.k:nurse:scrypt$" in path.read_text()

    monkeypatch.setattr("sys.stdin", io.StringIO("staple battery horse\n"))  # a new password, role unchanged
    assert main(["user", "add", "dr.m", "--users", str(path)]) == 0
    assert "changed the password of dr.m" in capsys.readouterr().out
    users = Users.load(path)
    assert users.role("dr.m") == "physician" and users.verify("dr.m", "staple battery horse")

    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["user", "add", "dr.m", "--users", str(path)]) == 2
    assert "nothing to change for dr.m" in capsys.readouterr().err


def test_user_add_gives_a_new_user_a_role_nurse_by_default(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users"
    for name, extra in (("t.j", ["--role", "trainer"]), ("rn.a", [])):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert main(["user", "add", name, *extra, "--users", str(path)]) == 0
    out = capsys.readouterr().out
    assert "added t.j (trainer)" in out and "added rn.a (nurse)" in out
    assert {n: Users.load(path).role(n) for n in ("t.j", "rn.a")} == {"t.j": "trainer", "rn.a": "nurse"}
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))  # a new user needs a password
    assert main(["user", "add", "new.user", "--users", str(path)]) == 2
    assert "at least 8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["user", "add", "x.y", "--role", "doctor", "--users", str(path)])
    assert refused.value.code == 2 and "invalid choice: 'doctor'" in capsys.readouterr().err


def test_a_bad_role_in_the_file_or_the_call_says_which(tmp_path):
    path = tmp_path / "users"
    path.write_text(f"# users\ndr.m:doctor:{hash_password(PASSWORD)}\n")
    with pytest.raises(UsersError, match=r"line 2: unknown role 'doctor' \(roles: physician, nurse, trainer\)"):
        Users.load(path)
    path.write_text(f"dr.m:physician:extra:{hash_password(PASSWORD)}\n")
    with pytest.raises(UsersError, match="line 1: expected 'name:role:scrypt"):
        Users.load(path)
    with pytest.raises(UsersError, match="unknown role 'admin'"):
        add_user(tmp_path / "other", "dr.m", PASSWORD, "admin")


def test_who_overrides_a_physician_signed_in_a_typed_name_without_sign_in():
    assert who_overrides("dr.m", "physician", "Dr Someone Else") == ("dr.m", True)
    assert who_overrides(None, None, "  Dr Rahman ") == ("Dr Rahman", False)
    for role in ("nurse", "trainer", None):
        with pytest.raises(ValueError, match="a physician must sign in"):
            who_overrides("rn.k", role, "Dr Rahman")


# --- the override on the live page, over HTTP ----------------------------------------------------------

@pytest.fixture
def blocked(tmp_path):
    """A live IV session whose screening blocks dosing twice (aneurysm, psychosis); users: a physician and a nurse."""
    store = Store(tmp_path / "k.db")
    items = [reading(float(t), "spo2", 97, "ox") for t in range(600)]
    hub = start_session(store, [ListSource(items)], patient="B-1", route="iv", weight_kg=70.0,
                        screening=screening(age=45, aneurysm_or_avm=True, psychosis=True))
    add_user(tmp_path / "users", "dr.m", PASSWORD, "physician")
    add_user(tmp_path / "users", "nurse.k", PASSWORD)
    yield store, hub, tmp_path / "users"
    hub.stop()


def client(store, hub, users_path=None):
    app = create_app(store, {hub.session.id: hub})
    if users_path is not None:
        protect(app, Users.load(users_path), store)
    return app.server.test_client()


def override(c, hub, finding: str, physician: str, headers: dict | None = None) -> str:
    state = {"override-finding.value": finding, "override-physician.value": physician,
             "override-reason.value": REASON, "cursor.data": {"session": hub.session.id}}
    response = dash_callback(c, "override-save", 1, state, headers=headers)
    assert response.status_code == 200, response.status_code
    return json.dumps(response.get_json())


def recorded(store, hub) -> tuple[list, list]:
    sid = hub.session.id
    alarms = [(a.alarm_id, a.who) for _, a in store.alarm_events(sid) if a.event == "overridden"]
    events = [(e.data, e.who) for e in store.events(sid, kind="override")]
    return alarms, events


def open_ids(hub) -> set[str]:
    return {f.id for f in hub.decision().findings}


def test_without_sign_in_the_typed_name_is_kept_and_marked_unverified(blocked):
    store, hub, _ = blocked
    said = override(client(store, hub), hub, "psychosis", " Dr Rahman ")
    assert "overridden by Dr Rahman" in said and UNVERIFIED in said
    assert recorded(store, hub) == ([("psychosis", "Dr Rahman")], [
        ({"finding": "psychosis", "physician": "Dr Rahman", "reason": REASON, "verified": False}, "Dr Rahman")])
    assert "psychosis" not in open_ids(hub) and "aneurysm_or_avm" in open_ids(hub)


def test_with_sign_in_the_signed_in_physician_is_recorded_not_the_typed_name(blocked):
    store, hub, users = blocked
    c = client(store, hub, users)
    page = json.dumps(dash_callback(c, "url", f"/live/{hub.session.id}", headers=basic("dr.m")).get_json())
    assert '"Signed in as physician"' in page and '"value": "dr.m", "disabled": true' in page  # who is recorded
    said = override(c, hub, "psychosis", "Dr Someone Else", basic("dr.m"))
    assert "overridden by dr.m" in said and UNVERIFIED not in said and "Someone" not in said
    assert recorded(store, hub) == ([("psychosis", "dr.m")], [
        ({"finding": "psychosis", "physician": "dr.m", "reason": REASON, "verified": True}, "dr.m")])


def test_a_nurse_signed_in_cannot_override_until_made_a_physician(blocked):
    store, hub, users = blocked
    c = client(store, hub, users)
    said = override(c, hub, "psychosis", "Dr Rahman", basic("nurse.k"))
    assert ("Not recorded: nurse.k is signed in as a nurse, and only a physician may override a block or gate: "
            "a physician must sign in to record it.") in said
    assert recorded(store, hub) == ([], []) and {"aneurysm_or_avm", "psychosis"} <= open_ids(hub)
    add_user(users, "nurse.k", None, "physician")  # the users file is re-read: no restart
    assert "overridden by nurse.k" in override(c, hub, "psychosis", "", basic("nurse.k"))
    assert recorded(store, hub)[1][0][0]["verified"] is True


def test_the_review_page_and_the_report_mark_only_the_typed_override_unverified(blocked, tmp_path):
    store, hub, users = blocked
    override(client(store, hub), hub, "aneurysm_or_avm", "Dr Rahman")
    override(client(store, hub, users), hub, "psychosis", "", basic("dr.m"))
    page = json.dumps(dash_callback(client(store, hub), "url", f"/review/{hub.session.id}").get_json())
    assert '"children": "Dr Rahman, unverified (typed name, no sign-in)"' in page  # the events table's Who
    assert '"children": "dr.m"' in page and "dr.m, unverified" not in page
    report = export(store, hub.session.id, "report", tmp_path / "r.html").read_text()
    assert report.count(UNVERIFIED) == 1  # in the decisions table, where overrides are listed
    assert f"overridden by Dr Rahman, {UNVERIFIED} at" in report and "overridden by dr.m at" in report
    sidecar = export(store, hub.session.id, "csv", tmp_path / "s.csv").with_suffix(".json").read_text()
    assert "override" not in sidecar and "dr.m" not in sidecar  # an audit entry, not part of the recording
