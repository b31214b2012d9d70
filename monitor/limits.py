"""A first, minimal limit check: fixed thresholds with a condition delay, plus sensor-off.

Deliberately small; the protocol-driven alarm engine replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.reading import VITALS, Condition, Item, Reading
from monitor.alarm_events import HIGH, LOW, MEDIUM, PHYSIOLOGICAL, TECHNICAL, AlarmEvent
from monitor.session import Dose


@dataclass(frozen=True, slots=True)
class Limit:
    alarm_id: str
    vital: str
    above: bool
    limit: float
    priority: str
    delay: float


DEFAULT_LIMITS = (
    Limit("spo2_low", "spo2", False, 90, MEDIUM, 15),
    Limit("hr_low", "hr", False, 50, MEDIUM, 10),
    Limit("hr_high", "hr", True, 120, MEDIUM, 10),
    Limit("sbp_high", "sbp", True, 160, MEDIUM, 0),
    Limit("sbp_critical", "sbp", True, 180, HIGH, 0),
)


@dataclass(slots=True)
class Active:
    alarm_id: str
    priority: str
    kind: str
    vital: str | None
    value: float | None
    limit: float | None
    message: str
    since: float
    acknowledged: bool = False


class SimpleLimits:
    """Raise an alarm when a vital stays beyond a fixed limit for its delay; clear when it returns."""

    def __init__(self, limits: tuple[Limit, ...] = DEFAULT_LIMITS, name: str = "default") -> None:
        self.limits = limits
        self.name = name
        self._breach_since: dict[str, float] = {}
        self._active: dict[str, Active] = {}

    def on_item(self, item: Item) -> list[AlarmEvent]:
        if isinstance(item, Condition):
            return self._on_condition(item)
        events: list[AlarmEvent] = []
        for lim in self.limits:
            if lim.vital == item.vital and item.has_value:
                events += self._check(lim, item)
        return events

    def _check(self, lim: Limit, r: Reading) -> list[AlarmEvent]:
        assert r.value is not None
        breached = r.value > lim.limit if lim.above else r.value < lim.limit
        if not breached:
            self._breach_since.pop(lim.alarm_id, None)
            gone = self._active.pop(lim.alarm_id, None)
            return [self._event(r.t, "cleared", gone)] if gone else []
        since = self._breach_since.setdefault(lim.alarm_id, r.t)
        if lim.alarm_id in self._active or r.t - since < lim.delay:
            return []
        sign = ">" if lim.above else "<"
        message = f"{VITALS[lim.vital].label} {r.value:g} {sign} {lim.limit:g} ({self.name}: {lim.alarm_id})"
        alarm = Active(lim.alarm_id, lim.priority, PHYSIOLOGICAL, lim.vital, r.value, lim.limit, message, r.t)
        self._active[lim.alarm_id] = alarm
        return [self._event(r.t, "raised", alarm)]

    def _on_condition(self, c: Condition) -> list[AlarmEvent]:
        alarm_id = f"{c.condition}:{c.source}"
        if c.active and alarm_id not in self._active:
            alarm = Active(alarm_id, LOW, TECHNICAL, None, None, None, f"{c.condition.replace('_', ' ')} ({c.source})", c.t)
            self._active[alarm_id] = alarm
            return [self._event(c.t, "raised", alarm)]
        if not c.active and alarm_id in self._active:
            return [self._event(c.t, "cleared", self._active.pop(alarm_id))]
        return []

    def _event(self, t: float, event: str, a: Active, who: str | None = None) -> AlarmEvent:
        return AlarmEvent(t, event, a.alarm_id, a.priority, a.kind, a.vital, a.value, a.limit,
                          f"{self.name}: {a.alarm_id}", a.message, who)

    def on_dose(self, dose: Dose) -> list[AlarmEvent]:
        return []

    def tick(self, now: float) -> list[AlarmEvent]:
        return []

    def acknowledge(self, alarm_id: str, who: str, now: float) -> list[AlarmEvent]:
        alarm = self._active.get(alarm_id)
        if alarm is None or alarm.acknowledged:
            return []
        alarm.acknowledged = True
        return [self._event(now, "acknowledged", alarm, who)]

    def pause_audio(self, who: str, now: float, seconds: float | None = None) -> list[AlarmEvent]:
        return []

    def active(self) -> list[Active]:
        return list(self._active.values())
