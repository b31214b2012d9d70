"""Alarm vocabulary shared by the alarm engine, the store, the CLI and the pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass

HIGH, MEDIUM, LOW = "high", "medium", "low"
PRIORITIES = (HIGH, MEDIUM, LOW)
PRIORITY_RANK = {HIGH: 3, MEDIUM: 2, LOW: 1}

PHYSIOLOGICAL, TECHNICAL = "physiological", "technical"
KINDS = (PHYSIOLOGICAL, TECHNICAL)

# "latched": a latching alarm's condition ended; its signal stays until acknowledged (the episode is over).
EVENTS = ("raised", "escalated", "latched", "acknowledged", "audio_paused", "audio_resumed", "cleared", "reset", "overridden")


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One transition of one alarm, as it is stored, printed and shown.

    ``alarm_id`` names the alarm condition (e.g. ``spo2_low``); ``rule`` names the protocol
    rule that defined it (e.g. ``kap-iv: spo2_low``); ``message`` is what a nurse reads
    ("SpO2 86 < 90 (kap-iv: spo2_low)").
    """

    t: float
    event: str
    alarm_id: str
    priority: str
    kind: str
    vital: str | None
    value: float | None
    limit: float | None
    rule: str
    message: str
    who: str | None = None
    source: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)
