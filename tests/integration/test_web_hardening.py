"""Headers and hosts: no framing, no sniffing, no caching of patient data, the Host header checked
against the bound address (DNS rebinding) and cross-site state-changing requests refused; the same
hook on the bedside pages and the central station."""

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layouts.app import create_app
from layouts.security import HostCheck, harden, same_origin, secure, split_host
from monitor.session.store import Store
from tests.helpers import ROOT

CALLBACK = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": "/"}], "changedPropIds": ["url.pathname"],
            "state": []}


@pytest.fixture
def client(tmp_path):
    app = create_app(Store(tmp_path / "k.db"), {})
    harden(app, "127.0.0.1", 8050)
    return app.server.test_client()


def at(host: str) -> dict:
    return {"Host": host}


# --- headers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/live/s1", "/_dash-layout", "/_dash-dependencies", "/assets/kapmon.css"])
def test_no_framing_and_no_sniffing_on_every_response(client, path):
    r = client.get(path, headers=at("localhost:8050"))
    assert r.status_code == 200
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/live/s1", "/review/s1", "/_dash-layout"])
def test_pages_are_never_cached(client, path):
    assert client.get(path, headers=at("localhost:8050")).headers["Cache-Control"] == "no-store"


def test_callback_responses_and_downloads_are_never_cached(client):
    r = client.post("/_dash-update-component", json=CALLBACK, headers=at("localhost:8050"))
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"


def test_refusals_carry_the_headers_too(tmp_path):
    from monitor.auth.users import Users, add_user

    add_user(tmp_path / "users", "nurse.k", "correct horse battery")
    app = create_app(Store(tmp_path / "k.db"), {})
    secure(app, "127.0.0.1", 8050, Users.load(tmp_path / "users"), None)
    r = app.server.test_client().get("/", headers=at("localhost:8050"))
    assert r.status_code == 401 and r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"
    assert app.server.test_client().get("/", headers=at("attacker.example:8050")).status_code == 400  # host first


# --- the Host header ----------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost:8050", "127.0.0.1:8050", "[::1]:8050", "LOCALHOST:8050"])
def test_a_loopback_bind_answers_to_loopback_names(client, host):
    assert client.get("/", headers=at(host)).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example:8050", "localhost:8051", "localhost", "127.0.0.2:8050",
                                  "192.168.1.20:8050", "localhost:8050:1", "[::1", "", "localhost.attacker.example:8050"])
def test_a_loopback_bind_refuses_any_other_host_with_400(client, host):
    r = client.get("/", headers=at(host))
    assert r.status_code == 400 and "answers only" in r.get_data(as_text=True)


def test_a_rebinding_page_cannot_reach_the_callbacks(client):
    assert client.post("/_dash-update-component", json=CALLBACK, headers=at("rebind.attacker.example:8050")).status_code == 400


def test_host_names_for_addresses_and_wildcards():
    one = HostCheck("192.168.1.20", 8050, ["kapmon.clinic.lan"])
    assert one.allows("192.168.1.20:8050") and one.allows("kapmon.clinic.lan:8050")
    assert one.allows(f"{socket.gethostname()}:8050")
    assert not one.allows("192.168.1.21:8050") and not one.allows("evil.example:8050")
    assert not one.allows("localhost:8050")
    anywhere = HostCheck("0.0.0.0", 8060)
    assert anywhere.allows("10.1.2.3:8060") and anywhere.allows("[fe80::1]:8060")
    assert not anywhere.allows("evil.example:8060") and not anywhere.allows("10.1.2.3:8050")
    assert HostCheck("0.0.0.0", 80).allows("10.1.2.3")
    behind_proxy = HostCheck("127.0.0.1", 8050, ["kapmon.clinic.lan"])  # a TLS proxy forwards its own name
    assert behind_proxy.allows("kapmon.clinic.lan") and behind_proxy.allows("kapmon.clinic.lan:443")
    assert behind_proxy.allows("localhost:8050") and not behind_proxy.allows("other.clinic.lan")


def test_split_host():
    assert split_host("LocalHost:8050") == ("localhost", 8050)
    assert split_host("[::1]:8050") == ("::1", 8050)
    assert split_host("example.org.") == ("example.org", None)
    assert split_host("a:b") is None and split_host("[::1]x") is None and split_host("") is None


# --- cross-site requests ------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{"Origin": "http://attacker.example"}, {"Origin": "null"},
                                     {"Origin": "http://localhost:8051"},
                                     {"Referer": "http://attacker.example/page.html"}])
def test_a_cross_site_post_is_refused(client, headers):
    r = client.post("/_dash-update-component", json=CALLBACK, headers={**at("localhost:8050"), **headers})
    assert r.status_code == 403


@pytest.mark.parametrize("headers", [{"Origin": "http://localhost:8050"}, {"Referer": "http://localhost:8050/live/x"},
                                     {}])
def test_a_same_site_post_goes_through(client, headers):
    r = client.post("/_dash-update-component", json=CALLBACK, headers={**at("localhost:8050"), **headers})
    assert r.status_code == 200


def test_same_origin():
    here = HostCheck("127.0.0.1", 8050)
    assert same_origin("http://localhost:8050", None, here) and same_origin("http://127.0.0.1:8050", None, here)
    assert same_origin(None, "http://localhost:8050/x?y", here)
    assert not same_origin("http://localhost:8051", None, here) and not same_origin("http://evil.example", None, here)
    assert not same_origin("file://", None, here) and not same_origin("null", None, here)
    assert same_origin(None, None, here)
    proxied = HostCheck("127.0.0.1", 8050, ["kapmon.clinic.lan"])  # nginx forwarding Host 127.0.0.1:8050
    assert same_origin("https://kapmon.clinic.lan", None, proxied)


# --- the served apps -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served(args: list[str], port: int):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli.main", *args, "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # the command prints its address once it is about to serve
        if "http://" in line:
            break
    return proc


def fetch(port: int, host: str, method: str = "GET", path: str = "/", headers: dict | None = None):
    for _ in range(100):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, path, headers={"Host": host, **(headers or {})}, body=b"{}" if method == "POST" else None)
            r = conn.getresponse()
            r.read()
            return r
        except ConnectionRefusedError:
            time.sleep(0.1)  # the server is binding; connection attempts, not a timed assert
        finally:
            conn.close()
    raise AssertionError("server never answered")


@pytest.mark.parametrize("command", [["demo"], ["central", "--broker", "mqtt://127.0.0.1:1"]])
def test_the_bedside_and_central_servers_check_hosts_and_set_headers(tmp_path, command):
    port = free_port()
    proc = served([*command, "--db", str(tmp_path / "k.db")], port)
    try:
        ok = fetch(port, f"localhost:{port}")
        assert ok.status == 200 and ok.getheader("X-Frame-Options") == "DENY"
        assert ok.getheader("Cache-Control") == "no-store"
        assert fetch(port, f"rebind.attacker.example:{port}").status == 400
        cross = fetch(port, f"localhost:{port}", "POST", "/_dash-update-component",
                      {"Origin": "http://attacker.example", "Content-Type": "application/json"})
        assert cross.status == 403
    finally:
        proc.terminate()
        proc.wait(10)
