"""What the central station accepts from a room, checked field by field before anything is stored or shown.

A room's state and its rows come from another machine. ``parse_state`` turns a state message into typed values
and ``checked_row`` checks one mirrored row; both raise ``MessageError`` naming the field that is wrong.
Numbers must be finite (``true`` is not a number); a reading carries a value exactly when its status is ok, in
its vital's unit and within its physical range (``devices.vocabulary.VITALS``); a dose has a route, a drug and
a plausible amount; an observation, an alarm or a limit on a scale names a scale kapmon knows and a level on
it, and the room's charting state lists each scale once, not due, due or overdue; a dosing decision is clear,
gated or blocked with a bounded headline; texts are bounded; and no time may be more than ``CLOCK_SKEW_S``
ahead of the room's clock. A room whose clock runs in real time (a clinical session at speed 1) must keep it
within ``CLOCK_SKEW_S`` of the central station's; a simulated clock (demo, training, a faster replay) may run
ahead of the wall clock, and its rows are judged against the room's own session clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import urlsplit

from devices.patient import CONTROL, dose_problem, lot_problem, observation_problem
from devices.vocabulary import (
    ALARM_EVENTS,
    ALARM_KINDS,
    MEASURES,
    PRIORITIES,
    ROUTES,
    SCALES,
    SESSION_KINDS,
    STATUSES,
    VITALS,
)
from monitor.central.site_key import CLOCK_SKEW_S
from monitor.central.topics import KINDS, NAME, MessageError
from monitor.rules.alarms import ActiveAlarm
from monitor.rules.dosing import STATES
from monitor.rules.observations import DUE, NOT_DUE, OVERDUE
from monitor.rules.protocol import COMPARISONS
from monitor.session.model import Session

NAME_MAX = 64  # patient pseudonyms, alarm ids, drugs (the bedside's own bound for names is 64)
WHO_MAX = 100  # a name plus " (central station)"
TEXT_MAX = 500  # an alarm message, its response text, a limit in words
SOURCE_MAX = 300  # a device URI
URL_MAX = 500
MAX_ALARMS = 100  # design proposal: a protocol defines a few dozen alarms at most
MAX_LIMITS = 100
MAX_SPEED = 10_000.0  # design proposal: the fastest simulation kapmon runs is far slower
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class RoomLimit:
    """One alarm limit of a room's plan, with its text in words."""

    id: str
    vital: str
    comparison: str
    threshold: float
    priority: str
    text: str


@dataclass(frozen=True, slots=True)
class RoomDosing:
    """A room's dosing decision: ``clear``, ``gated`` or ``blocked``, and its headline in words."""

    state: str
    headline: str


@dataclass(frozen=True, slots=True)
class RoomChart:
    """Where one observation scale the room's protocol charts stands: not due, due or overdue, and its latest
    level and when it was charted (None: not charted yet)."""

    scale: str
    status: str
    level: int | None
    t: float | None


@dataclass(frozen=True, slots=True)
class RoomState:
    """A room's state: its session, active alarms, limits, the bedside's address, cursors and clock."""

    session: Session
    alarms: tuple[ActiveAlarm, ...]
    limits: tuple[RoomLimit, ...]
    url: str | None
    cursors: Mapping[str, int]
    now: float
    speed: float
    ended: bool
    audio: str | None
    dosing: RoomDosing | None = None
    charts: tuple[RoomChart, ...] = ()

    @property
    def real_time(self) -> bool:
        """Whether the session clock is the wall clock (a clinical session at speed 1)."""
        return self.session.kind == "clinical" and self.speed == 1.0


# --- fields -------------------------------------------------------------------------------


def present(d: Mapping, key: str, optional: bool) -> Any:
    """``d[key]``; None when it is absent and ``optional``, else MessageError saying it is missing."""
    value = d.get(key)
    if value is None and not optional:
        raise MessageError(f"{key}: missing")
    return value


@overload
def number(d: Mapping, key: str, optional: Literal[False] = False) -> float: ...


