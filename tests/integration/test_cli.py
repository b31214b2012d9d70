"""The command line as a user meets it: help on everything, one-line errors, stores it must not touch
(another application's database, a read-only store), the default store, pipes, pseudonyms, and
``kapmon review`` serving an existing store."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.reading import reading
from devices.virtual.scenarios import SCENARIOS
from monitor.cli.main import COMMANDS, MODULES, build_parser, main
from monitor.session.model import Session
from monitor.session.store import Store
from tests.helpers import ROOT



def run_cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor.cli.main", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=env, **kw)


def subparsers(parser: argparse.ArgumentParser, name: str = "kapmon") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from subparsers(sub, f"{name} {sub_name}")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_store(path: Path, n: int = 2) -> Store:
    store = Store(path)
    for i in range(n):
        store.create_session(Session(f"s{i:04d}", "P-1", 1_700_000_000.0 + i, "iv", 70.0))
    return store


# --- help ----------------------------------------------------------------------------------------


def test_every_argument_of_every_subcommand_has_help():
    missing = [f"{name}: {action.dest}" for name, parser in subparsers(build_parser()) for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
    assert missing == []
    for name, parser in subparsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(choice.help for choice in action._choices_actions), name


@pytest.mark.parametrize("command", ["", *COMMANDS, "protocol check", "protocol list", "user add"])
def test_every_help_prints_and_exits_0(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command.split(), "--help"])
    assert info.value.code == 0
    assert "usage: kapmon" in capsys.readouterr().out


HEAVY = ("dash", "plotly", "pandas", "numpy", "pyarrow", "bleak", "serial", "hl7", "flask", "monitor.session", "layouts")


@pytest.mark.parametrize("argv", [["--help"], ["sessions", "--help"]])
def test_help_imports_only_what_it_shows(argv):
    """``kapmon --help`` loads no subcommand's module; a subcommand's help loads that subcommand only."""
    code = ("import sys\nfrom monitor.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('monitor.cli.', *%r)))))" % (HEAVY,))
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.splitlines()[-1].split()
    loaded = {m.split(".")[0] if not m.startswith("monitor.") else ".".join(m.split(".")[:3]) for m in out}
    commands = {f"monitor.cli.{MODULES.get(name, name)}" for name in COMMANDS}
    assert loaded & commands == ({"monitor.cli.sessions"} if argv[0] == "sessions" else set())
    if argv == ["--help"]:
        assert not [m for m in loaded if not m.startswith("monitor.cli.")], loaded


def test_demo_help_lists_the_scenarios(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(name in out for name in SCENARIOS)


def test_demo_and_replay_have_the_same_speed_default():
    parser = build_parser()
    demo = parser.parse_args(["demo"])
    replay = parser.parse_args(["replay", "typical_iv"])
    assert demo.speed == replay.speed


# --- one-line errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["demo", "--port", "99999"], ["review", "--port", "0"], ["central", "--broker", "mqtt://127.0.0.1", "--port", "-1"],
    ["monitor", "--device", "sim://typical_iv", "--patient", "P", "--weight", "70", "--route", "iv", "--port", "http"],
])
def test_a_bad_port_is_a_one_line_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and "is not a port number (1-65535)" in err, err


def test_a_bad_broker_port_is_refused():
    from monitor.central.broker import BrokerError, parse_broker

    for url in ("mqtt://127.0.0.1:99999", "mqtt://127.0.0.1:0", "mqtt://127.0.0.1:"):
        with pytest.raises(BrokerError, match="bad port"):
            parse_broker(url)


# --- stores kapmon must not touch -----------------------------------------------------------------


def test_another_applications_database_is_refused_untouched(tmp_path):
    other = tmp_path / "notes.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('buy milk')")
    before = digest(other)
    for argv in (["sessions", "--db", str(other)], ["demo", "--db", str(other), "--port", "1"]):
        result = run_cli(*argv)
        assert result.returncode == 2
        assert "not a kapmon store (its tables: notes); left untouched" in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    assert digest(other) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]  # no -wal or -shm either


@pytest.fixture
def read_only_store(tmp_path) -> Iterator[Path]:
    """A kapmon store that cannot be written: a read-only mount for root (whom permissions do not stop),
    file and folder permissions otherwise."""
    folder = tmp_path / "ro"
    folder.mkdir()
    source = tmp_path / "src.db"
    make_store(source, 3).close()
    if os.geteuid() != 0:
        shutil.copy(source, folder / "k.db")
        (folder / "k.db").chmod(0o444)
        folder.chmod(0o555)
        yield folder / "k.db"
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a file system here")
    try:
        shutil.copy(source, folder / "k.db")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder / "k.db"
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def test_a_read_only_store_is_called_read_only_and_can_still_be_read(read_only_store, tmp_path):
    result = run_cli("demo", "--db", str(read_only_store), "--port", "1")
    assert result.returncode == 2
    assert "the store is read-only" in result.stderr and "can still read it" in result.stderr, result.stderr
    assert "not a usable" not in result.stderr
    listed = run_cli("sessions", "--db", str(read_only_store), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["s0002", "s0001", "s0000"]
    out = tmp_path / "s.csv"
    exported = run_cli("export", "s0001", "--db", str(read_only_store), "--format", "csv", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    debrief = run_cli("debrief", "s0001", "--db", str(read_only_store))
    assert debrief.returncode == 2 and "no training session with that id" in debrief.stderr


def test_commands_that_read_a_store_default_to_the_users_store(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    missing = run_cli("sessions", env=env)
    assert missing.returncode == 2 and f"{tmp_path / 'kapmon' / 'kapmon.db'}: no such store" in missing.stderr
    make_store(tmp_path / "kapmon" / "kapmon.db").close()
    listed = run_cli("sessions", env=env)
    assert listed.returncode == 0 and "s0001" in listed.stdout, listed.stderr
    exported = run_cli("export", "s0001", "--format", "csv", "--out", str(tmp_path / "x.csv"), env=env)
    assert exported.returncode == 0, exported.stderr
    debrief = run_cli("debrief", "s0001", env=env)
    assert debrief.returncode == 2 and "no training session" in debrief.stderr


# --- pipes, pseudonyms, the MQTT extra ----------------------------------------------------------


def test_sessions_into_a_pipe_that_closes_exits_quietly(tmp_path):
    db = tmp_path / "k.db"
    make_store(db, 3000).close()  # more than a pipe holds, so the writer meets the closed end
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli.main", "sessions", "--db", str(db)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=30)
    assert first.startswith("s2999")
    assert err == "" and proc.returncode == 141


@pytest.mark.parametrize("patient", ["Jane Doe", "jane.doe@example.org", "Doe, Jane"])
def test_a_real_looking_patient_name_gets_a_warning(patient, tmp_path, capsys):
    code = main(["monitor", "--device", "nosuch://x", "--patient", patient, "--weight", "70", "--route", "iv",
                 "--db", str(tmp_path / "k.db")])
    err = capsys.readouterr().err
    assert code == 2
    assert "warning:" in err and "only a pseudonym belongs" in err


def test_a_pseudonym_gets_no_warning(tmp_path, capsys):
    main(["monitor", "--device", "nosuch://x", "--patient", "P-0142", "--weight", "70", "--route", "iv",
          "--db", str(tmp_path / "k.db")])
    assert "warning" not in capsys.readouterr().err


def test_the_mqtt_extra_message_uses_the_readmes_install_command():
    from monitor.central.broker import MQTT_INSTALL, NO_PAHO

    assert MQTT_INSTALL in NO_PAHO
    assert f"`{MQTT_INSTALL}`" in (ROOT / "README.md").read_text(encoding="utf-8")


# --- kapmon review --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sessions_page(port: int) -> str:
    """What the served app renders at / (the page callback's answer)."""
    body = json.dumps({"output": "page.children", "outputs": {"id": "page", "property": "children"},
                       "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
                       "changedPropIds": ["url.pathname"]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_dash-update-component", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.read().decode()


def serve_review(db: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli.main", "review", "--db", str(db), "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [proc.stdout.readline() for _ in range(2)]
    assert "serving http://127.0.0.1" in lines[1], lines
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the line is printed just before the server binds
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("kapmon review did not start serving")


@pytest.mark.parametrize("writable", [True, False], ids=["store", "read-only store"])
def test_review_serves_an_existing_store_without_starting_a_session(writable, tmp_path, request):
    db = tmp_path / "k.db" if writable else request.getfixturevalue("read_only_store")
    if writable:
        make_store(db, 3).close()
    proc, port = serve_review(db)
    try:
        page = sessions_page(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert all(f"s000{i}" in page for i in range(3))
    store = Store(db, read_only=True)
    assert [s.id for s in store.sessions()] == ["s0002", "s0001", "s0000"]
    store.close()


def test_review_of_a_missing_store_or_read_only_store_with_sign_in_is_refused(read_only_store, tmp_path, capsys):
    assert main(["review", "--db", str(tmp_path / "none.db")]) == 2
    assert "no such store" in capsys.readouterr().err
    users = tmp_path / "users"
    users.write_text("")
    from monitor.auth.users import add_user

    add_user(users, "dr.m", "correct horse battery")
    assert main(["review", "--db", str(read_only_store), "--users", str(users)]) == 2
    assert "sign-ins could not be audited" in capsys.readouterr().err


def test_an_event_whose_time_is_not_in_the_session_is_left_out_saying_so(tmp_path):
    """A hand-edited store holds a note at an infinite time and one before the session started: the summary and
    every export still come out, without them, and say once which they left out; an import of the CSV reads back."""
    db = tmp_path / "k.db"
    store = Store(db)
    store.create_session(Session("s1", "P-1", 1000.0, "iv", 70.0, "kap-iv", "clinical", {}))
    store.write("s1", [reading(1000.0 + i, "hr", 70, "ox") for i in range(120)], [(1010.0, "note", {"text": "calm"}, "RN")])
    store.close()
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO events (session_id, t, kind, data, who) VALUES ('s1', ?, 'note', '{\"text\": \"x\"}', 'RN')",
                         [(9e999,), (995.0,), (1000.0 + 15 * 86400,)])
    assert [e.data["text"] for e in Store(db).events("s1")] == ["calm"]
    summary = run_cli("summary", "s1", "--db", str(db))
    assert summary.returncode == 0, summary.stderr
    assert summary.stderr.count("not in the session") == 3 and "its time inf" in summary.stderr
    for fmt in ("csv", "report", "fhir", "parquet", "vital"):
        out = tmp_path / f"s1.{fmt}"
        done = run_cli("export", "s1", "--db", str(db), "--format", fmt, "--out", str(out))
        assert done.returncode == 0 and out.exists(), (fmt, done.stderr)
        assert done.stderr.count("not in the session") == 3, done.stderr
    back = run_cli("import", str(tmp_path / "s1.csv"), "--db", str(tmp_path / "back.db"))
    assert back.returncode == 0, back.stderr
