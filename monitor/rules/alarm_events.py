"""An alarm event: one transition of one alarm (its priorities and kinds are in ``devices.vocabulary``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
