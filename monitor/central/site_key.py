"""The site key: a secret shared by a site's bedsides and its central station, signing the commands on
``.../cmd`` and the answers on ``.../reply`` (HMAC-SHA256), so that a client of the broker without the key
can neither acknowledge an alarm nor make a bedside republish its session.

A signed message carries ``t`` (the sender's wall clock), ``nonce`` (random) and ``mac``: HMAC-SHA256 over
the topic and the message without ``mac`` (canonical JSON), so a message signed for one room is refused on
another. A receiver refuses a message whose MAC is missing or wrong, whose time is more than
``CLOCK_SKEW_S`` from its own clock, or whose nonce it has already seen (a replay).

The key is 32 random bytes, kept as 64 hex digits in a file only its owner may read (``site.key`` in the
kapmon data directory unless ``--site-key FILE`` names another), the same file on every machine of a site.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
from pathlib import Path

from devices.errors import KapmonError
from monitor.paths import data_dir

KEY_BYTES = 32  # RFC 2104 section 3: a key at least as long as the hash output (32 bytes for SHA-256)
CLOCK_SKEW_S = 60.0  # design proposal: machines on NTP agree within a second; 60 s tolerates a drifting one
NONCES_MAX = 100_000  # design proposal: far more signed messages than a site sends in 2 x CLOCK_SKEW_S
FILE_NAME = "site.key"


class SiteKeyError(KapmonError, ValueError):
    """A site key file kapmon cannot use; the message says why and what to do."""


def default_key_path() -> Path:
    return data_dir() / FILE_NAME


def create_key(path: str | Path) -> bytes:
    """Write a new random key to ``path`` (owner-only); refuses to replace an existing file. The file appears
    whole or not at all (written aside, then linked into place), so a process starting at the same moment
    reads either no key or this one."""
    path = Path(path)
    key = secrets.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key.hex() + "\n")
        os.link(aside, path)
    except FileExistsError:
        raise SiteKeyError(f"{path} exists already: kapmon never replaces a site key") from None
    finally:
        aside.unlink()
    return key


def load_key(path: str | Path) -> bytes:
    """The key in ``path``: 64 hex digits, in a file no one but its owner may read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteKeyError(f"cannot read the site key {path}: {exc}") from None
    if os.name == "posix" and mode & 0o077:
        raise SiteKeyError(f"the site key {path} is readable by other users: chmod 600 {path}")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise SiteKeyError(
            f"{path}: a site key is {KEY_BYTES * 2} hex digits (make one with: umask 077; openssl rand -hex {KEY_BYTES} > {path})"
        )
    return key


def site_key(path: str | Path | None, loopback: bool) -> bytes:
    """The key named by ``--site-key``, else the default file; made there on first use for a broker on
    this machine only (elsewhere a fresh key could never match the other machines')."""
    if path is not None:
        return load_key(path)
    default = default_key_path()
    if loopback and not default.exists():
        try:
            return create_key(default)
        except SiteKeyError:
            pass  # another kapmon on this machine made it a moment ago
    if default.exists():
        return load_key(default)
    raise SiteKeyError(
        f"commands between bedsides and the central station are signed with the site's key: copy the site key "
        f"to {default} or give --site-key FILE (the same file on every bedside and the central station)"
    )


def _mac(key: bytes, topic: str, message: dict) -> str:
    body = json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hmac.new(key, topic.encode() + b"\n" + body.encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, topic: str, message: dict, now: float) -> dict:
    """``message`` with its time, a fresh nonce and the MAC over both and ``topic``."""
    signed = {**message, "t": now, "nonce": secrets.token_hex(12)}
    signed["mac"] = _mac(key, topic, signed)
    return signed


class Verifier:
    """Checks signed messages for one key and remembers their nonces while they could still be replayed."""

    def __init__(self, key: bytes, skew_s: float = CLOCK_SKEW_S) -> None:
        self._key = key
        self._skew_s = skew_s
        self._seen: dict[str, float] = {}  # nonce -> when it can be forgotten
        self._lock = threading.Lock()

    def refusal(self, topic: str, message: dict, now: float) -> str | None:
        """Why ``message`` on ``topic`` is refused, or None when it is authentic, current and new."""
        if "mac" not in message:
            return "not signed with the site key"
        if not is_signed_by(self._key, topic, message):
            return "wrong signature (not this site's key)"
        t, nonce = message.get("t"), message.get("nonce")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            return "no time in the signed message"
        if abs(now - t) > self._skew_s:
            return f"sent {now - t:+.0f} s from this machine's clock (more than {self._skew_s:g} s): check NTP"
        if not isinstance(nonce, str) or not nonce:
            return "no nonce in the signed message"
        with self._lock:
            if nonce in self._seen:
                return "a replay of a message already received"
            if len(self._seen) >= NONCES_MAX:
                self._seen = {n: until for n, until in self._seen.items() if until > now}
                if len(self._seen) >= NONCES_MAX:
                    return "too many signed messages to remember: refused until older ones expire"
            self._seen[nonce] = t + 2 * self._skew_s
        return None


def is_signed_by(key: bytes, topic: str, message: dict) -> bool:
    """Whether ``message`` carries a valid MAC for ``key`` (time and replay not checked)."""
    mac = message.get("mac")
    if not isinstance(mac, str):
        return False
    try:
        return hmac.compare_digest(mac, _mac(key, topic, {k: v for k, v in message.items() if k != "mac"}))
    except ValueError:
        return False
