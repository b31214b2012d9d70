"""The patient's pre-dose baseline, by one documented rule.

Rule: for each NIBP vital (sbp, dbp, map), the median of the last ``nibp_readings`` valid pre-dose
cuff readings; for each continuous vital (spo2, pr, hr, ...), the median of the valid readings in
the last ``window_s`` seconds before the newest one. "No value" readings never count, nor do
readings taken while a physiological alarm is active (a patient in a vasovagal episode is not at
rest: the alarm engine holds those back). The baseline freezes at the first dose; relative limits
and discharge criteria compare against it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median

from devices.reading import Reading
from devices.vocabulary import NIBP_VITALS
from monitor.rules.protocol import BaselineRule

CONTINUOUS = ("spo2", "pr", "hr", "rr", "etco2", "pi")


@dataclass(frozen=True, slots=True)
class Baseline:
    """Pre-dose reference values per vital, with how many readings made each."""

    values: dict[str, float]
    counts: dict[str, int]
    rule: str

    def get(self, vital: str) -> float | None:
        return self.values.get(vital)

    def describe(self) -> str:
        parts = [f"{v} {self.values[v]:g} (n={self.counts[v]})" for v in self.values]
        return "; ".join(parts) if parts else "no pre-dose readings"


def describe_rule(rule: BaselineRule) -> str:
    """The baseline rule in words."""
    return (
        f"median of the last {rule.nibp_readings} pre-dose NIBP readings, and of the last "
        f"{rule.window_s:g} s of continuous vitals before the first dose, leaving out readings taken while a "
        f"physiological alarm was active ({rule.cited.source})"
    )


class BaselineBuilder:
    """Collects pre-dose readings and applies the baseline rule; O(1) memory per vital."""

    def __init__(self, rule: BaselineRule) -> None:
        self.rule = rule
        self._nibp: dict[str, deque[float]] = {v: deque(maxlen=rule.nibp_readings) for v in NIBP_VITALS}
        self._window: dict[str, deque[tuple[float, float]]] = {v: deque() for v in CONTINUOUS}

    def add(self, reading: Reading) -> None:
        """Take one pre-dose reading into account (no-value readings are ignored)."""
        if reading.value is None:
            return
        if reading.vital in self._nibp:
            self._nibp[reading.vital].append(reading.value)
        elif reading.vital in self._window:
            window = self._window[reading.vital]
            window.append((reading.t, reading.value))
            while window and window[0][0] < reading.t - self.rule.window_s:
                window.popleft()

    def baseline(self) -> Baseline | None:
        """The baseline from what has been seen so far, or None when nothing valid was seen."""
        samples = {v: list(d) for v, d in self._nibp.items() if d}
        samples.update({v: [x for _, x in d] for v, d in self._window.items() if d})
        if not samples:
            return None
        return Baseline(
            values={v: float(median(xs)) for v, xs in samples.items()},
            counts={v: len(xs) for v, xs in samples.items()},
            rule=describe_rule(self.rule),
        )
