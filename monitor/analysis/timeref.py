"""The one time reference of a recorded session: T+ since the first dose (the session start when no
dose was recorded), with the wall-clock time beside it. The review page, the report and export
messages all speak of time this way."""

from __future__ import annotations

import time
from dataclasses import dataclass


def clock_hms(t: float) -> str:
    """Local wall-clock time ``08:15:00``."""
    return time.strftime("%H:%M:%S", time.localtime(t))


def clock_hm(t: float) -> str:
    """Local wall-clock time ``08:15``."""
    return time.strftime("%H:%M", time.localtime(t))


def duration_text(seconds: float | None) -> str:
    """A duration in minutes and seconds: ``45 s``, ``2 min 05 s``; ``3 h 10 min`` from an hour; ``-`` for None."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


def signed_minutes(minutes: float) -> str:
    """``T+12``, ``T-5``, ``T+1 h 05``; whole minutes, rounded."""
    m = round(minutes)
    sign = "-" if m < 0 else "+"
    m = abs(m)
    return f"T{sign}{m}" if m < 60 else f"T{sign}{m // 60} h {m % 60:02d}"


@dataclass(frozen=True, slots=True)
class TimeRef:
    """T+0 of a session and what it is (``first dose`` or ``session start``)."""

    t0: float
    what: str

    @classmethod
    def of(cls, first_dose: float | None, started: float) -> TimeRef:
        return cls(started, "session start") if first_dose is None else cls(first_dose, "first dose")

    def minutes(self, t: float) -> float:
        """Minutes since T+0 (negative before it)."""
        return (t - self.t0) / 60.0

    def text(self, t: float) -> str:
        """``T+12 min``; ``T-5 min`` before the first dose."""
        return f"{signed_minutes(self.minutes(t))} min"

    def text_with_clock(self, t: float) -> str:
        """``T+12 min (08:27:10)``."""
        return f"{self.text(t)} ({clock_hms(t)})"

    def axis_title(self) -> str:
        """What the time axis measures, with the clock time of T+0."""
        return f"minutes since {self.what} (T+0 = {clock_hms(self.t0)})"
