"""A monitor's own alarms (IHE PCD-04, ``ORU^R40``) as kapmon device conditions.

An alarm is an event row (OBX-3 ``MDC_EVT_...``, or the event in OBX-5 when OBX-3 is the generic
``MDC_EVT_ALARM``) followed by rows under the same OBX-4 prefix: the measured value, event phase, alarm
state, priority, alert type and text. Priority and alert type may also be flags in the event row's OBX-8
(``A~PM~SA``, ``L~SP``), as GE and Masimo send them. A technical alarm whose name or text says what it is (probe off,
lead off, low battery...) becomes that condition; any other alarm the monitor raises is ``device_alarm``
with the monitor's own words. An event phase of ``end``/``stop`` or an ``inactive`` state ends it;
``MDC_EVT_ACTIVE`` is the monitor's keep-alive, not an alarm.

``AlarmTracker`` turns alarms into condition edges per source and condition: a condition starts with the
first alarm of its kind and ends when the last one does, as kapmon pairs a condition's start and end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import tzinfo

from devices.hl7 import mdc
from devices.hl7.message import Decoded, Hl7Error, Row, printable, repetitions, rows
from devices.hl7.observations import metric_of
from devices.reading import Condition

EVENT_PREFIXES = ("MDC_EVT_", "MDCX_EVT_")
GENERIC_EVENT = "MDC_EVT_ALARM"
KEEP_ALIVE = "MDC_EVT_ACTIVE"
TEXT_MAX = 120
ALERT_KINDS = ("SP", "ST", "SA")  # physiological, technical, advisory


@dataclass(frozen=True, slots=True)
class DeviceAlarm:
    """One alarm a monitor reports: ``key`` identifies it across messages (event and OBX-4 prefix)."""

    key: str
    condition: Condition


@dataclass
class _Alarm:
    row: Row
    event: str
    prefix: str
    attributes: dict[str, str]
    vitals: list[str]


def event_name(row: Row) -> str:
    """The event an event row reports, or '' for a row that is not one (vendors swap code and name)."""
    name = next((n for n in (row.name, row.code) if n.startswith(EVENT_PREFIXES)), "")
    if name == GENERIC_EVENT:
        return next((n for n in (row.text(5, 2), row.text(5, 1)) if n.startswith(EVENT_PREFIXES)), name)
    return name


def alarm_conditions(decoded: Decoded, received: float, zone: tzinfo | None) -> None:
    """Fill ``decoded.alarms`` (and ``items``, their conditions) from an ``ORU^R40``."""
    open_: list[_Alarm] = []
    for row in rows(decoded, received, zone):
        event = event_name(row)
        if event and row.name not in _ATTRIBUTES and row.code not in _ATTRIBUTES:
            prefix = row.sub_id.rpartition(".")[0]
            open_.append(_Alarm(row, event, prefix, {}, []))
            continue
        alarm = next((a for a in reversed(open_) if a.prefix and row.sub_id.startswith(a.prefix + ".")), None)
        if alarm is None:
            continue
        _attribute(alarm, row, decoded)
    for alarm in open_:
        if alarm.event != KEEP_ALIVE:
            decoded.alarms.append(_device_alarm(alarm))
            decoded.devices.add(alarm.row.device)
    decoded.items = [a.condition for a in decoded.alarms]


_ATTRIBUTES = frozenset(
    mdc.EVENT_PHASE + mdc.ALARM_STATE + mdc.ALARM_PRIORITY + mdc.ALERT_TYPE + mdc.ALERT_TEXT + mdc.ALERT_SOURCE
)


def _attribute(alarm: _Alarm, row: Row, decoded: Decoded) -> None:
    name = row.name if row.name in _ATTRIBUTES else row.code
    if name in _ATTRIBUTES:
        alarm.attributes[name] = row.text(5)
        return
    try:
        metric = metric_of(row)
    except Hl7Error as exc:
        decoded.problems.append(str(exc))
        return
    if metric is not None and metric.vital not in alarm.vitals:
        alarm.vitals.append(metric.vital)


def _first(attributes: dict[str, str], names: tuple[str, ...]) -> str:
    return next((attributes[n] for n in names if attributes.get(n)), "")


def _device_alarm(alarm: _Alarm) -> DeviceAlarm:
    a = alarm.attributes
    phase, state = _first(a, mdc.EVENT_PHASE).lower(), _first(a, mdc.ALARM_STATE).lower()
    flags = [f.upper() for f in repetitions(alarm.row.obx, 8)]
    kind = _first(a, mdc.ALERT_TYPE).upper() or next((f for f in flags if f in ALERT_KINDS), "")
    text = _first(a, mdc.ALERT_TEXT) or (alarm.row.text(5) if alarm.row.name != GENERIC_EVENT else "") or alarm.event
    code = _first(a, mdc.ALARM_PRIORITY).upper() or next((f for f in flags if f in mdc.PRIORITY_BY_CODE), "")
    priority = mdc.PRIORITY_BY_CODE.get(code, "")
    detail = printable(text[:TEXT_MAX]) + (f" ({priority} priority at the monitor)" if priority else "")
    condition = Condition(
        t=alarm.row.t,
        condition=condition_of(alarm.event, text, kind),
        source=f"hl7:{alarm.row.device}",
        active=phase not in mdc.ENDED_PHASES and state not in mdc.INACTIVE_STATES,
        vitals=tuple(alarm.vitals),
        detail=detail,
    )
    return DeviceAlarm(f"{alarm.event}@{alarm.prefix}", condition)


def condition_of(event: str, text: str, kind: str) -> str:
    """kapmon's condition for a monitor alarm: a named technical one, else ``device_alarm``."""
    if kind == "SP":
        return "device_alarm"
    words = f"{event} {text}".upper().replace(" ", "_")
    return next((condition for word, condition in mdc.TECHNICAL_WORDS if word in words), "device_alarm")


class AlarmTracker:
    """Condition edges from alarms: a (source, condition) starts with its first active alarm and ends
    when its last one ends; a repeated report of an active alarm is not a new edge."""

    def __init__(self) -> None:
        self._active: dict[tuple[str, str], dict[str, Condition]] = {}

    def update(self, alarms: list[DeviceAlarm]) -> list[Condition]:
        out: list[Condition] = []
        for alarm in alarms:
            c = alarm.condition
            group = self._active.setdefault((c.source, c.condition), {})
            was_active = bool(group)
            if c.active:
                group[alarm.key] = c
                if not was_active:
                    out.append(c)
            elif group.pop(alarm.key, None) is not None and not group:
                out.append(replace(c, detail=""))
        return out
