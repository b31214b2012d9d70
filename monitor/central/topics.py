"""Topic layout and message encoding between bedsides and the central station (pure: no network).

Every room publishes under ``kapmon/<site>/<room>/``:

==================  ======  ======  =============================================================
leaf                QoS     retain  payload (JSON)
==================  ======  ======  =============================================================
``status``          1       yes     ``{"status": "online"|"offline", "t": ...}``; "offline" is also
                                    the last will, so a dead bedside shows OFFLINE
``state``           1       yes     room state: session record, active alarms, the plan's limits, the
                                    bedside's live URL, its cursors (last row id per kind), session
                                    clock; republished at least every ``STATE_EVERY_S``
``data/readings``   1       no      a batch of stored readings (pleth included, one message per flush)
``data/events``     1       no      a batch of session events (doses, notes, phases, conditions, end)
``data/alarms``     1       no      a batch of alarm transitions
``cmd``             1       no      central -> bedside: ``ack`` (acknowledge an alarm) or ``sync``
                                    (publish again from the central station's cursors); signed
``reply``           1       no      bedside -> central: the result of a command; signed
==================  ======  ======  =============================================================

A batch carries the session id, the cursor it continues from (``after``: the bedside row id of the
previous batch's last row), the cursor it reaches (``last``) and rows with their bedside row ids (a
stored row that cannot be sent is left out, so ``last`` may be past the last row). Its message id is
``<session>/<kind>/<last row id>``. The central station applies a batch only where it continues its
own record, so a batch that arrives twice adds nothing and a missing batch is detected (and asked
for again with ``sync``).

Every message is at most ``MAX_MESSAGE_BYTES`` and nested at most ``MAX_DEPTH`` deep; ``decode`` checks
both before parsing. Commands and replies are signed with the site key (``monitor.central.site_key``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from devices.errors import KapmonError
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.plan import describe_limit
from monitor.session.model import Session
from monitor.session.store import StoredReading

ROOT = "kapmon"
KINDS = ("readings", "events", "alarms")
LEAVES = ("status", "state", "cmd", "reply", *(f"data/{k}" for k in KINDS))
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_MESSAGE_BYTES = 1 << 20  # design proposal: a catch-up batch of 5000 readings is about 0.5 MB
MAX_DEPTH = 32  # design proposal: kapmon's own messages nest at most 7 deep (state -> session -> metadata)
STATE_EVERY_S = 5.0  # a bedside publishes its state at least this often (its heartbeat)
TEXT_MAX = 4096  # design proposal: a stored text longer than this is sent cut short (a note is a few lines)

log = logging.getLogger(__name__)


class MessageError(KapmonError, ValueError):
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
    if len(parts) < 4 or parts[0] != ROOT or not NAME.match(parts[1]) or not NAME.match(parts[2]):
        raise MessageError(f"not a kapmon topic: {name[:200]}")
    leaf = "/".join(parts[3:])
    if leaf not in LEAVES:
        raise MessageError(f"unknown topic leaf in {name[:200]}")
    return parts[1], parts[2], leaf


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")


def nesting_within(payload: bytes, depth: int) -> bool:
    """Whether the JSON text ``payload`` nests arrays and objects at most ``depth`` deep (strings ignored).

    One pass over the brackets (a running sum of +1 per opening and -1 per closing one), however deep the
    text goes: nothing recurses."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", payload)).translate(_ONE_KIND)
    if len(brackets) <= 2 * depth:
        return True  # balanced, n brackets nest at most n / 2 deep (unbalanced, the parser refuses them)
    steps = ord("\\") - np.frombuffer(brackets, dtype=np.int8)  # "[" is "\\" - 1, "]" is "\\" + 1
    return int(np.cumsum(steps, dtype=np.int64).max()) <= depth


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def decode(payload: bytes) -> dict:
    """A message as a dict, refusing (before parsing) one too large or too deeply nested, and NaN/Infinity."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MessageError(f"{len(payload)} bytes, more than {MAX_MESSAGE_BYTES}")
    if not nesting_within(payload, MAX_DEPTH):
        raise MessageError(f"nested more than {MAX_DEPTH} deep")
    try:
        data = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MessageError(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise MessageError("not a JSON object")
    return data


def sanitised(value: Any, problems: list[str], depth: int = 0) -> Any:
    """``value`` made sendable: a number that is not finite becomes null, a text over ``TEXT_MAX`` is cut
    short, anything nested deeper than a message may be is dropped; each change is named in ``problems``."""
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{value} is not a number")
        return None
    if isinstance(value, str) and len(value) > TEXT_MAX:
        problems.append(f"a text of {len(value)} characters cut to {TEXT_MAX}")
        return value[:TEXT_MAX]
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_DEPTH - 4:
        problems.append(f"nested more than {MAX_DEPTH - 4} deep")
        return None
    if isinstance(value, (list, tuple)):
        return [sanitised(v, problems, depth + 1) for v in value]
    if isinstance(value, dict):
        return {sanitised(str(k), problems, depth + 1): sanitised(v, problems, depth + 1) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float)):
        return value
    problems.append(f"a {type(value).__name__} is not a JSON value")
    return None


# --- batches -------------------------------------------------------------------------------


def reading_row(r: StoredReading) -> list:
    return [r.id, r.t, r.vital, r.value, r.unit, r.source, r.status]


def event_row(row_id: int, t: float, kind: str, data_text: str, who: str | None) -> list | None:
    """An event as stored (its data still JSON text), or None when that text is not readable JSON."""
    try:
        data = json.loads(data_text)
    except (TypeError, ValueError, RecursionError) as exc:
        log.warning("events row %s has unreadable data, not published: %s", row_id, str(exc)[:200])
        return None
    return [row_id, t, kind, data, who]


def alarm_row(row_id: int, a: AlarmEvent) -> list:
    return [row_id, a.t, a.event, a.alarm_id, a.priority, a.kind, a.vital, a.value, a.limit, a.rule, a.message, a.who, a.source]


def batch(kind: str, session_id: str, after: int, rows: list[list], last: int | None = None) -> dict:
    """One message of stored rows (each starting with its bedside row id), continuing from ``after`` and
    reaching ``last`` (default: the last row's id)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if last is None:
        last = rows[-1][0] if rows else after
    return {
        "id": message_id(session_id, kind, last),
        "kind": kind,
        "session": session_id,
        "after": after,
        "last": last,
        "rows": rows,
    }


def encode_safely(payload: dict) -> tuple[bytes, list[str]]:
    """``payload`` encoded; if it holds something JSON cannot carry, sanitised first (the changes listed)."""
    try:
        return encode(payload), []
    except (ValueError, TypeError):
        problems: list[str] = []
        return encode(sanitised(payload, problems)), problems


def encode_batch(kind: str, session_id: str, after: int, rows: list[tuple[int, list | None]]) -> tuple[bytes, int, list[str]]:
    """The message for the first of ``rows`` (``(row id, row)``, the row None when unreadable) that fit in
    ``MAX_MESSAGE_BYTES``, the row id it reaches, and what had to be changed or left out on the way.

    Rows are sent as stored when they can be; otherwise each is sanitised (``sanitised``), the batch is
    halved until it fits, and a row too large even alone is left out: one stored oddity never stops a room."""
    problems: list[tuple[int, str]] = [(i, "unreadable, left out") for i, r in rows if r is None]

    def attempt(part: list[tuple[int, list | None]]) -> bytes | None:
        try:
            return encode(batch(kind, session_id, after, [r for _, r in part if r is not None], part[-1][0]))
        except (ValueError, TypeError):
            return None

    def fits(payload: bytes | None) -> bool:
        return payload is not None and len(payload) <= MAX_MESSAGE_BYTES

    payload = attempt(rows)
    if not fits(payload):
        rows = [(i, _sanitised_row(i, r, problems)) for i, r in rows]
        payload = attempt(rows)
        while not fits(payload) and len(rows) > 1:
            rows = rows[: len(rows) // 2]
            payload = attempt(rows)
        if not fits(payload):
            why = "cannot be sent even sanitised" if payload is None else f"over {MAX_MESSAGE_BYTES} bytes even cut short"
            problems.append((rows[0][0], f"{why}, left out"))
            rows = [(rows[0][0], None)]
            payload = attempt(rows)
    if payload is None:  # no rows left to blame: the kind itself is unknown
        raise ValueError(f"unknown kind {kind!r}")
    last = rows[-1][0]
    return payload, last, [f"row {i}: {text}" for i, text in problems if i <= last]


def _sanitised_row(row_id: int, row: list | None, problems: list[tuple[int, str]]) -> list | None:
    found: list[str] = []
    out = None if row is None else sanitised(row, found)
    if found:
        problems.append((row_id, "; ".join(found)))
    return out


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


MAX_ROW_ID = 2**53  # row ids are SQLite integers sent as JSON numbers: exact up to 2**53
MAX_BATCH_ROWS = 10_000  # design proposal: twice the publisher's catch-up chunk


def _row_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ROW_ID:
        raise MessageError(f"bad batch: {str(value)[:40]} is not a row id")
    return value


def parse_batch(data: dict) -> Batch:
    """The batch in ``data``, its structure checked (the rows' contents are checked by the receiver)."""
    kind, session, rows = data.get("kind"), data.get("session"), data.get("rows")
    if kind not in KINDS:
        raise MessageError(f"bad batch kind {str(kind)[:40]!r}")
    if not isinstance(session, str) or not NAME.match(session):
        raise MessageError(f"bad batch: session {str(session)[:80]!r}")
    if not isinstance(rows, list) or len(rows) > MAX_BATCH_ROWS:
        raise MessageError(f"bad batch: rows must be a list of at most {MAX_BATCH_ROWS}")
    if not all(isinstance(r, list) and r for r in rows):
        raise MessageError("bad batch: each row must be a list starting with its row id")
    b = Batch(kind, session, _row_id(data.get("after")), _row_id(data.get("last")), rows)
    ids = [_row_id(r[0]) for r in rows]
    if any(x >= y for x, y in zip(ids, ids[1:])) or (ids and (ids[0] <= b.after or ids[-1] > b.last)):
        raise MessageError("bad batch: row ids out of order")
    if b.last < b.after:
        raise MessageError("bad batch: it ends before it starts")
    return b


# --- room state ----------------------------------------------------------------------------


def session_dict(s: Session) -> dict:
    return {
        "id": s.id,
        "patient": s.patient,
        "started": s.started,
        "route": s.route,
        "weight_kg": s.weight_kg,
        "protocol": s.protocol,
        "kind": s.kind,
        "metadata": s.metadata,
    }


ALARM_FIELDS = (
    "alarm_id",
    "priority",
    "kind",
    "message",
    "since",
    "vital",
    "value",
    "limit",
    "rule",
    "acknowledged",
    "latched",
    "response",
)


def alarm_dict(a: Any) -> dict:
    """An active alarm (the engine's ``ActiveAlarm``) as the central station needs it."""
    return {f: getattr(a, f, None) for f in ALARM_FIELDS}


def limit_dict(planned: Any) -> dict:
    """One of the plan's limits (a ``PlannedLimit``) as the central station shows it."""
    limit = planned.limit
    return {
        "id": limit.id,
        "vital": limit.vital,
        "comparison": limit.comparison,
        "threshold": limit.threshold,
        "priority": limit.priority,
        "text": describe_limit(limit),
    }


def state(
    session: Session,
    alarms: list,
    url: str | None,
    cursors: dict[str, int],
    now: float,
    speed: float,
    ended: bool,
    audio_priority: str | None = None,
    limits: tuple = (),
    dosing: dict | None = None,
    charts: list[dict] | None = None,
) -> dict:
    """A room's state; ``dosing`` is ``{"state": "clear"|"gated"|"blocked", "headline": ...}`` while it runs;
    ``charts`` one ``{"scale", "status", "level", "t"}`` per observation scale its protocol charts."""
    return {
        "session": session_dict(session),
        "alarms": [alarm_dict(a) for a in alarms],
        "url": url,
        "cursors": dict(cursors),
        "now": now,
        "speed": speed,
        "ended": ended,
        "audio": audio_priority,
        "limits": [limit_dict(p) for p in limits],
        "dosing": dosing,
        "charts": charts or [],
    }


def status(online: bool, t: float | None = None) -> dict:
    return {"status": "online" if online else "offline", "t": t}


def ack_command(request_id: str, session_id: str, alarm_id: str, who: str) -> dict:
    return {"op": "ack", "request": request_id, "session": session_id, "alarm_id": alarm_id, "who": who}


def sync_command(session_id: str, cursors: dict[str, int]) -> dict:
    return {"op": "sync", "session": session_id, "cursors": {k: int(cursors.get(k, 0)) for k in KINDS}}


def reply(request_id: str, ok: bool, message: str, events: int = 0) -> dict:
    return {"request": request_id, "ok": ok, "message": message, "events": events}
