"""Sign-in for the pages: HTTP Basic against the users file's password hashes, on every request.

The check is a Flask ``before_request`` hook on the app's server, so it covers every route Dash
registers: the pages, ``/_dash-layout``, ``/_dash-dependencies``, ``/_dash-update-component``, the
component bundles and ``/assets/``. The signed-in name is who acknowledges, pauses audio, doses,
notes and ends a session on the pages; its role in the users file (read afresh on each request) says
whether it may override a dosing block or gate (``monitor.auth.users.who_overrides``).

Guessing is slowed and bounded: failures are counted per account and per client address and lock
either out for a while (``monitor.auth.lockout``); at most ``MAX_VERIFYING`` passwords are hashed at once
(scrypt takes 16 MiB each), the rest wait their turn or, past ``MAX_QUEUED``, are refused before any
hashing. Credentials already verified are remembered by digest, so a nurse's signed-in browser is
never cut off by someone else's lockout and the slow hash runs once per user and password. Sign-ins,
every failure (with counts) and every lockout go to the store's audit log. The users file is re-read
when it changes on disk.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dash import Dash
from flask import Response, g, has_request_context, request

from devices.patient import person
from monitor.auth.lockout import Lockout
from monitor.auth.users import NAME_MAX, Users, UsersFile
from monitor.session.store import Store

log = logging.getLogger(__name__)

REALM = "kapmon"
SIGN_IN_IDLE_S = 30 * 60  # a sign-in is logged again after this long without requests
_CACHE_MAX = 256
# Design proposal: scrypt (N=2^14, r=8) needs 16 MiB per hash; two at once bounds the memory guessing can
# take to ~32 MiB on the 2-core machines kapmon runs on. A sign-in waits up to WAIT_S for its turn.
MAX_VERIFYING = 2
MAX_QUEUED = 32
WAIT_S = 10.0


def signed_in_user() -> str | None:
    """The name of the user this request signed in as, or None (sign-in off, or outside a request)."""
    if not has_request_context():
        return None
    return g.get("kapmon_user")


def signed_in_role() -> str | None:
    """The role (physician, nurse, trainer) of the user this request signed in as, or None."""
    if not has_request_context():
        return None
    return g.get("kapmon_role")


def acting_user(typed: str | None) -> str | None:
    """Who acts: the signed-in user when sign-in is on, else the name typed on the page (None if blank)."""
    user = signed_in_user()
    if user is not None:
        return user
    return person(typed)


def _credentials() -> tuple[str, str] | None:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    return auth.username or "", auth.password or ""


class BasicAuth:
    """Checks each request's HTTP Basic credentials (see the module docstring)."""

    def __init__(self, users: Users | UsersFile, store: Store | None, lockout: Lockout | None = None) -> None:
        self.users = users if isinstance(users, UsersFile) else UsersFile(users)
        self.store = store
        self.lockout = lockout or Lockout()
        self._guard = threading.Lock()
        self._verifying = threading.Semaphore(MAX_VERIFYING)
        self._queued = 0
        self._verified: dict[bytes, str] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._users_error: str | None = None

    def check(self) -> Response | None:
        """The ``before_request`` hook: None to go on, or the response refusing the request."""
        credentials = _credentials()
        if credentials is None:
            return self._challenge()
        name, password = credentials
        name = name[: NAME_MAX + 1]  # longer is no user's name; kept short in the counts and the audit log
        users = self._current_users()
        key = hashlib.sha256(f"{users.hashes.get(name, '')}\0{name}\0{password}".encode()).digest()
        if self._verified.get(key) != name:
            refusal = self._verify(users, name, password, key)
            if refusal is not None:
                return refusal
        g.kapmon_user, g.kapmon_role = name, users.role(name)
        self._audit_sign_in(name)
        return None

    def _current_users(self) -> Users:
        users = self.users.current()
        error = self.users.error
        if error is not None and error != self._users_error:
            log.error("users file unusable, the last good list stays in force: %s", error)
            self._audit("users_file_error", None, error=error)
        self._users_error = error
        return users

    def _verify(self, users: Users, name: str, password: str, key: bytes) -> Response | None:
        """Check a password not verified before: refused while its account or address is locked; hashed
        only when a verification slot is free."""
        address = request.remote_addr or ""
        refusal = self._refuse_if_locked(name, address)
        if refusal is not None:
            return refusal
        with self._slot() as got:
            if not got:
                return Response("Too many sign-ins at once: try again in a moment.\n", 503, {"Retry-After": "5"})
            if self._verified.get(key) == name:
                return None  # the same credentials were verified while this request waited
            refusal = self._refuse_if_locked(name, address)
            if refusal is not None:
                return refusal
            ok = users.verify(name, password)
        if not ok:
            self._failed(name, address)
            return self._challenge()
        with self._guard:
            self.lockout.succeed(f"account:{name}")
            if len(self._verified) >= _CACHE_MAX:
                self._verified.clear()
            self._verified[key] = name
        return None

    @contextmanager
    def _slot(self) -> Iterator[bool]:
        """A turn to hash a password: True once one of ``MAX_VERIFYING`` slots is free, False if the
        queue is full or the wait too long."""
        with self._guard:
            full = self._queued >= MAX_QUEUED
            if not full:
                self._queued += 1
        if full:
            yield False
            return
        try:
            got = self._verifying.acquire(timeout=WAIT_S)
            try:
                yield got
            finally:
                if got:
                    self._verifying.release()
        finally:
            with self._guard:
                self._queued -= 1

    def _refuse_if_locked(self, name: str, address: str) -> Response | None:
        now = time.time()
        with self._guard:
            left = max(self.lockout.locked_for(f"account:{name}", now), self.lockout.locked_for(f"address:{address}", now))
        if not left:
            return None
        minutes = max(1, round(left / 60))
        return Response(f"Too many failed sign-ins: try again in {minutes} min.\n", 429, {"Retry-After": str(int(left) + 1)})

    def _failed(self, name: str, address: str) -> None:
        now = time.time()
        with self._guard:
            by_account = self.lockout.fail(f"account:{name}", now)
            by_address = self.lockout.fail(f"address:{address}", now)
        self._audit("sign_in_failed", name, address=address, failures_account=by_account.count, failures_address=by_address.count)
        for scope, failure in (("account", by_account), ("address", by_address)):
            if failure.locked:
                self._audit(
                    "sign_in_locked", name, scope=scope, address=address, failures=failure.count, lock_s=self.lockout.lock_s
                )

    def _challenge(self) -> Response:
        return Response("Sign-in required.\n", 401, {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})

    def _audit(self, action: str, who: str | None, **detail: object) -> None:
        if self.store is not None:
            self.store.write_audit(time.time(), action, who, detail)

    def _audit_sign_in(self, name: str) -> None:
        now = time.time()
        where = (name, request.remote_addr or "")
        last = self._seen.get(where)
        self._seen[where] = now
        if last is None or now - last > SIGN_IN_IDLE_S:
            self._audit("sign_in", name, address=where[1])


def protect(app: Dash, users: Users, store: Store | None = None) -> BasicAuth:
    """Require sign-in as one of ``users`` (re-read when their file changes) for every request ``app`` serves."""
    auth = BasicAuth(users, store)
    app.server.before_request(auth.check)
    return auth
