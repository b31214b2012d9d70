"""The live page's push channel (``layouts.push``) on a real threaded server, over real sockets: who may
open it, what it carries, and that a viewer that stalls or goes never holds up the hub or another viewer."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from devices.reading import reading
from layouts import push
from layouts.app import create_app
from layouts.security import secure
from monitor.allocator import Releaser
from monitor.auth.users import Users, add_user
from monitor.cli.serving import PageServer
from monitor.session.hub import Hub
from monitor.session.start import start_session
from monitor.session.store import Store
from tests.helpers import Idle, open_files, wait_for

PASSWORD = "correct horse battery"


class Served:
    """A store, two running sessions and the pages served on a loopback port, as ``kapmon`` serves them."""

    def __init__(self, store: Store, hubs: list[Hub], server, viewers: push.Viewers) -> None:
        self.store, self.hubs, self.server, self.viewers = store, hubs, server, viewers
        self.port = server.server_port
        self.host = f"127.0.0.1:{self.port}"


@contextmanager
def served(
    tmp_path, users: Users | None = None, limit: int = push.MAX_VIEWERS, ping_s: float = push.PING_S, releaser: Releaser | None = None
) -> Iterator[Served]:
    store = Store(tmp_path / "k.db")
    hubs = [start_session(store, [Idle()], patient=f"P-{n}", route="iv", weight_kg=70.0) for n in range(2)]
    live = {h.session.id: h for h in hubs}
    app = create_app(store, live, push=False)
    viewers = push.register(app, live, push.Viewers(limit), ping_s)
    server = PageServer("127.0.0.1", 0, app.server, releaser=releaser)
    secure(app, "127.0.0.1", server.server_port, users, store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(store, hubs, server, viewers)
    finally:
        server.shutdown()
        for hub in hubs:
            hub.stop()


def handshake(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, socket.socket]:
    """Ask for a WebSocket as a browser does; the status, the rest of the head and the open socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = [f"GET {path} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return int(head.split(b" ", 2)[1]), head, sock


class Viewer:
    """A browser's end of the channel: sends the handshake, reads the server's (unmasked) frames, answers
    pings and closes as RFC 6455 asks."""

    def __init__(self, s: Served, hub: Hub, headers: dict[str, str] | None = None) -> None:
        status, head, self.sock = handshake(s.port, f"/push/{hub.session.id}", {"Host": s.host, **(headers or {})})
        assert status == 101, head
        self.buffer = head.split(b"\r\n\r\n", 1)[1]
        self.open = True

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self, timeout: float) -> str | None:
        """The next text message, or None if none comes within ``timeout`` (or the server closed)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                first, second = self._read(2)
                size = second & 0x7F
                if size == 126:
                    size = int.from_bytes(self._read(2), "big")
                payload = self._read(size)
                opcode = first & 0x0F
                if opcode == 0x9:
                    self._send(0xA, payload)
                elif opcode == 0x8:
                    self.open = False
                    return None
                elif opcode == 0x1:
                    return payload.decode()
        except (TimeoutError, ConnectionError):
            if not self.buffer:
                self.open = self.open and self.sock.fileno() >= 0
            return None

    def closed_by_server(self, timeout: float) -> bool:
        """Whether the server closes the channel within ``timeout`` (messages before that are read)."""
        while self.receive(timeout) is not None:
            continue  # a message before the close: read past it
        return not self.open

    def close(self) -> None:
        self._send(0x8, (1000).to_bytes(2, "big"))
        self.sock.close()


def refused(s: Served, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """The status and whole response of a handshake the server refuses (it closes the connection)."""
    status, head, sock = handshake(s.port, path, headers)
    with sock:
        while chunk := sock.recv(4096):
            head += chunk
    return status, head


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def news_after(ws: Viewer, seen: int) -> int:
    """The first count ``ws`` is sent past ``seen`` (fails if none comes)."""
    while True:
        text = ws.receive(timeout=10)
        assert text is not None, f"no news past {seen}"
        if int(text) > seen:
            return int(text)


def news_past(hub: Hub, seen: int) -> int:
    """The hub's news count once it is past ``seen`` (fails if it does not get there)."""
    wake = threading.Event()
    with hub.view.watching(wake):
        while hub.view.news_count <= seen:
            assert wake.wait(10), f"no news past {seen}"
            wake.clear()
    return hub.view.news_count


