"""The C allocator of a long-running kapmon process (glibc's malloc; with another C library nothing is done).

The page server answers each connection in a thread of its own. glibc gives new threads memory pools ("arenas")
of their own, up to 8 a core, each keeping what it once held: kapmon keeps one pool from its start
(:func:`bound_malloc_arenas`). Even one pool keeps the pages a connection's thread freed inside its heap, so
after connections end the page server gives the free pages back to the system (:class:`Releaser`).
``benchmarks/bench_load.py`` measures both (``--unbounded-arenas``, ``--no-release``).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

# One shared pool: 8 viewers connecting cost the server 10-11 MB with a pool per thread and half that with one
# (benchmarks/bench_load.py, with and without). Design proposal; MALLOC_ARENA_MAX in the environment overrides it.
MALLOC_ARENAS = 1
M_ARENA_MAX = -8  # glibc's mallopt parameter number

# How long after a connection ends its freed memory goes back to the system, and so the shortest time between
# two releases: a release walks the whole heap under the allocator's lock (5-20 ms for 170-450 MB here), so
# connections ending together are served by one. Design proposal: rounds of 8 viewers connecting and leaving
# leave the server about 1.1 MB larger each without it and 0.5 MB with it (benchmarks/bench_load.py --no-release).
RELEASE_AFTER_S = 5.0


def _glibc(name: str) -> Callable[..., Any] | None:
    """glibc's function ``name``, or None with another C library (macOS, Windows, musl without it)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError, TypeError):
        return None


def bound_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Keep the C allocator to ``arenas`` pools from now on (glibc; elsewhere, or when the environment sets
    MALLOC_ARENA_MAX, nothing is done): called before any thread starts, as pools already made stay in use.
    Returns whether the bound was set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _glibc("mallopt")
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, arenas))


def release_freed() -> bool:
    """Give the free pages inside the allocator's heap back to the system now (glibc's ``malloc_trim``);
    whether any went back (False with another C library)."""
    trim = _glibc("malloc_trim")
    return trim is not None and bool(trim(0))


class Releaser:
    """Calls ``release`` ``after_s`` seconds after something freed memory (:meth:`freed`), in a thread of its
    own: whatever is freed in the meantime goes back with the same release, so releases are at least
    ``after_s`` apart."""

    def __init__(self, after_s: float = RELEASE_AFTER_S, release: Callable[[], object] = release_freed) -> None:
        self.after_s = after_s
        self.release = release
        self._due = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def freed(self) -> None:
        """Something freed memory: release it within ``after_s``."""
        self._due.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="release-freed-memory", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.after_s)
            self._due.clear()
            self.release()
