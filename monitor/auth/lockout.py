"""Counting failed sign-ins and locking out who keeps failing. Pure: the caller passes the time.

Each key (an account name, or a client address) has its failures within a sliding window; reaching
``max_failures`` locks the key for ``lock_s`` seconds. A success clears the key's failures. Memory is
bounded: at most ``max_keys`` keys are tracked (the stalest are forgotten first), so a flood of made-up
names cannot grow it without limit.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

# Design proposal (no published standard for a bedside monitor): five wrong passwords in 15 minutes
# lock the account or address for 5 minutes. Slows a guesser to ~1 guess a minute per address and per
# account while a nurse who mistypes a few times is not kept out for long.
MAX_FAILURES = 5
WINDOW_S = 15 * 60.0
LOCK_S = 5 * 60.0
MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure as counted: failures of this key in the window, and whether this one locked it."""

    count: int
    locked: bool


@dataclass
class Lockout:
    """Failures and locks per key (see the module docstring)."""

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    lock_s: float = LOCK_S
    max_keys: int = MAX_KEYS
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def locked_for(self, key: str, now: float) -> float:
        """Seconds left of ``key``'s lock (0 when it is not locked)."""
        until = self._locked_until.get(key)
        if until is None:
            return 0.0
        if now >= until:
            del self._locked_until[key]
            return 0.0
        return until - now

    def fail(self, key: str, now: float) -> Failure:
        """Count one failure of ``key`` at ``now``; lock it when it reaches the limit."""
        times = self._failures.pop(key, None) or deque()
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        self._failures[key] = times
        while len(self._failures) > self.max_keys:
            stale, _ = self._failures.popitem(last=False)
            self._locked_until.pop(stale, None)
        count = len(times)
        locks = count >= self.max_failures
        if locks:
            self._locked_until[key] = now + self.lock_s
            times.clear()
        return Failure(count, locks)

    def succeed(self, key: str) -> None:
        """A success: forget ``key``'s failures."""
        self._failures.pop(key, None)