def add_hr(hub: Hub, value: float) -> None:
    hub.add_readings([reading(hub.now(), "hr", value, "test")])


# --- who may open it ----------------------------------------------------------------------------------

def test_without_sign_in_the_channel_is_refused(tmp_path):
    add_user(tmp_path / "users", "nurse.k", PASSWORD)
    with served(tmp_path, Users.load(tmp_path / "users")) as s:
        path = f"/push/{s.hubs[0].session.id}"
        status, head = refused(s, path, {"Host": s.host})
        assert status == 401 and b"WWW-Authenticate" in head
        assert refused(s, path, {"Host": s.host, "Authorization": basic("nurse.k", "wrong")})[0] == 401
        ws = Viewer(s, s.hubs[0], {"Authorization": basic("nurse.k", PASSWORD)})
        assert int(ws.receive(timeout=10)) >= 0  # signed in: the session's news count at once
        ws.close()


@pytest.mark.parametrize("host", ["attacker.example", "localhost:1", "rebound.example:8050"])
def test_a_handshake_for_another_host_is_refused(tmp_path, host):
    with served(tmp_path) as s:
        status, head = refused(s, f"/push/{s.hubs[0].session.id}", {"Host": host})
        assert status == 400 and b"answers only" in head


@pytest.mark.parametrize("origin", ["http://attacker.example", "null", "https://attacker.example:443"])
def test_a_handshake_from_another_sites_page_is_refused(tmp_path, origin):
    """A page of another site may open a WebSocket to any address (no CORS applies), with the credentials
    the browser holds for it: the Origin it carries is checked."""
    add_user(tmp_path / "users", "nurse.k", PASSWORD)
    with served(tmp_path, Users.load(tmp_path / "users")) as s:
        headers = {"Origin": origin, "Authorization": basic("nurse.k", PASSWORD)}
        status, head = refused(s, f"/push/{s.hubs[0].session.id}", {"Host": s.host, **headers})
        assert status == 403 and b"Cross-site" in head
        assert b"Access-Control-Allow-Origin" not in head
        ws = Viewer(s, s.hubs[0], {**headers, "Origin": f"http://{s.host}"})
        assert ws.receive(timeout=10) is not None
        ws.close()


def test_a_session_not_recorded_here_is_refused(tmp_path):
    with served(tmp_path) as s:
        status, head = refused(s, "/push/no-such-session", {"Host": s.host})
        assert status == 404 and b"not being recorded here" in head


# --- what it carries ------------------------------------------------------------------------------

def test_a_stream_carries_its_own_sessions_news_and_never_anothers(tmp_path):
    """The other session changes thirty times: this session's stream says only this session's counts (a few
    at most), and a reading of its own is told at once."""
    with served(tmp_path) as s:
        mine, other = s.hubs
        ws = Viewer(s, mine)
        first = ws.receive(timeout=10)
        assert first is not None and first.isdigit()  # a count: the stream carries no reading
        for value in range(60, 90):
            before = other.view.news_count
            add_hr(other, value)
            news_past(other, before)
        own = mine.view.news_count
        assert other.view.news_count >= 30 > own
        told = [int(first)]
        while (text := ws.receive(timeout=0.5)) is not None:
            told.append(int(text))
        assert told == sorted(set(told)) and told[-1] <= own, told
        add_hr(mine, 88)
        assert news_after(ws, told[-1]) == news_past(mine, told[-1])
        ws.close()


def test_a_recorder_that_stops_closes_its_streams(tmp_path):
    with served(tmp_path) as s:
        hub = s.hubs[0]
        ws = Viewer(s, hub)
        ws.receive(timeout=10)
        hub.stop()
        assert ws.closed_by_server(10), "the stream stays open after its recorder stopped"
        wait_for(lambda: s.viewers.count == 0, 10, "the viewer's place to be given back")
        assert refused(s, f"/push/{hub.session.id}", {"Host": s.host})[0] == 404  # a reconnect is told why


# --- viewers that stall or go ---------------------------------------------------------------------

