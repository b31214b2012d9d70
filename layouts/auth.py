"""Sign-in for the pages: HTTP Basic against the users file's password hashes, on every request.

The check is a Flask ``before_request`` hook on the app's server, so it covers every route Dash
registers: the pages, ``/_dash-layout``, ``/_dash-dependencies``, ``/_dash-update-component``, the
component bundles and ``/assets/``. Sign-ins (and failed attempts) go to the store's audit log; the
signed-in name is who acknowledges, pauses audio, doses and notes on the live page.
"""

from __future__ import annotations

import hashlib
import time

from dash import Dash
from flask import Response, g, has_request_context, request

from monitor.store import Store
from monitor.users import Users

REALM = "kapmon"
SIGN_IN_IDLE_S = 30 * 60  # a sign-in is logged again after this long without requests
FAILED_LOG_EVERY_S = 60.0  # failed attempts are logged at most this often per name and address
_CACHE_MAX = 256


def signed_in_user() -> str | None:
    """The name of the user this request signed in as, or None (sign-in off, or outside a request)."""
    if not has_request_context():
        return None
    return g.get("kapmon_user")


class BasicAuth:
    """Checks each request's HTTP Basic credentials; verified credentials are remembered by digest so
    the (deliberately slow) password hash runs once per user and password, not once per request."""

    def __init__(self, users: Users, store: Store | None) -> None:
        self.users = users
        self.store = store
        self._verified: dict[bytes, str] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._failed: dict[tuple[str, str], float] = {}

    def check(self) -> Response | None:
        auth = request.authorization
        name = password = None
        if auth is not None and auth.type == "basic":
            name, password = auth.username or "", auth.password or ""
        if name is None or password is None:
            return self._challenge()
        key = hashlib.sha256(f"{self.users.hashes.get(name, '')}\0{name}\0{password}".encode()).digest()
        if self._verified.get(key) != name:
            if not self.users.verify(name, password):
                self._audit_failed(name)
                return self._challenge()
            if len(self._verified) >= _CACHE_MAX:
                self._verified.clear()
            self._verified[key] = name
        g.kapmon_user = name
        self._audit_sign_in(name)
        return None

    def _challenge(self) -> Response:
        return Response("Sign-in required.\n", 401, {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})

    def _audit_sign_in(self, name: str) -> None:
        now = time.time()
        where = (name, request.remote_addr or "")
        last = self._seen.get(where)
        self._seen[where] = now
        if (last is None or now - last > SIGN_IN_IDLE_S) and self.store is not None:
            self.store.write_audit(now, "sign_in", name, {"address": where[1]})

    def _audit_failed(self, name: str) -> None:
        now = time.time()
        where = (name, request.remote_addr or "")
        if now - self._failed.get(where, 0.0) < FAILED_LOG_EVERY_S:
            return
        if len(self._failed) >= _CACHE_MAX:
            self._failed.clear()
        self._failed[where] = now
        if self.store is not None:
            self.store.write_audit(now, "sign_in_failed", name[:64], {"address": where[1]})


def protect(app: Dash, users: Users, store: Store | None = None) -> BasicAuth:
    """Require sign-in as one of ``users`` for every request ``app`` serves."""
    auth = BasicAuth(users, store)
    app.server.before_request(auth.check)
    return auth
