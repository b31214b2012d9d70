"""Sign-in under attack: failures counted and locked out per account and per address, every failure
and lockout audited with counts, a bounded number of password hashes at once, and the users file
re-read when it changes (a removed user or changed password stops working without a restart)."""

import base64
import hashlib
import io
import threading

import pytest

import layouts.auth as auth
from layouts.app import create_app
from layouts.auth import MAX_VERIFYING, protect
from monitor.cli.main import main
from monitor.auth.lockout import Lockout
from monitor.session.store import Store
from monitor.auth.users import Users, add_user, remove_user

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple battery horse"


def basic(name: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def from_address(address: str) -> dict:
    return {"REMOTE_ADDR": address}


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "users"
    add_user(path, "nurse.k", PASSWORD)
    add_user(path, "dr.m", PASSWORD)
    return path


@pytest.fixture
def served(tmp_path, users_file):
    store = Store(tmp_path / "k.db")
    app = create_app(store, {})
    guard = protect(app, Users.load(users_file), store)
    return app.server, store, guard


def get(server, name: str, password: str, address: str = "10.0.0.9", path: str = "/_dash-layout"):
    return server.test_client().get(path, headers=basic(name, password), environ_base=from_address(address))


# --- the lockout itself (pure) ------------------------------------------------------------------

def test_five_failures_in_the_window_lock_a_key_for_the_lock_time():
    lock = Lockout(max_failures=5, window_s=900, lock_s=300)
    counts = [lock.fail("a", t) for t in (0, 10, 20, 30)]
    assert [(f.count, f.locked) for f in counts] == [(1, False), (2, False), (3, False), (4, False)]
    assert lock.locked_for("a", 31) == 0
    fifth = lock.fail("a", 40)
    assert (fifth.count, fifth.locked) == (5, True)
    assert lock.locked_for("a", 40) == 300 and lock.locked_for("b", 40) == 0
    assert lock.locked_for("a", 339) == 1 and lock.locked_for("a", 340) == 0


def test_failures_outside_the_window_do_not_count_and_a_success_clears_them():
    lock = Lockout(max_failures=3, window_s=60, lock_s=300)
    lock.fail("a", 0)
    lock.fail("a", 10)
    assert lock.fail("a", 100).count == 1  # the first two are older than the window
    lock.fail("a", 101)
    lock.succeed("a")
    assert lock.fail("a", 102).count == 1


def test_a_flood_of_made_up_names_does_not_grow_memory_without_bound():
    lock = Lockout(max_keys=100)
    for i in range(5000):
        lock.fail(f"account:guess-{i}", float(i))
    assert len(lock._failures) == 100


# --- lockout over HTTP -----------------------------------------------------------------------------

def test_every_failure_and_the_lockout_are_audited_with_counts(served):
    server, store, _ = served
    for _ in range(5):
        assert get(server, "nurse.k", "wrong password").status_code == 401
    refused = get(server, "nurse.k", "wrong password")
    assert refused.status_code == 429 and "try again in 5 min" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 200
    log = [(action, who, detail) for _, _, action, who, detail in store.audit()]
    failed = [d for a, _, d in log if a == "sign_in_failed"]
    assert [d["failures_account"] for d in failed] == [1, 2, 3, 4, 5]
    assert [d["failures_address"] for d in failed] == [1, 2, 3, 4, 5]
    locks = [(who, d["scope"], d["failures"]) for a, who, d in log if a == "sign_in_locked"]
    assert locks == [("nurse.k", "account", 5), ("nurse.k", "address", 5)]
    assert len(log) == 7  # the refused attempt while locked is not hashed and not logged again


def test_a_locked_account_is_refused_before_its_password_is_hashed(served, monkeypatch):
    server, _, _ = served
    for _ in range(5):
        get(server, "dr.m", "wrong password", address="10.0.0.1")
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr("monitor.auth.users.hashlib.scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    # Even the right password, from another address, waits out the account's lock.
    assert get(server, "dr.m", PASSWORD, address="10.0.0.2").status_code == 429
    assert calls == []


def test_one_address_guessing_many_names_is_locked_out_but_others_are_not(served):
    server, _, _ = served
    for i in range(5):
        assert get(server, f"guess{i}", "wrong password", address="10.6.6.6").status_code == 401
    assert get(server, "nurse.k", PASSWORD, address="10.6.6.6").status_code == 429
    assert get(server, "nurse.k", PASSWORD, address="10.0.0.7").status_code == 200


def test_a_guesser_cannot_cut_off_a_nurse_already_signed_in(served):
    """Locking the nurse's account (or the shared workstation's address) stops guessing; the nurse's
    browser, whose credentials were already verified, keeps getting the live page."""
    server, _, _ = served
    assert get(server, "nurse.k", PASSWORD, address="10.0.0.3").status_code == 200
    for _ in range(5):
        get(server, "nurse.k", "wrong password", address="10.0.0.3")
    assert get(server, "nurse.k", "wrong password", address="10.0.0.3").status_code == 429
    assert get(server, "nurse.k", PASSWORD, address="10.0.0.3").status_code == 200


def test_concurrent_wrong_guesses_hash_at_most_a_few_passwords_at_once(served, monkeypatch):
    """16 concurrent wrong guesses once took memory from 105 to 464 MB (scrypt needs 16 MiB each)."""
    server, _, _ = served
    active, peak, lock = [0], [0], threading.Lock()
    real = hashlib.scrypt

    def counting_scrypt(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr("monitor.auth.users.hashlib.scrypt", counting_scrypt)
    start = threading.Barrier(16)
    codes = []

    def guess(i: int) -> None:
        start.wait()
        codes.append(get(server, "nurse.k", f"guess number {i}", address=f"10.1.0.{i}").status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(codes)) <= [401, 429] and len(codes) == 16
    assert 1 <= peak[0] <= MAX_VERIFYING


def test_sign_ins_beyond_the_queue_are_refused_before_any_hashing(served, monkeypatch):
    server, _, guard = served
    monkeypatch.setattr(auth, "MAX_QUEUED", 3)
    hashing, release = threading.Semaphore(0), threading.Event()
    real = hashlib.scrypt

    def held_scrypt(*args, **kwargs):
        hashing.release()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr("monitor.auth.users.hashlib.scrypt", held_scrypt)
    codes: dict[int, int] = {}

    def sign_in(i: int) -> None:
        codes[i] = get(server, f"user{i}", "wrong password", address=f"10.2.0.{i}").status_code

    first = [threading.Thread(target=sign_in, args=(i,)) for i in range(3)]
    for t in first:
        t.start()
    for _ in range(MAX_VERIFYING):
        assert hashing.acquire(timeout=10)  # two are hashing...
    tick = threading.Event()
    for _ in range(1000):  # ...and the third waits its turn: the queue is full
        if guard._queued == 3:
            break
        tick.wait(0.01)
    assert guard._queued == 3
    late = [threading.Thread(target=sign_in, args=(i,)) for i in range(3, 8)]
    for t in late:
        t.start()
    for t in late:
        t.join(10)
    assert [codes[i] for i in range(3, 8)] == [503] * 5
    release.set()
    for t in first:
        t.join(10)
    assert [codes[i] for i in range(3)] == [401] * 3


# --- the users file is re-read when it changes ----------------------------------------------------

def test_a_changed_password_stops_working_without_a_restart(served, users_file):
    server, _, _ = served
    assert get(server, "nurse.k", PASSWORD).status_code == 200
    add_user(users_file, "nurse.k", NEW_PASSWORD)
    assert get(server, "nurse.k", PASSWORD).status_code == 401  # even though it was verified (and remembered)
    assert get(server, "nurse.k", NEW_PASSWORD).status_code == 200


def test_a_removed_user_stops_working_without_a_restart(served, users_file):
    server, _, _ = served
    assert get(server, "dr.m", PASSWORD).status_code == 200
    remove_user(users_file, "dr.m")
    assert get(server, "dr.m", PASSWORD).status_code == 401
    assert get(server, "nurse.k", PASSWORD).status_code == 200


def test_an_unreadable_users_file_keeps_the_last_good_list_and_is_audited(served, users_file):
    server, store, _ = served
    users_file.write_text("nurse.k:plaintext-password\n")
    assert get(server, "nurse.k", PASSWORD).status_code == 200
    assert get(server, "nurse.k", "plaintext-password").status_code == 401
    errors = [d for _, _, action, _, d in store.audit() if action == "users_file_error"]
    assert len(errors) == 1 and "line 1" in errors[0]["error"]


def test_user_remove_command(tmp_path, users_file, monkeypatch, capsys):
    assert main(["user", "remove", "dr.m", "--users", str(users_file)]) == 0
    assert "removed dr.m" in capsys.readouterr().out
    assert set(Users.load(users_file).hashes) == {"nurse.k"}
    assert main(["user", "remove", "dr.m", "--users", str(users_file)]) == 2
    assert "no user 'dr.m'" in capsys.readouterr().err
    assert main(["user", "remove", "x", "--users", str(tmp_path / "missing")]) == 2
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "dr.m", "--users", str(users_file)]) == 0
    assert Users.load(users_file).verify("dr.m", PASSWORD)
