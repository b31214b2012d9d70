"""Live push: a WebSocket per open live page that says when its session has news, so the page ticks at once
instead of at its next 1-s poll.

``/push/<session id>`` carries only a count (the live read model's count of snapshots that brought news,
``LiveView.news_count``), never a reading: the page's tick still reads what is new after its cursor, through
the same callback as the poll. The poll stays: it is what updates the page whenever this channel is down,
refused or blocked, and the freshness watchdog is the page's own.

It is a route of the app's own server, so the Host check, the same-origin check (a WebSocket handshake from
another site's page is refused: ``layouts.security``) and sign-in apply to it as to every page. A stream
carries one session, the one in its address, recorded in this process. Each viewer holds one request thread
and the WebSocket's reader thread, and waits on one event that the read model sets on news (nothing queues,
so a slow or stalled viewer only ever delays itself) and the WebSocket sets when the viewer goes. A viewer
that stops answering pings, or whose socket takes more than ``SEND_TIMEOUT_S`` to take a message, is closed
and its threads end. At most ``MAX_VIEWERS`` are connected at once; past that a page is refused (503) and
keeps polling.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping

from dash import Dash
from flask import Response, request
from simple_websocket import ConnectionClosed, Server
from werkzeug.datastructures import Headers

from monitor.session.hub import Hub

log = logging.getLogger(__name__)

PATH = "/push/"
# Design proposal: 8 rooms with a live page on up to 4 screens each. Each viewer costs two threads.
MAX_VIEWERS = 32
PING_S = 20.0  # a viewer that has not answered a ping within this many seconds is closed
SEND_TIMEOUT_S = 10.0  # a viewer whose socket does not take a message within this long is closed
WAIT_S = 1.0  # how often a waiting stream checks that its viewer and its session's recorder are still there


class Viewers:
    """How many push connections are open, never more than ``limit`` (thread-safe)."""

    def __init__(self, limit: int = MAX_VIEWERS) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Take a place for one more viewer; False when all ``limit`` are taken."""
        with self._lock:
            if self.count >= self.limit:
                return False
            self.count += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.count -= 1


def is_websocket(headers: Headers) -> bool:
    """Whether a request asks to become a WebSocket (``Upgrade: websocket``, ``Connection: upgrade``)."""
    connection = {token.strip().lower() for token in headers.get("Connection", "").split(",")}
    return headers.get("Upgrade", "").strip().lower() == "websocket" and "upgrade" in connection


def recording(live: Mapping[str, Hub], session_id: str) -> Hub | None:
    """The hub recording ``session_id`` in this process, or None."""
    hub = live.get(session_id)
    return hub if hub is not None and not hub.finished.is_set() else None


def stream(ws: Server, hub: Hub, current: Mapping[str, Hub], wake: threading.Event, wait_s: float = WAIT_S) -> None:
    """Send the news count of ``hub``'s read model to ``ws`` at once, then each time it moves, until the
    viewer goes, the recorder stops or another hub records the session (the page then reconnects).
    ``wake`` is set by the read model on news and by the WebSocket when the viewer closes or goes."""
    seen = -1
    session_id = hub.session.id
    with hub.view.watching(wake):
        while ws.connected and not hub.finished.is_set() and current.get(session_id) is hub:
            count = hub.view.news_count
            if count != seen:
                ws.send(str(count))
                seen = count
            wake.wait(wait_s)
            wake.clear()  # news after this is in the count read next


class Closed(Response):
    """What the view returns once its WebSocket has ended: the connection is the WebSocket's, so nothing
    more is written to it (the server only closes it)."""

    def __call__(self, environ: dict, start_response: object) -> list[bytes]:
        raise ConnectionAbortedError("WebSocket closed")


def register(app: Dash, live: Mapping[str, Hub], viewers: Viewers | None = None, ping_s: float = PING_S) -> Viewers:
    """Serve ``/push/<session id>`` on ``app`` for the sessions recorded in ``live``; returns the bound in force."""
    bound = viewers or Viewers()

    @app.server.route(PATH + "<session_id>", websocket=True)  # anything but a WebSocket handshake gets 400
    def push(session_id: str) -> Response:
        hub = recording(live, session_id)
        if hub is None:
            return Response(f"Session {session_id[:64]!r} is not being recorded here: nothing to push.\n", 404)
        if not bound.take():
            busy = f"Too many live pages connected for updates (at most {bound.limit}): this page updates every second.\n"
            return Response(busy, 503, {"Retry-After": "30"})
        try:
            wake = threading.Event()
            ws = Server(request.environ, ping_interval=ping_s, event_class=lambda: wake)
            ws.sock.settimeout(SEND_TIMEOUT_S)
            try:
                stream(ws, hub, live, wake)
            except (ConnectionClosed, OSError):
                pass  # the viewer went, or stalled past SEND_TIMEOUT_S
            finally:
                close(ws)
        finally:
            bound.give_back()
        return Closed()

    return bound


def close(ws: Server) -> None:
    """Close ``ws`` if it is still open (a viewer that is gone cannot be told)."""
    with contextlib.suppress(ConnectionClosed, OSError):
        ws.close()
