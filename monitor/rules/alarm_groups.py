"""Active alarms grouped the way a bedside monitor shows them: one card per reading or vital family.

One cuff reading of 190/114 can raise six alarms (SBP and DBP against their high, rise and low-priority
limits). The nurse sees one NIBP card led by the most urgent of them, the rest folded in, and
acknowledges them together (each acknowledgement is still recorded on its own). Physiological and
technical alarms of a family stay on separate cards: they ask for different actions (treat the patient,
fix the equipment).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.vocabulary import PRIORITY_RANK
from monitor.rules.alarms import LABELS as LABELS  # what a shown alarm is, for pages
from monitor.rules.alarms import ActiveAlarm as ActiveAlarm

FAMILY = {"sbp": "nibp", "dbp": "nibp", "map": "nibp", "hr": "hr", "pr": "hr", "spo2": "spo2", "pi": "spo2"}
FAMILY_LABEL = {"nibp": "NIBP", "hr": "HR / PR", "spo2": "SpO2"}


def urgency(alarm: ActiveAlarm) -> tuple[bool, int, float]:
    """Sort key, most urgent last: unacknowledged before acknowledged, then priority, then newest."""
    return not alarm.acknowledged, PRIORITY_RANK[alarm.priority], alarm.since


def most_urgent(alarms: Iterable[ActiveAlarm]) -> ActiveAlarm | None:
    """The alarm that leads a banner or a card: the highest unacknowledged one (the newest among equals),
    else the highest acknowledged one; None when there are none."""
    return max(alarms, key=urgency, default=None)


@dataclass(frozen=True, slots=True)
class AlarmGroup:
    """The alarms of one vital family and kind, most urgent first."""

    key: str
    label: str
    alarms: tuple[ActiveAlarm, ...]

    @property
    def lead(self) -> ActiveAlarm:
        return self.alarms[0]

    @property
    def unacknowledged(self) -> tuple[ActiveAlarm, ...]:
        return tuple(a for a in self.alarms if not a.acknowledged)


def group_key(alarm: ActiveAlarm) -> str:
    """``physiological:nibp``; an alarm naming no vital (a device condition) is a group of its own."""
    vital = alarm.vital or ""
    return f"{alarm.kind}:{FAMILY.get(vital, vital or alarm.alarm_id)}"


def group_label(alarm: ActiveAlarm) -> str:
    """What a card is about, in the monitor's words: ``NIBP``, ``HR / PR``, ``SpO2``, ``Device``."""
    vital = alarm.vital or ""
    family = FAMILY.get(vital)
    if family is not None:
        return FAMILY_LABEL[family]
    return LABELS.get(vital, vital) if vital else "Device"


def group_alarms(alarms: Iterable[ActiveAlarm]) -> list[AlarmGroup]:
    """One group per family and kind, the most urgent group first."""
    members: dict[str, list[ActiveAlarm]] = {}
    for alarm in alarms:
        members.setdefault(group_key(alarm), []).append(alarm)
    groups = [
        AlarmGroup(key, group_label(found[0]), tuple(sorted(found, key=urgency, reverse=True))) for key, found in members.items()
    ]
    return sorted(groups, key=lambda g: urgency(g.lead), reverse=True)