@overload
def number(d: Mapping, key: str, optional: bool) -> float | None: ...


def number(d: Mapping, key: str, optional: bool = False) -> float | None:
    value = present(d, key, optional)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MessageError(f"{key}: {str(value)[:40]} is not a finite number")
    return float(value)


@overload
def text(d: Mapping, key: str, limit: int, optional: Literal[False] = False) -> str: ...


@overload
def text(d: Mapping, key: str, limit: int, optional: bool) -> str | None: ...


def text(d: Mapping, key: str, limit: int, optional: bool = False) -> str | None:
    value = present(d, key, optional)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise MessageError(f"{key}: not a text of at most {limit} characters")
    return value


def who(d: Mapping) -> str | None:
    """``who`` did something: a text of at most ``WHO_MAX`` characters on one line, or nobody (None)."""
    value = text(d, "who", WHO_MAX, optional=True)
    if value is not None and CONTROL.search(value):
        raise MessageError("who: holds a control character (a name is one line of text)")
    return value


def choice(d: Mapping, key: str, choices: tuple, optional: bool = False) -> Any:
    value = present(d, key, optional)
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise MessageError(f"{key}: {str(value)[:40]!r} is not one of {', '.join(map(str, choices))}")
    return value


def flag(d: Mapping, key: str, default: bool | None = None) -> bool:
    value = present(d, key, default is not None)
    if value is None:
        return bool(default)
    if not isinstance(value, bool):
        raise MessageError(f"{key}: not true or false")
    return value


def named(d: Mapping, key: str) -> str:
    value = present(d, key, False)
    if not isinstance(value, str) or not NAME.match(value):
        raise MessageError(f"{key}: {str(value)[:40]!r} is not a name (letters, digits, '-', '_', '.')")
    return value


def listed(d: Mapping, key: str, limit: int) -> list:
    value = d.get(key, [])
    if not isinstance(value, list) or len(value) > limit:
        raise MessageError(f"{key}: not a list of at most {limit}")
    return value


def each(items: list, what: str, parse: Any) -> tuple:
    """``parse`` applied to every dict in ``items``; an error names the item."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise MessageError(f"{what}[{i}]: not an object")
        try:
            out.append(parse(item))
        except MessageError as exc:
            raise MessageError(f"{what}[{i}].{exc}") from None
    return tuple(out)


def not_after(t: float, clock_now: float, what: str, clock: str = "the room's clock") -> float:
    """``t``, unless it is more than ``CLOCK_SKEW_S`` ahead of ``clock_now``."""
    if t > clock_now + CLOCK_SKEW_S:
        raise MessageError(f"{what}: {t - clock_now:.0f} s ahead of {clock} (at most {CLOCK_SKEW_S:g} s allowed)")
    return t


# --- the room state -------------------------------------------------------------------------


def parse_session(d: Mapping) -> Session:
    started = number(d, "started")
    weight = number(d, "weight_kg", optional=True)
    metadata = d.get("metadata", {})
    if not isinstance(metadata, dict):
        raise MessageError("metadata: not an object")
    try:
        return Session(
            named(d, "id"),
            text(d, "patient", NAME_MAX),
            started,
            choice(d, "route", ROUTES),
            weight,
            text(d, "protocol", NAME_MAX, optional=True) or "",
            choice(d, "kind", SESSION_KINDS),
            metadata,
        )
    except ValueError as exc:
        raise MessageError(str(exc)) from None


def parse_alarm(d: Mapping) -> ActiveAlarm:
    """One active alarm of the room, as the alarm engine's ``ActiveAlarm`` (the fields a bedside publishes)."""
    return ActiveAlarm(
        alarm_id=text(d, "alarm_id", NAME_MAX),
        priority=choice(d, "priority", PRIORITIES),
        kind=choice(d, "kind", ALARM_KINDS),
        message=text(d, "message", TEXT_MAX),
        since=number(d, "since"),
        vital=choice(d, "vital", tuple(MEASURES), optional=True),
        value=number(d, "value", optional=True),
        limit=number(d, "limit", optional=True),
        rule=text(d, "rule", TEXT_MAX, optional=True) or "",
        acknowledged=flag(d, "acknowledged"),
        latched=flag(d, "latched", default=False),
        response=text(d, "response", TEXT_MAX, optional=True) or "",
    )


