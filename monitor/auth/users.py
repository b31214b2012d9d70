"""Who may sign in to the pages, and in which role: a users file of password hashes (``kapmon user add``,
``user remove``).

One line per user, ``name:role:scrypt$N$r$p$salt$hash`` (hex); a line without a role,
``name:scrypt$...`` (files written before roles), is a nurse. Roles: ``physician`` (may override a
dosing block or gate), ``nurse``, ``trainer``. Passwords are never stored, never taken on the command
line and never logged; only scrypt hashes with a per-user random salt are kept. The file is created
readable by its owner only. A running server re-reads the file when it changes on disk (``UsersFile``),
so a removed user, a changed password or a changed role takes effect without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from devices.errors import KapmonError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 8
NAME_MAX = 64
NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._@-]{{0,{NAME_MAX - 1}}}$")
PHYSICIAN, NURSE, TRAINER = "physician", "nurse", "trainer"
ROLES = (PHYSICIAN, NURSE, TRAINER)
DEFAULT_ROLE = NURSE  # the least a new account (or one from a file without roles) may do
LINE_FORMAT = "name:role:scrypt$N$r$p$salt$hash"


class UsersError(KapmonError):
    """A users file or entry that cannot be used; the message says which line and why."""


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=256 * 1024 * 1024,
            dklen=len(digest) // 2,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise UsersError(f"user name {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-' (no spaces or ':')")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsersError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    return role


def parse_line(line: str) -> tuple[str, str, str]:
    """``(name, role, hash)`` of a users file line (role nurse when the line has none); ``UsersError`` if malformed."""
    fields = line.strip().split(":")
    if len(fields) == 2:
        fields.insert(1, DEFAULT_ROLE)
    if len(fields) != 3 or not NAME.match(fields[0]) or not fields[2].startswith("scrypt$") or fields[2].count("$") != 5:
        raise UsersError(f"expected {LINE_FORMAT!r}")
    name, role, stored = fields
    return name, check_role(role), stored


@dataclass(frozen=True)
class Users:
    """The users who may sign in, by name, with their password hashes and roles."""

    path: Path
    hashes: dict[str, str]
    roles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Users:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsersError(f"{path}: cannot read the users file ({exc.strerror or exc})") from None
        hashes: dict[str, str] = {}
        roles: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                name, role, stored = parse_line(line)
            except UsersError as exc:
                raise UsersError(f"{path}, line {number}: {exc}") from None
            hashes[name], roles[name] = stored, role
        return cls(path, hashes, roles)

    def role(self, name: str) -> str | None:
        """The user's role (nurse unless the file says otherwise), or None for no such user."""
        return self.roles.get(name, DEFAULT_ROLE) if name in self.hashes else None

    def verify(self, name: str, password: str) -> bool:
        stored = self.hashes.get(name)
        if stored is None:
            verify_password(DUMMY_HASH, password)  # same cost whether or not the name exists
            return False
        return verify_password(stored, password)


DUMMY_HASH = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


def add_user(path: str | Path, name: str, password: str | None, role: str | None = None) -> bool:
    """Add ``name``, or change an existing user's password and/or role: ``password`` None keeps their
    password, ``role`` None keeps their role (a new user is a nurse unless ``role`` says otherwise).
    Returns whether the user is new. The file is readable by its owner only."""
    path = Path(path)
    check_name(name)
    if role is not None:
        check_role(role)
    users = Users.load(path) if path.exists() else Users(path, {})
    new = name not in users.hashes
    if password is not None or new:
        users.hashes[name] = hash_password(check_password(password or ""))
    users.roles[name] = role or users.roles.get(name, DEFAULT_ROLE)
    _write(users)
    return new


def remove_user(path: str | Path, name: str) -> None:
    """Remove ``name`` from the users file; ``UsersError`` if the file has no such user."""
    users = Users.load(path)
    if users.hashes.pop(name, None) is None:
        raise UsersError(f"{users.path}: no user {name!r} (users: {', '.join(users.hashes) or 'none'})")
    _write(users)


def _write(users: Users) -> None:
    """Replace the users file in one step (readers see the old or the new file, never half of one)."""
    path = users.path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# kapmon users: name:role:scrypt hash (kapmon user add)\n")
        f.writelines(f"{n}:{users.role(n)}:{h}\n" for n, h in users.hashes.items())
    os.replace(tmp, path)


def who_overrides(account: str | None, role: str | None, typed: str) -> tuple[str, bool]:
    """Who a physician's override of a dosing block or gate is recorded under, and whether that name is
    verified: with sign-in on (``account`` signed in, in ``role``), the account, which must be a
    physician's (``ValueError`` otherwise, whatever name was typed); with sign-in off, the name typed on
    the page, unverified."""
    if account is None:
        return typed.strip(), False
    if role != PHYSICIAN:
        raise ValueError(
            f"{account} is signed in as a {role or 'user without a role'}, and only a physician may "
            "override a block or gate: a physician must sign in to record it"
        )
    return account, True


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class UsersFile:
    """The users file as it is on disk now. ``current()`` re-reads it when it has changed (inode,
    modification time or size), so removing a user or changing a password takes effect at the next
    request. A file that can no longer be read or parsed leaves the last good list in force (an
    editing mistake must not lock every nurse out of a running session); ``error`` says why."""

    def __init__(self, users: Users) -> None:
        self.path = users.path
        self._users = users
        self._stamp = _stamp(users.path)
        self._lock = threading.Lock()
        self.error: str | None = None

    def current(self) -> Users:
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return self._users
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._users, self.error = Users.load(self.path), None
                except UsersError as exc:
                    self.error = str(exc)
        return self._users
