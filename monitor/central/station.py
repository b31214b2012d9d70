"""The central station's subscriber: every room's state, and a mirror of every room's session.

Each session is mirrored into the central store under its own id, with the same readings, events and
alarm transitions as the bedside store. For every mirrored session and kind the central store keeps
the bedside row id it has reached (its cursor), updated in the same transaction as the rows: a batch
is applied only from where it continues that cursor, so a duplicate adds nothing, and a gap (a batch
lost while the broker went down, or a station that started late) is asked for again with ``sync``.

Room status comes from the retained ``status`` topic, whose last will turns a dead bedside OFFLINE.

What a room sends is checked before it is stored or shown (``monitor.central.checks``), one message at a
time: a message that is too large, too deeply nested or wrong in any field is refused, logged and counted
on its room, and nothing else changes. A session belongs to the room it was first seen in (kept in the
central store, so across restarts): no other room can write to it. Rows outside their physical range, a
"no value" with a number, and times ahead of the room's clock are refused row by row. Commands (``ack``,
``sync``) are signed with the site key and replies must be; a command on a room's ``cmd`` topic that this
station did not send and that is not signed is recorded in ``central_audit``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devices.vocabulary import PRIORITY_RANK
from monitor.central import checks as checks
from monitor.central import topics as mt
from monitor.central.broker import KEEPALIVE_S, BrokerConfig, BrokerError, guarded, make_client
from monitor.central.checks import RoomState
from monitor.central.site_key import CLOCK_SKEW_S, Verifier, is_signed_by, sign
from monitor.central.throttle import REPORT_EVERY_S, Throttle
from monitor.rules.alarms import ActiveAlarm
from monitor.session.store import Store, insert_readings

log = logging.getLogger(__name__)

SYNC_EVERY_S = 2.0  # at most one sync request per room this often
MAX_ROOMS = 256  # design proposal: more rooms than a clinic has; a flood of made-up rooms stops here
REPLY_TEXT_MAX = 500
SILENT_S = 3 * mt.STATE_EVERY_S  # a bedside republishes its state at least every 5 s; three missed: offline
SENT_MAX = 10_000  # own command nonces remembered (2 x CLOCK_SKEW_S each); pruned when this many

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
        row = self._conn().execute("SELECT readings, events, alarms FROM mirror WHERE session_id=?", (session_id,)).fetchone()
        return dict(zip(mt.KINDS, row or (0, 0, 0)))

    def room_of(self, session_id: str) -> tuple[str, str] | None:
        row = self._conn().execute("SELECT site, room FROM mirror WHERE session_id=?", (session_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def apply(self, kind: str, session_id: str, rows: list[tuple], last: int) -> None:
        """Append checked rows of one kind (``mqtt_checks.checked_row``) and move that kind's cursor to
        ``last``, in one transaction."""
        if kind not in mt.KINDS:
            raise ValueError(kind)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: the next reading id is read before inserting
        try:
            if kind == "readings":
                insert_readings(conn, session_id, rows)
            elif kind == "events":
                conn.executemany(
                    "INSERT INTO events (session_id, t, kind, data, who) VALUES (?,?,?,?,?)",
                    [(session_id, t, k, json.dumps(d), w) for t, k, d, w in rows],
                )
            else:
                conn.executemany(
                    "INSERT INTO alarm_events (session_id, t, event, alarm_id, priority, kind, vital, value,"
                    " limit_value, rule, message, who, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(session_id, *r) for r in rows],
                )
            conn.execute(f"UPDATE mirror SET {kind}=? WHERE session_id=?", (last, session_id))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def write_central_audit(
        self, site: str, room: str, session_id: str | None, action: str, alarm_id: str | None, who: str | None, result: str
    ) -> None:
        self._conn().execute(
            "INSERT INTO central_audit (t, site, room, session_id, action, alarm_id, who, result) VALUES (?,?,?,?,?,?,?,?)",
            (time.time(), site, room, session_id, action, alarm_id, who, result),
        )

    def audit_log(self, session_id: str | None = None) -> list[AuditEntry]:
        sql = "SELECT t, site, room, session_id, action, alarm_id, who, result FROM central_audit"
        rows = (
            self._conn()
            .execute(
                sql + (" WHERE session_id=? ORDER BY id" if session_id else " ORDER BY id"), (session_id,) if session_id else ()
            )
            .fetchall()
        )
        return [AuditEntry(*r) for r in rows]


@dataclass
class Room:
    """What the central station knows about one room."""

    site: str
    room: str
    status: str = "unknown"  # online | offline | unknown
    state: RoomState | None = None  # the last valid state; kept while the room is offline
    state_received: float = 0.0  # monotonic
    status_changed: float = field(default_factory=time.time)
    last_sync: float = 0.0  # monotonic
    refused: int = 0  # messages (or rows) from this room refused
    refusal: str = ""  # why the latest was refused

    @property
    def key(self) -> str:
        return f"{self.site}/{self.room}"

    @property
    def session_id(self) -> str | None:
        return self.state.session.id if self.state else None

    @property
    def ended(self) -> bool:
        return bool(self.state and self.state.ended)

    @property
    def alarms(self) -> list[ActiveAlarm]:
        """The active alarms of the last state (the last known ones when the room is offline)."""
        return list(self.state.alarms) if self.state else []

    @property
    def unreadable(self) -> bool:
        """A room that publishes, but nothing valid yet."""
        return self.state is None and self.refused > 0

    def session_now(self) -> float:
        """The bedside's session clock now, from its last state (simulations run faster than real time)."""
        if not self.state:
            return time.time()
        return self.state.now + (time.monotonic() - self.state_received) * self.state.speed

    def highest_alarm(self) -> ActiveAlarm | None:
        return max(self.alarms, key=lambda a: (not a.acknowledged, PRIORITY_RANK[a.priority], a.since), default=None)

    def urgency(self) -> float:
        """Sort key: an unacknowledged high alarm first (also the last known one of a room gone offline),
        then a room offline mid-session or sending nothing valid, then medium, low, quiet."""
        top = self.highest_alarm()
        unacknowledged_high = top is not None and not top.acknowledged and top.priority == "high"
        if self.unreadable:
            return 4
        if self.status != "online":
            if self.ended or self.state is None:
                return 0
            return 5 if unacknowledged_high else 4
        if top is None:
            return 1
        if top.acknowledged:
            return 1 + PRIORITY_RANK[top.priority] / 10
        return {3: 5, 2: 3, 1: 2}[PRIORITY_RANK[top.priority]]


