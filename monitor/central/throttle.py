"""Reporting a repeated problem (a log line, an audit entry) at most once per interval, with a count."""

from __future__ import annotations

import math
import threading

KEYS_MAX = 1000  # distinct keys remembered; beyond this the memory starts afresh
REPORT_EVERY_S = 60.0  # design proposal: a repeated problem is logged (and audited) once a minute, counted


class Throttle:
    """Lets a report about ``key`` through at most once per ``every_s``, counting those held back."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def due(self, key: str, now: float) -> int:
        """0 when ``key`` was reported less than ``every_s`` before ``now``; else how many occurrences this
        report stands for (this one and those held back since the last)."""
        with self._lock:
            count = self._held.get(key, 0) + 1
            if now - self._last.get(key, -math.inf) < self.every_s:
                self._held[key] = count
                return 0
            if len(self._last) >= KEYS_MAX:
                self._last.clear()
                self._held.clear()
            self._last[key] = now
            self._held[key] = 0
            return count
