"""The central station's subscriber: every room's state, and a mirror of every room's session.

Each session is mirrored into the central store under its own id, with the same readings, events and
alarm transitions as the bedside store. For every mirrored session and kind the central store keeps
the bedside row id it has reached (its cursor), updated in the same transaction as the rows: a batch
is applied only from where it continues that cursor, so a duplicate adds nothing, and a gap (a batch
lost while the broker went down, or a station that started late) is asked for again with ``sync``.

Room status comes from the retained ``status`` topic, whose last will turns a dead bedside OFFLINE.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor import mqtt_topics as mt
from monitor.alarm_events import PRIORITY_RANK
from monitor.broker import KEEPALIVE_S, BrokerConfig, make_client
from monitor.store import Store

log = logging.getLogger(__name__)

SYNC_EVERY_S = 2.0  # at most one sync request per room this often

MIRROR_SCHEMA = """
CREATE TABLE IF NOT EXISTS mirror (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    readings INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    alarms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS central_audit (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    site TEXT NOT NULL,
    room TEXT NOT NULL,
    session_id TEXT,
    action TEXT NOT NULL,
    alarm_id TEXT,
    who TEXT,
    result TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS central_audit_no_update BEFORE UPDATE ON central_audit
BEGIN SELECT RAISE(ABORT, 'central_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS central_audit_no_delete BEFORE DELETE ON central_audit
BEGIN SELECT RAISE(ABORT, 'central_audit is append-only'); END;
"""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    t: float
    site: str
    room: str
    session_id: str | None
    action: str
    alarm_id: str | None
    who: str | None
    result: str


class CentralStore(Store):
    """A store whose sessions are mirrored from rooms: which room each came from, how far each kind is
    mirrored, and the central station's own audit of what its users did."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._conn().executescript("BEGIN;" + MIRROR_SCHEMA + "COMMIT;")

    def mirror_session(self, session: Any, site: str, room: str) -> None:
        conn = self._conn()
        if self.session(session.id) is None:
            self.create_session(session)
        conn.execute("INSERT OR IGNORE INTO mirror (session_id, site, room) VALUES (?,?,?)", (session.id, site, room))

    def cursors(self, session_id: str) -> dict[str, int]:
        row = self._conn().execute("SELECT readings, events, alarms FROM mirror WHERE session_id=?",
                                   (session_id,)).fetchone()
        return dict(zip(mt.KINDS, row or (0, 0, 0)))

    def room_of(self, session_id: str) -> tuple[str, str] | None:
        row = self._conn().execute("SELECT site, room FROM mirror WHERE session_id=?", (session_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def apply(self, kind: str, session_id: str, rows: list[list], last: int) -> None:
        """Append mirrored rows of one kind and move that kind's cursor to ``last``, in one transaction."""
        if kind not in mt.KINDS:
            raise ValueError(kind)
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            if kind == "readings":
                conn.executemany(
                    "INSERT INTO readings (session_id, t, vital, value, unit, source, status) VALUES (?,?,?,?,?,?,?)",
                    [(session_id, *r[1:]) for r in rows],
                )
            elif kind == "events":
                conn.executemany(
                    "INSERT INTO events (session_id, t, kind, data, who) VALUES (?,?,?,?,?)",
                    [(session_id, t, k, json_text(d), w) for _id, t, k, d, w in rows],
                )
            else:
                conn.executemany(
                    "INSERT INTO alarm_events (session_id, t, event, alarm_id, priority, kind, vital, value,"
                    " limit_value, rule, message, who, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(session_id, *r[1:]) for r in rows],
                )
            conn.execute(f"UPDATE mirror SET {kind}=? WHERE session_id=?", (last, session_id))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def audit(self, site: str, room: str, session_id: str | None, action: str, alarm_id: str | None,
              who: str | None, result: str) -> None:
        self._conn().execute(
            "INSERT INTO central_audit (t, site, room, session_id, action, alarm_id, who, result) VALUES (?,?,?,?,?,?,?,?)",
            (time.time(), site, room, session_id, action, alarm_id, who, result),
        )

    def audit_log(self, session_id: str | None = None) -> list[AuditEntry]:
        sql = "SELECT t, site, room, session_id, action, alarm_id, who, result FROM central_audit"
        rows = self._conn().execute(sql + (" WHERE session_id=? ORDER BY id" if session_id else " ORDER BY id"),
                                    (session_id,) if session_id else ()).fetchall()
        return [AuditEntry(*r) for r in rows]


def json_text(data: Any) -> str:
    return json.dumps(data)


@dataclass
class Room:
    """What the central station knows about one room."""

    site: str
    room: str
    status: str = "unknown"  # online | offline | unknown
    state: dict | None = None
    state_received: float = 0.0  # monotonic
    status_changed: float = field(default_factory=time.time)
    last_sync: float = 0.0  # monotonic

    @property
    def key(self) -> str:
        return f"{self.site}/{self.room}"

    @property
    def session_id(self) -> str | None:
        return self.state["session"]["id"] if self.state else None

    @property
    def ended(self) -> bool:
        return bool(self.state and self.state.get("ended"))

    @property
    def alarms(self) -> list[dict]:
        return list(self.state.get("alarms", [])) if self.state and self.status == "online" else []

    def session_now(self) -> float:
        """The bedside's session clock now, from its last state (simulations run faster than real time)."""
        if not self.state:
            return time.time()
        return self.state["now"] + (time.monotonic() - self.state_received) * float(self.state.get("speed") or 1.0)

    def highest_alarm(self) -> dict | None:
        alarms = self.alarms
        if not alarms:
            return None
        return max(alarms, key=lambda a: (not a["acknowledged"], PRIORITY_RANK.get(a["priority"], 0), a["since"]))

    def urgency(self) -> int:
        """Sort key: an unacknowledged high alarm first, then a room gone offline mid-session, then the rest."""
        if self.status != "online":
            return 0 if self.ended or self.state is None else 4
        top = self.highest_alarm()
        if top is None:
            return 1
        rank = PRIORITY_RANK.get(top["priority"], 0)
        if top["acknowledged"]:
            return 1 + rank / 10
        return {3: 5, 2: 3, 1: 2}.get(rank, 2)


class Central:
    """Subscribes to every room of a site (or of every site) and mirrors them into ``store``."""

    def __init__(self, store: CentralStore, config: BrokerConfig, site: str | None = None,
                 keepalive: int = KEEPALIVE_S) -> None:
        self.store = store
        self.config = config
        self.site = mt.check_name("site", site) if site else None
        self.keepalive = keepalive
        self.rooms: dict[str, Room] = {}
        self.on_applied: list[Callable[[str, str, list[list], float], None]] = []  # (kind, session, rows, t)
        self._cursors: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._replies: dict[str, tuple[threading.Event, list]] = {}
        self._connected = threading.Event()
        self._stopping = False
        self.client = make_client(config, f"kapmon-central-{secrets.token_hex(3)}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> Central:
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.keepalive)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def snapshot(self) -> list[Room]:
        """Copies of every room, most urgent first."""
        with self._lock:
            rooms = [Room(r.site, r.room, r.status, r.state, r.state_received, r.status_changed, r.last_sync)
                     for r in self.rooms.values()]
        return sorted(rooms, key=lambda r: (-r.urgency(), r.key))

    def room(self, key: str) -> Room | None:
        with self._lock:
            return self.rooms.get(key)

    # --- acknowledging from the central station -----------------------------------------------

    def acknowledge(self, key: str, alarm_id: str, who: str, timeout: float = 5.0) -> tuple[bool, str]:
        """Ask the room's bedside to acknowledge an alarm on behalf of ``who``; audited here and there."""
        room = self.room(key)
        who = who.strip()
        if room is None or room.session_id is None:
            return False, f"no room {key}"
        if not who:
            return False, "enter your name or initials first"
        session_id = room.session_id
        if room.status != "online" or not self.connected:
            self.store.audit(room.site, room.room, session_id, "ack", alarm_id, who, "not sent: room offline")
            return False, f"{key} is offline: acknowledge at the bedside"
        request = secrets.token_hex(8)
        done = threading.Event()
        self._replies[request] = (done, [])
        self.store.audit(room.site, room.room, session_id, "ack", alarm_id, who, "requested")
        self.client.publish(mt.topic(room.site, room.room, "cmd"),
                            mt.encode(mt.ack_command(request, session_id, alarm_id, who)), qos=1)
        try:
            if not done.wait(timeout):
                self.store.audit(room.site, room.room, session_id, "ack", alarm_id, who, "no answer from the bedside")
                return False, f"no answer from {key} within {timeout:g} s"
            answer = self._replies[request][1][0]
        finally:
            self._replies.pop(request, None)
        result = ("done: " if answer.get("ok") else "refused: ") + str(answer.get("message", ""))
        self.store.audit(room.site, room.room, session_id, "ack", alarm_id, who, result)
        return bool(answer.get("ok")), str(answer.get("message", ""))

    # --- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason_code: Any, _properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker %s refused the connection: %s", self.config, reason_code)
            return
        client.subscribe(mt.subscription(self.site), qos=1)
        self._connected.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason_code: Any, _properties: Any) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("lost the broker %s (%s)", self.config, reason_code)
        self._connected.clear()

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        try:
            site, room_name, leaf = mt.parse_topic(msg.topic)
            if leaf == "cmd":
                return
            data = mt.decode(msg.payload)
            key = f"{site}/{room_name}"
            with self._lock:
                room = self.rooms.get(key)
                if room is None:
                    room = self.rooms[key] = Room(site, room_name)
            if leaf == "status":
                self._on_status(room, data)
            elif leaf == "state":
                self._on_state(room, data)
            elif leaf == "reply":
                waiting = self._replies.get(str(data.get("request")))
                if waiting is not None:
                    waiting[1].append(data)
                    waiting[0].set()
            else:
                self._on_batch(room, mt.parse_batch(data))
        except mt.MessageError as exc:
            log.warning("ignoring a message on %s: %s", msg.topic, exc)
        except Exception:
            log.exception("handling a message on %s failed", msg.topic)

    def _on_status(self, room: Room, data: dict) -> None:
        status = "online" if data.get("status") == "online" else "offline"
        with self._lock:
            if status != room.status:
                room.status, room.status_changed = status, time.time()

    def _on_state(self, room: Room, data: dict) -> None:
        session = mt.session_from_dict(data["session"])
        if (session.id, "readings") not in self._cursors:
            self.store.mirror_session(session, room.site, room.room)
            for kind, cursor in self.store.cursors(session.id).items():
                self._cursors[(session.id, kind)] = cursor
        with self._lock:
            room.state, room.state_received = data, time.monotonic()
        theirs = data.get("cursors") or {}
        if any(self._cursors[(session.id, k)] < int(theirs.get(k, 0)) for k in mt.KINDS):
            self._sync(room, session.id)

    def _on_batch(self, room: Room, b: mt.Batch) -> None:
        cursor = self._cursors.get((b.session, b.kind))
        if cursor is None:
            return  # the session's state has not arrived yet; it asks for everything when it does
        if b.after > cursor:
            self._sync(room, b.session)
            return
        rows = b.new_rows(cursor)
        if not rows:
            return
        self.store.apply(b.kind, b.session, rows, b.last)
        self._cursors[(b.session, b.kind)] = b.last
        now = time.time()
        for listener in self.on_applied:
            listener(b.kind, b.session, rows, now)

    def _sync(self, room: Room, session_id: str) -> None:
        now = time.monotonic()
        if now - room.last_sync < SYNC_EVERY_S:
            return
        room.last_sync = now
        cursors = {k: self._cursors.get((session_id, k), 0) for k in mt.KINDS}
        log.info("asking %s for session %s after %s", room.key, session_id, cursors)
        self.client.publish(mt.topic(room.site, room.room, "cmd"), mt.encode(mt.sync_command(session_id, cursors)),
                            qos=1)