def test_a_stalled_viewer_holds_up_neither_the_hub_nor_another_viewer_and_is_closed(tmp_path):
    """A viewer that opens the channel and then reads nothing, nor answers pings: the other viewer of the
    same session gets every change at once, the hub keeps flushing, and the stalled one is closed and its
    place given back once it misses a ping."""
    with served(tmp_path, ping_s=1.0) as s:
        hub = s.hubs[0]
        status, _head, stalled = handshake(s.port, f"/push/{hub.session.id}", {"Host": s.host})
        assert status == 101
        ws = Viewer(s, hub)
        seen = int(ws.receive(timeout=10))
        for value in range(70, 90):
            add_hr(hub, value)
            seen = news_after(ws, seen)
        assert hub.view.snapshot().latest["hr"].value == 89
        deadline = time.monotonic() + 15
        while s.viewers.count != 1:  # the other viewer answers pings meanwhile, as a browser does
            assert time.monotonic() < deadline, "the stalled viewer was not closed"
            ws.receive(timeout=0.2)
        assert ws.open
        stalled.close()
        ws.close()
        wait_for(lambda: s.viewers.count == 0, 15, "the last viewer's place to be given back")


def test_viewers_past_the_bound_are_refused_clearly_and_a_place_comes_back_when_one_goes(tmp_path):
    with served(tmp_path, limit=2) as s:
        hub = s.hubs[0]
        first, second = (Viewer(s, hub) for _ in range(2))
        status, head = refused(s, f"/push/{hub.session.id}", {"Host": s.host})
        assert status == 503 and b"at most 2" in head and b"Retry-After: 30" in head
        first.close()
        wait_for(lambda: s.viewers.count == 1, 10, "the closed viewer's place")
        third = Viewer(s, hub)
        assert third.receive(timeout=10) is not None
        second.close()
        third.close()


def test_viewers_that_come_and_go_leave_no_threads_behind(tmp_path):
    with served(tmp_path) as s:
        hub = s.hubs[0]
        before = threading.active_count()
        for _ in range(20):
            ws = Viewer(s, hub)
            ws.receive(timeout=10)
            ws.close()
        wait_for(lambda: s.viewers.count == 0, 10, "every viewer's place")
        wait_for(lambda: threading.active_count() <= before + 2, 15, "the viewers' threads to end")


def tick(s: Served, session_id: str, headers: dict[str, str]) -> dict:
    """Post the live page's tick for ``session_id`` on a new connection (answered in a new server thread);
    the response's cursor."""
    deps = json.loads(fetch(s, "GET", "/_dash-dependencies", None, headers))
    dep = next(d for d in deps if any(i["id"] == "tick" for i in d["inputs"]))
    outputs = [dict(zip(("id", "property"), o.split("."))) for o in dep["output"].strip(".").split("...")]
    body = {"output": dep["output"], "outputs": outputs, "changedPropIds": ["tick.n_intervals"],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}],
            "state": [{"id": "cursor", "property": "data", "value": {"session": session_id, "id": 0, "pleth": 0, "event": 0}}]}
    posted = {**headers, "Content-Type": "application/json"}
    return json.loads(fetch(s, "POST", "/_dash-update-component", json.dumps(body), posted))


def fetch(s: Served, method: str, path: str, body: str | None, headers: dict[str, str]) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        assert response.status == 200, response.status
        return response.read()
    finally:
        conn.close()


class CountingReleaser(Releaser):
    """Counts the connections that ended and the releases made."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.ended = 0
        super().__init__(after_s=0.2, release=self.released.set)

    def freed(self) -> None:
        self.ended += 1
        super().freed()


def test_memory_freed_by_pages_that_came_and_went_goes_back_to_the_system(tmp_path):
    releaser = CountingReleaser()
    with served(tmp_path, releaser=releaser) as s:
        for _ in range(10):  # a page's tick, each on a new connection
            tick(s, s.hubs[0].session.id, {"Host": s.host})
        assert releaser.released.wait(10)
        wait_for(lambda: releaser.ended >= 10, 10, "every connection's end")


def test_ticks_on_new_connections_leave_no_store_connections_behind(tmp_path):
    # The threaded server answers each connection in a new thread, and the store gives each thread its own
    # connection: pages that come and go must not leave one open (a file handle and a page cache) per request.
    with served(tmp_path) as s:
        hub = s.hubs[0]
        seen = hub.view.news_count
        add_hr(hub, 71)
        news_past(hub, seen)  # stored: each tick reads it
        headers = {"Host": s.host}
        assert tick(s, hub.session.id, headers)["response"]["cursor"]["data"]["id"] > 0
        before = open_files(s.store.path)
        for _ in range(40):
            tick(s, hub.session.id, headers)
        # the last request thread's (closed when the next thread opens one) and one SQLite may keep open while
        # other connections hold locks on the file
        assert open_files(s.store.path) <= before + 2