def parse_limit(d: Mapping) -> RoomLimit:
    return RoomLimit(
        text(d, "id", NAME_MAX),
        choice(d, "vital", tuple(MEASURES)),
        choice(d, "comparison", tuple(COMPARISONS)),
        number(d, "threshold"),
        choice(d, "priority", PRIORITIES),
        text(d, "text", TEXT_MAX),
    )


def parse_url(d: Mapping) -> str | None:
    url = text(d, "url", URL_MAX, optional=True)
    if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise MessageError("url: not an http(s) address")
    return url


def parse_cursors(d: Mapping) -> dict[str, int]:
    cursors = d.get("cursors") or {}
    if not isinstance(cursors, dict):
        raise MessageError("cursors: not an object")
    out = {}
    for kind in KINDS:
        value = cursors.get(kind, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MessageError(f"cursors.{kind}: not a row id")
        out[kind] = value
    return out


def parse_dosing(d: Mapping) -> RoomDosing | None:
    """The room's dosing decision (absent from an older bedside, or once its session has ended)."""
    dosing = d.get("dosing")
    if dosing is None:
        return None
    if not isinstance(dosing, dict):
        raise MessageError("dosing: not an object")
    try:
        return RoomDosing(choice(dosing, "state", STATES), text(dosing, "headline", TEXT_MAX))
    except MessageError as exc:
        raise MessageError(f"dosing.{exc}") from None


def parse_chart(d: Mapping) -> RoomChart:
    """One scale's state: a scale kapmon knows, its state, and a level on the scale charted at a time, or neither."""
    scale = choice(d, "scale", tuple(SCALES))
    level, t = d.get("level"), number(d, "t", optional=True)
    if (level is None) != (t is None):
        raise MessageError("level: a charted level comes with the time it was charted")
    if level is not None and (problem := observation_problem(scale, level)) is not None:
        raise MessageError(f"level: {problem}")
    return RoomChart(scale, choice(d, "status", (NOT_DUE, DUE, OVERDUE)), None if level is None else int(level), t)


def parse_charts(d: Mapping, now: float) -> tuple[RoomChart, ...]:
    """The room's observation scales, each once, none charted after the room's clock (absent from an older bedside)."""
    charts = each(listed(d, "charts", len(SCALES)), "charts", parse_chart)
    for i, c in enumerate(charts):
        if [x.scale for x in charts].index(c.scale) != i:
            raise MessageError(f"charts[{i}].scale: {c.scale} is listed twice")
        if c.t is not None:
            not_after(c.t, now, f"charts[{i}].t")
    return charts


def parse_state(d: Mapping, wall_now: float) -> RoomState:
    """The room state in ``d``, or MessageError naming the first field that is wrong."""
    session = d.get("session")
    if not isinstance(session, dict):
        raise MessageError("session: not an object")
    try:
        parsed = parse_session(session)
    except MessageError as exc:
        raise MessageError(f"session.{exc}") from None
    state = RoomState(
        parsed,
        each(listed(d, "alarms", MAX_ALARMS), "alarms", parse_alarm),
        each(listed(d, "limits", MAX_LIMITS), "limits", parse_limit),
        parse_url(d),
        parse_cursors(d),
        number(d, "now"),
        number(d, "speed"),
        flag(d, "ended", default=False),
        choice(d, "audio", PRIORITIES, optional=True),
        parse_dosing(d),
        parse_charts(d, number(d, "now")),
    )
    if not 0 < state.speed <= MAX_SPEED:
        raise MessageError(f"speed: {state.speed:g} is not between 0 and {MAX_SPEED:g}")
    not_after(parsed.started, state.now, "session.started")
    if state.real_time:
        not_after(state.now, wall_now, "now", "the central station's clock")
    return state


# --- mirrored rows --------------------------------------------------------------------------

ROW_FIELDS = {
    "readings": ("id", "t", "vital", "value", "unit", "source", "status"),
    "events": ("id", "t", "kind", "data", "who"),
    "alarms": ("id", "t", "event", "alarm_id", "priority", "kind", "vital", "value", "limit", "rule", "message", "who", "source"),
}


def vital_value(d: Mapping, vital: str | None, optional: bool) -> float | None:
    """The row's value, within its vital's physical range (a scale's levels for an observation alarm)."""
    value = number(d, "value", optional)
    spec = MEASURES.get(vital) if vital is not None else None
    if value is not None and spec is not None and not spec.low <= value <= spec.high:
        raise MessageError(f"value: {vital} {value:g} is outside {spec.low:g}-{spec.high:g} {spec.unit}")
    return value


def reading_values(d: Mapping) -> tuple:
    vital = choice(d, "vital", tuple(VITALS))
    status = choice(d, "status", STATUSES)
    value = vital_value(d, vital, optional=True)
    if (value is None) != (status == "no_value"):
        raise MessageError("value: a reading has a number exactly when its status is ok")
    if d.get("unit") != VITALS[vital].unit:
        raise MessageError(f"unit: {vital} is in {VITALS[vital].unit}")
    return vital, value, VITALS[vital].unit, text(d, "source", SOURCE_MAX), status


def dose_data(data: Mapping, t: float) -> None:
    """A dose event's data must be a dose: route, drug, a plausible amount and an end not before it."""
    choice(data, "route", ROUTES)
    if not text(data, "drug", NAME_MAX).strip():
        raise MessageError("drug: empty")
    mg = number(data, "mg")
    if (problem := dose_problem(mg)) is not None:
        raise MessageError(f"mg: {problem}")
    end = number(data, "end", optional=True)
    if end is not None and not t <= end <= t + SECONDS_PER_DAY:
        raise MessageError("end: not within a day after the dose")
    if data.get("lot") is not None and (problem := lot_problem(data["lot"])) is not None:
        raise MessageError(f"lot: {problem}")


def event_values(d: Mapping, t: float) -> tuple:
    kind = named(d, "kind")
    data = d.get("data")
    if not isinstance(data, dict):
        raise MessageError("data: not an object")
    if kind == "dose":
        try:
            dose_data(data, t)
        except MessageError as exc:
            raise MessageError(f"dose {exc}") from None
    if kind == "observation" and (problem := observation_problem(data.get("scale"), data.get("level"))) is not None:
        raise MessageError(f"observation data: {problem}")
    return kind, data, who(d)


def alarm_values(d: Mapping) -> tuple:
    vital = choice(d, "vital", tuple(MEASURES), optional=True)
    return (
        choice(d, "event", ALARM_EVENTS),
        text(d, "alarm_id", NAME_MAX),
        choice(d, "priority", PRIORITIES),
        choice(d, "kind", ALARM_KINDS),
        vital,
        vital_value(d, vital, optional=True),
        number(d, "limit", optional=True),
        text(d, "rule", TEXT_MAX),
        text(d, "message", TEXT_MAX),
        who(d),
        text(d, "source", SOURCE_MAX, optional=True),
    )


def checked_row(kind: str, row: list, room_now: float) -> tuple:
    """``(t, ...)`` of one mirrored row as the store takes it (without the row id), or MessageError.

    ``room_now`` is the room's session clock now."""
    fields = ROW_FIELDS[kind]
    if len(row) != len(fields):
        raise MessageError(f"{len(row)} fields, a {kind} row has {len(fields)}")
    d = dict(zip(fields, row))
    t = not_after(number(d, "t"), room_now, "t")
    if kind == "readings":
        return (t, *reading_values(d))
    if kind == "events":
        return (t, *event_values(d, t))
    return (t, *alarm_values(d))
