"""Topic layout and message encoding between bedsides and the central station (pure: no network).

Every room publishes under ``kapmon/<site>/<room>/``:

==================  ======  ======  =============================================================
leaf                QoS     retain  payload (JSON)
==================  ======  ======  =============================================================
``status``          1       yes     ``{"status": "online"|"offline", "t": ...}``; "offline" is also
                                    the last will, so a dead bedside shows OFFLINE
``state``           1       yes     room state: session record, active alarms, the bedside's live URL,
                                    the bedside's cursors (last row id per kind), session clock
``data/readings``   1       no      a batch of stored readings (pleth included, one message per flush)
``data/events``     1       no      a batch of session events (doses, notes, phases, conditions, end)
``data/alarms``     1       no      a batch of alarm transitions
``cmd``             1       no      central -> bedside: ``ack`` (acknowledge an alarm) or ``sync``
                                    (publish again from the central station's cursors)
``reply``           1       no      bedside -> central: the result of a command
==================  ======  ======  =============================================================

A batch carries the session id, the cursor it continues from (``after``: the bedside row id of the
previous batch's last row) and rows with their bedside row ids. Its message id is
``<session>/<kind>/<last row id>``. The central station applies a batch only where it continues its
own record, so a batch that arrives twice adds nothing and a missing batch is detected (and asked
for again with ``sync``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from devices.reading import Reading
from monitor.alarm_events import AlarmEvent
from monitor.session import Session
from monitor.store import StoredEvent, StoredReading

ROOT = "kapmon"
KINDS = ("readings", "events", "alarms")
LEAVES = ("status", "state", "cmd", "reply", *(f"data/{k}" for k in KINDS))
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class MessageError(ValueError):
    """A message or topic that is not kapmon's."""


def check_name(what: str, name: str) -> str:
    """A site or room name usable as one topic level (no ``/``, ``+``, ``#``, no leading dot)."""
    if not NAME.match(name):
        raise ValueError(f"{what} {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit")
    return name


def topic(site: str, room: str, leaf: str) -> str:
    if leaf not in LEAVES:
        raise ValueError(f"unknown topic leaf {leaf!r}")
    return f"{ROOT}/{site}/{room}/{leaf}"


def data_topic(site: str, room: str, kind: str) -> str:
    return topic(site, room, f"data/{kind}")


def subscription(site: str | None = None) -> str:
    """What a central station subscribes to: every room of one site, or of every site."""
    return f"{ROOT}/{site or '+'}/+/#"


def parse_topic(name: str) -> tuple[str, str, str]:
    """``(site, room, leaf)`` of a kapmon topic."""
    parts = name.split("/")
    if len(parts) < 4 or parts[0] != ROOT:
        raise MessageError(f"not a kapmon topic: {name}")
    leaf = "/".join(parts[3:])
    if leaf not in LEAVES:
        raise MessageError(f"unknown topic leaf in {name}")
    return parts[1], parts[2], leaf


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def decode(payload: bytes) -> dict:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError("not a JSON object")
    return data


# --- batches -------------------------------------------------------------------------------

def reading_row(r: StoredReading) -> list:
    return [r.id, r.t, r.vital, r.value, r.unit, r.source, r.status]


def event_row(e: StoredEvent) -> list:
    return [e.id, e.t, e.kind, e.data, e.who]


def alarm_row(row_id: int, a: AlarmEvent) -> list:
    return [row_id, a.t, a.event, a.alarm_id, a.priority, a.kind, a.vital, a.value, a.limit, a.rule, a.message,
            a.who, a.source]


def batch(kind: str, session_id: str, after: int, rows: list[list]) -> dict:
    """One message of stored rows (each starting with its bedside row id), continuing from ``after``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    last = rows[-1][0] if rows else after
    return {"id": message_id(session_id, kind, last), "kind": kind, "session": session_id, "after": after,
            "last": last, "rows": rows}


def message_id(session_id: str, kind: str, last: int) -> str:
    return f"{session_id}/{kind}/{last}"


@dataclass(frozen=True, slots=True)
class Batch:
    kind: str
    session: str
    after: int
    last: int
    rows: list

    def new_rows(self, cursor: int) -> list:
        """The rows after the receiver's ``cursor`` (duplicates dropped)."""
        return [r for r in self.rows if r[0] > cursor]


def parse_batch(data: dict) -> Batch:
    try:
        b = Batch(str(data["kind"]), str(data["session"]), int(data["after"]), int(data["last"]), list(data["rows"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageError(f"bad batch: {exc}") from None
    if b.kind not in KINDS:
        raise MessageError(f"bad batch kind {b.kind!r}")
    ids = [r[0] for r in b.rows]
    if ids != sorted(set(ids)) or (ids and (ids[0] <= b.after or ids[-1] != b.last)):
        raise MessageError("bad batch: row ids out of order")
    return b


def reading_from_row(row: list) -> Reading:
    _id, t, vital, value, unit, source, status = row
    return Reading(t, vital, value, unit, source, status)


def event_from_row(row: list) -> tuple[float, str, dict, str | None]:
    _id, t, kind, data, who = row
    return t, kind, data, who


def alarm_from_row(row: list) -> AlarmEvent:
    return AlarmEvent(*row[1:])


# --- room state ----------------------------------------------------------------------------

def session_dict(s: Session) -> dict:
    return {"id": s.id, "patient": s.patient, "started": s.started, "route": s.route, "weight_kg": s.weight_kg,
            "protocol": s.protocol, "kind": s.kind, "metadata": s.metadata}


def session_from_dict(d: dict) -> Session:
    return Session(d["id"], d["patient"], d["started"], d["route"], d.get("weight_kg"), d.get("protocol", ""),
                   d.get("kind", "clinical"), d.get("metadata", {}))


ALARM_FIELDS = ("alarm_id", "priority", "kind", "message", "since", "vital", "value", "acknowledged", "latched")


def alarm_dict(a: Any) -> dict:
    """An active alarm (the engine's ``ActiveAlarm``) as the central station needs it."""
    return {f: getattr(a, f, None) for f in ALARM_FIELDS}


def state(
    session: Session, alarms: list, url: str | None, cursors: dict[str, int], now: float, speed: float,
    ended: bool, audio_priority: str | None = None,
) -> dict:
    return {"session": session_dict(session), "alarms": [alarm_dict(a) for a in alarms], "url": url,
            "cursors": dict(cursors), "now": now, "speed": speed, "ended": ended, "audio": audio_priority}


def status(online: bool, t: float | None = None) -> dict:
    return {"status": "online" if online else "offline", "t": t}


def ack_command(request_id: str, session_id: str, alarm_id: str, who: str) -> dict:
    return {"op": "ack", "request": request_id, "session": session_id, "alarm_id": alarm_id, "who": who}


def sync_command(session_id: str, cursors: dict[str, int]) -> dict:
    return {"op": "sync", "session": session_id, "cursors": {k: int(cursors.get(k, 0)) for k in KINDS}}


def reply(request_id: str, ok: bool, message: str, events: int = 0) -> dict:
    return {"request": request_id, "ok": ok, "message": message, "events": events}