def seen_now(room: Room) -> Room:
    """A copy of ``room`` as it stands now: online by its status but silent (no state, its heartbeat, for
    ``SILENT_S``) is offline since its last state. A stuck bedside, or a forged retained "online", cannot
    keep a room looking alive."""
    silent = time.monotonic() - room.state_received
    if room.status == "online" and room.state is not None and silent > SILENT_S:
        return replace(room, status="offline", status_changed=time.time() - silent)
    return replace(room)


class Central:
    """Subscribes to every room of a site (or of every site) and mirrors them into ``store``."""

    def __init__(self, store: CentralStore, config: BrokerConfig, site: str | None = None, keepalive: int = KEEPALIVE_S) -> None:
        if not config.site_key:
            raise BrokerError("the central station needs the site key that signs commands (--site-key)")
        self.store = store
        self.config = config
        self.site = mt.check_name("site", site) if site else None
        self.keepalive = keepalive
        self.rooms: dict[str, Room] = {}
        self.on_applied: list[Callable[[str, str, list[list], float], None]] = []  # (kind, session, rows, t)
        self._cursors: dict[tuple[str, str], int] = {}
        self._owners: dict[str, str] = {}  # session id -> the room key it belongs to
        self._lock = threading.Lock()
        self._replies: dict[str, tuple[str, threading.Event, list]] = {}  # request -> (reply topic, done, answer)
        self._sent: dict[str, float] = {}  # nonces of this station's commands -> when to forget them
        self._verifier = Verifier(config.site_key)
        self._reports = Throttle(REPORT_EVERY_S)
        self._connected = threading.Event()
        self._stopping = False
        self.client = make_client(config, f"kapmon-central-{secrets.token_hex(3)}")
        self.client.on_connect = guarded(self._on_connect)
        self.client.on_disconnect = guarded(self._on_disconnect)
        self.client.on_message = guarded(self._on_message)

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
            rooms = [seen_now(r) for r in self.rooms.values()]
        return sorted(rooms, key=lambda r: (-r.urgency(), r.key))

    def room(self, key: str) -> Room | None:
        with self._lock:
            room = self.rooms.get(key)
            return None if room is None else seen_now(room)

    def room_of_session(self, session_id: str) -> Room | None:
        """The room a mirrored session belongs to (it may have moved on to another session)."""
        owner = self.store.room_of(session_id)
        return None if owner is None else self.room("/".join(owner))

    # --- commands to a bedside ------------------------------------------------------------------

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
            self.store.write_central_audit(room.site, room.room, session_id, "ack", alarm_id, who, "not sent: room offline")
            return False, f"{key} is offline: acknowledge at the bedside"
        request = secrets.token_hex(8)
        done = threading.Event()
        self._replies[request] = (mt.topic(room.site, room.room, "reply"), done, [])
        self.store.write_central_audit(room.site, room.room, session_id, "ack", alarm_id, who, "requested")
        self._command(room, mt.ack_command(request, session_id, alarm_id, who))
        try:
            if not done.wait(timeout):
                self.store.write_central_audit(
                    room.site, room.room, session_id, "ack", alarm_id, who, "no answer from the bedside"
                )
                return False, f"no answer from {key} within {timeout:g} s"
            ok, message = self._replies[request][2][0]
        finally:
            self._replies.pop(request, None)
        self.store.write_central_audit(
            room.site, room.room, session_id, "ack", alarm_id, who, ("done: " if ok else "refused: ") + message
        )
        return ok, message

    def _command(self, room: Room, message: dict) -> None:
        """Sign and send a command to ``room``, remembering its nonce (this station's own, when it comes back)."""
        topic = mt.topic(room.site, room.room, "cmd")
        now = time.time()
        signed = sign(self.config.site_key, topic, message, now)
        with self._lock:
            if len(self._sent) >= SENT_MAX:
                self._sent = {n: until for n, until in self._sent.items() if until > now}
            self._sent[signed["nonce"]] = now + 2 * CLOCK_SKEW_S
        self.client.publish(topic, mt.encode(signed), qos=1)

    def _sync(self, room: Room, session_id: str) -> None:
        now = time.monotonic()
        if now - room.last_sync < SYNC_EVERY_S:
            return
        room.last_sync = now
        cursors = {k: self._cursors.get((session_id, k), 0) for k in mt.KINDS}
        log.info("asking %s for session %s after %s", room.key, session_id, cursors)
        self.store.write_central_audit(
            room.site,
            room.room,
            session_id,
            "sync",
            None,
            None,
            "sent: rows after " + ", ".join(f"{k} {v}" for k, v in cursors.items()),
        )
        self._command(room, mt.sync_command(session_id, cursors))

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
            site, name, leaf = mt.parse_topic(msg.topic)
        except mt.MessageError as exc:
            if count := self._reports.due("topic", time.time()):
                log.warning("ignoring %d message(s) on topics that are not kapmon's, e.g. %s", count, exc)
            return
        if leaf == "cmd":
            self._on_command_seen(site, name, msg.topic, msg.payload)
            return
        room = self._room(site, name)
        if room is None:
            return
        try:
            data = mt.decode(msg.payload)
            if leaf == "status":
                self._on_status(room, data)
            elif leaf == "state":
                self._on_state(room, checks.parse_state(data, time.time()))
            elif leaf == "reply":
                self._on_reply(msg.topic, data)
            else:
                self._on_batch(room, mt.parse_batch(data))
        except mt.MessageError as exc:
            self._refuse(room, leaf, str(exc))
        except Exception as exc:  # one room's message never stops the others
            self._refuse(room, leaf, f"could not be handled ({type(exc).__name__}: {str(exc)[:200]})", trace=True)

    def _room(self, site: str, name: str) -> Room | None:
        key = f"{site}/{name}"
        with self._lock:
            room = self.rooms.get(key)
            if room is None and len(self.rooms) < MAX_ROOMS:
                room = self.rooms[key] = Room(site, name)
        if room is None and (count := self._reports.due("rooms", time.time())):
            log.warning("ignoring %d message(s) from rooms beyond the first %d, e.g. %s", count, MAX_ROOMS, key)
        return room

    def _refuse(self, room: Room, leaf: str, reason: str, trace: bool = False) -> None:
        """Count a refused message on its room; log it (with the traceback of an unexpected error) once a minute."""
        with self._lock:
            room.refused += 1
            room.refusal = f"{leaf}: {reason}"
        if count := self._reports.due(f"{room.key} {leaf}", time.time()):
            log.warning("refused %d message(s) from %s on %s: %s", count, room.key, leaf, reason, exc_info=trace)

    def _owner(self, session_id: str) -> str | None:
        """The room a session belongs to: the first that published it (kept in the central store)."""
        if session_id not in self._owners:
            owner = self.store.room_of(session_id)
            if owner is None:
                return None
            self._owners[session_id] = "/".join(owner)
        return self._owners[session_id]

    def _check_owner(self, room: Room, session_id: str) -> str | None:
        owner = self._owner(session_id)
        if owner is not None and owner != room.key:
            raise mt.MessageError(f"session {session_id} belongs to {owner}: a room publishes only its own sessions")
        return owner

    def _on_status(self, room: Room, data: dict) -> None:
        status = data.get("status")
        if status not in ("online", "offline"):
            raise mt.MessageError(f"status: {str(status)[:40]!r} is not online or offline")
        with self._lock:
            if status != room.status:
                room.status, room.status_changed = status, time.time()

    def _on_state(self, room: Room, state: RoomState) -> None:
        session = state.session
        if self._check_owner(room, session.id) is None:
            self.store.mirror_session(session, room.site, room.room)
            self._owners[session.id] = room.key
        if (session.id, "readings") not in self._cursors:
            for kind, cursor in self.store.cursors(session.id).items():
                self._cursors[(session.id, kind)] = cursor
        with self._lock:
            room.state, room.state_received = state, time.monotonic()
        if any(self._cursors[(session.id, k)] < state.cursors[k] for k in mt.KINDS):
            self._sync(room, session.id)

    def _on_batch(self, room: Room, b: mt.Batch) -> None:
        if self._check_owner(room, b.session) is None:
            return  # the session's state has not arrived yet; it asks for everything when it does
        cursor = self._cursors.get((b.session, b.kind))
        if cursor is None:
            return
        if b.after > cursor:
            self._sync(room, b.session)
            return
        if b.last <= cursor:
            return  # a duplicate
        room_now, accepted, values, refused = room.session_now(), [], [], []
        for row in b.new_rows(cursor):
            try:
                values.append(checks.checked_row(b.kind, row, room_now))
                accepted.append(row)
            except mt.MessageError as exc:
                refused.append(f"row {row[0]}: {exc}")
        if refused:
            self._refuse(room, f"data/{b.kind}", f"{len(refused)} row(s) refused, the first {refused[0]}")
        self.store.apply(b.kind, b.session, values, b.last)
        self._cursors[(b.session, b.kind)] = b.last
        now = time.time()
        for listener in self.on_applied:
            listener(b.kind, b.session, accepted, now)

    def _on_reply(self, topic: str, data: dict) -> None:
        request = data.get("request")
        waiting = self._replies.get(request) if isinstance(request, str) else None
        if waiting is not None and waiting[0] != topic:
            raise mt.MessageError(f"reply refused: request {request} was sent to another room")
        reason = self._verifier.refusal(topic, data, time.time())
        if reason is None:
            ok, message = data.get("ok"), data.get("message")
            if not isinstance(ok, bool) or not isinstance(message, str):
                reason = "a reply needs ok and a message"
        if reason is not None:
            if waiting is not None:
                waiting[2].append(
                    (
                        False,
                        f"the bedside's answer was refused here ({reason}): check that the "
                        "bedside and this station have the same site key",
                    )
                )
                waiting[1].set()
            raise mt.MessageError(f"reply refused: {reason}")
        if waiting is not None and isinstance(message, str):  # a text, as checked above
            waiting[2].append((ok, message[:REPLY_TEXT_MAX]))
            waiting[1].set()

    def _on_command_seen(self, site: str, name: str, topic: str, payload: bytes) -> None:
        """A command on a room's ``cmd`` topic: this station's own, another key holder's, or a forgery
        (which the bedside refuses, and which is recorded here too)."""
        try:
            data = mt.decode(payload)
        except mt.MessageError as exc:
            data, problem = {}, f"not a kapmon command ({exc})"
        else:
            nonce = data.get("nonce")
            with self._lock:
                if isinstance(nonce, str) and nonce in self._sent:
                    return
            if is_signed_by(self.config.site_key, topic, data):
                log.info("a command on %s from another holder of the site key", topic)
                return
            problem = "not signed with the site key"
        now = time.time()
        if count := self._reports.due(f"forged {topic}", now):
            log.warning("%d command(s) on %s %s: the bedside refuses them", count, topic, problem)
            self.store.write_central_audit(
                site,
                name,
                _clip(data.get("session")),
                f"forged {_clip(data.get('op')) or 'command'}",
                _clip(data.get("alarm_id")),
                _clip(data.get("who")),
                f"{count} command(s) {problem} seen on {topic}: refused by the bedside",
            )


def _clip(value: Any) -> str | None:
    """A field of an untrusted message as text for the audit log (None stays None)."""
    return None if value is None else str(value)[:64]
