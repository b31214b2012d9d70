"""Who may sign in to the pages: a users file of password hashes (``kapmon user add``, ``user remove``).

One line per user, ``name:scrypt$N$r$p$salt$hash`` (hex). Passwords are never stored, never taken on
the command line and never logged; only scrypt hashes with a per-user random salt are kept. The file is
created readable by its owner only. A running server re-reads the file when it changes on disk
(``UsersFile``), so a removed user or a changed password stops working without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 8
NAME_MAX = 64
NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._@-]{{0,{NAME_MAX - 1}}}$")


class UsersError(Exception):
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
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=256 * 1024 * 1024, dklen=len(digest) // 2)
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


@dataclass(frozen=True)
class Users:
    """The users who may sign in, by name, with their password hashes."""

    path: Path
    hashes: dict[str, str]

    @classmethod
    def load(cls, path: str | Path) -> Users:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsersError(f"{path}: cannot read the users file ({exc.strerror or exc})") from None
        hashes: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, stored = line.strip().partition(":")
            if not sep or not NAME.match(name) or not stored.startswith("scrypt$") or stored.count("$") != 5:
                raise UsersError(f"{path}, line {number}: expected 'name:scrypt$N$r$p$salt$hash'")
            hashes[name] = stored
        return cls(path, hashes)

    def verify(self, name: str, password: str) -> bool:
        stored = self.hashes.get(name)
        if stored is None:
            verify_password(DUMMY_HASH, password)  # same cost whether or not the name exists
            return False
        return verify_password(stored, password)


DUMMY_HASH = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


def add_user(path: str | Path, name: str, password: str) -> bool:
    """Add ``name`` (or replace its password); returns whether the user is new. The file is owner-only."""
    path = Path(path)
    check_name(name)
    check_password(password)
    users = Users.load(path).hashes if path.exists() else {}
    new = name not in users
    users[name] = hash_password(password)
    _write(path, users)
    return new


def remove_user(path: str | Path, name: str) -> None:
    """Remove ``name`` from the users file; ``UsersError`` if the file has no such user."""
    path = Path(path)
    users = Users.load(path).hashes
    if users.pop(name, None) is None:
        raise UsersError(f"{path}: no user {name!r} (users: {', '.join(users) or 'none'})")
    _write(path, users)


def _write(path: Path, users: dict[str, str]) -> None:
    """Replace the users file in one step (readers see the old or the new file, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# kapmon users: name:scrypt hash (kapmon user add)\n")
        f.writelines(f"{n}:{h}\n" for n, h in users.items())
    os.replace(tmp, path)


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
