"""One recorder per session: an operating-system lock held for as long as a recorder runs the session.

The lock is ``flock`` on ``<store>.locks/<session id>.lock`` (next to the store file), taken before the
session is created or resumed and released when its hub has finished. A second recorder (``kapmon
monitor --resume`` in another process, or a second hub in this one) is refused, naming the session and
the holder's pid, which the holder writes into the lock file.

Why ``flock``: the kernel drops the lock when the holder's process ends in any way (kill -9 and power
loss included), so a crashed recorder never leaves a stale lock and ``--resume`` works at once; and
unlike POSIX record locks (``fcntl.lockf``) it belongs to the open file, so it also refuses a second
hub in the same process and is not dropped when some other code closes the same file. It works on local
file systems (the store needs one anyway: SQLite's WAL mode does not work over a network file system).
Lock files are never deleted while kapmon runs (deleting one would let two recorders lock two different
files of the same name); they hold only a pid and may be removed when no recorder is running.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from pathlib import Path

from devices.errors import KapmonError

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class SessionLocked(KapmonError):
    """The session is being recorded by another recorder (or cannot be locked); the message says which."""


def lock_path(store_path: Path, session_id: str) -> Path:
    """``<store>.locks/<session id>.lock`` (a session id that is no safe file name is hashed)."""
    name = session_id if SAFE_NAME.fullmatch(session_id) else hashlib.sha256(session_id.encode()).hexdigest()
    return store_path.with_name(store_path.name + ".locks") / f"{name}.lock"


class SessionLock:
    """The recorder lock of one session, taken on construction (``SessionLocked`` if another holds it)."""

    def __init__(self, store_path: Path, session_id: str) -> None:
        self.path = lock_path(store_path, session_id)
        self.session_id = session_id
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SessionLocked(f"cannot lock session {session_id} for recording: {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder()
            self.release()
            raise SessionLocked(
                f"session {session_id} is being recorded by another kapmon recorder "
                f"({'pid ' + str(holder) if holder else 'pid unknown'}): stop that recorder first "
                "(a second one would record everything twice)"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def _holder(self) -> int | None:
        """The pid the holder wrote into the lock file (None while it has not yet)."""
        text = os.pread(self._fd, 32, 0).decode(errors="replace").strip() if self._fd is not None else ""
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        """Give the lock up (closing the file drops it); a second call does nothing."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def release_when_finished(self, finished: threading.Event) -> None:
        """Release the lock once ``finished`` is set (a hub's end), from a small waiting thread."""

        def wait_and_release() -> None:
            finished.wait()
            self.release()

        threading.Thread(target=wait_and_release, name=f"lock-{self.session_id}", daemon=True).start()

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
