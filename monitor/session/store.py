"""The session store: one SQLite file (WAL mode) holding many sessions, append-only.

Readings, session events (doses, notes, phases, device conditions) and alarm transitions are
only ever inserted; triggers refuse updates and deletes. Each thread gets its own connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devices.errors import KapmonError
from devices.reading import Reading
from monitor.rules.alarm_events import AlarmEvent
from monitor.session.dose_rows import dose_rows
from monitor.session.model import Dose, Session

SCHEMA_VERSION = 1
CORRECTION = "correction"  # an event that takes an earlier entry (dose, note, hand-taken BP) out of the record's use
CORRECTABLE = {"dose": "dose", "note": "note", "manual_nibp": "hand-taken BP"}  # entries that can be marked entered in error
MANUAL = "manual"  # the source of readings entered by hand

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    patient TEXT NOT NULL,
    started REAL NOT NULL,
    route TEXT NOT NULL,
    weight_kg REAL,
    protocol TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'clinical',
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    vital TEXT NOT NULL,
    value REAL,
    unit TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    CHECK ((status = 'no_value') = (value IS NULL))
);
CREATE INDEX IF NOT EXISTS readings_by_vital ON readings(session_id, vital, id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    who TEXT
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session_id, id);
CREATE TABLE IF NOT EXISTS alarm_events (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,
    event TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    priority TEXT NOT NULL,
    kind TEXT NOT NULL,
    vital TEXT,
    value REAL,
    limit_value REAL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    who TEXT,
    source TEXT
);
CREATE INDEX IF NOT EXISTS alarm_events_by_session ON alarm_events(session_id, id);
CREATE TABLE IF NOT EXISTS heartbeat (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    wall REAL NOT NULL,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    action TEXT NOT NULL,
    who TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
"""

APPEND_ONLY = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END;"""
    for table in ("readings", "events", "alarm_events", "audit")
    for op in ("update", "delete")
)


class StoreError(KapmonError):
    """The store file cannot be used (wrong schema version, not a kapmon store...)."""


class ReadOnlyStore(StoreError):
    """The store can be read but not written (file or folder permissions, a read-only mount)."""


READ_ONLY_COMMANDS = "sessions, export, summary, debrief and review"


def read_only_reason(path: Path) -> str | None:
    """Why an existing store file cannot be written here, or ``None`` when it can. SQLite writes the
    file and, for its write-ahead log, files beside it: both must be writable."""
    for target, what in ((path, "the file"), (path.parent, "its folder")):
        if not os.access(target, os.W_OK):
            try:
                mount_ro = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
            except (OSError, AttributeError):  # no statvfs (Windows): say what can be said
                mount_ro = False
            return "it is on a read-only file system" if mount_ro else f"{what} is not writable"
    return None


def _open_uri(path: Path, mode: str) -> sqlite3.Connection:
    """Open ``path`` with SQLite URI parameters ``mode`` and read its schema (so a bad file fails here)."""
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=10, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def kapmon_schema_version(conn: sqlite3.Connection) -> str | None:
    """The kapmon schema version of the database on ``conn``; ``None`` when it holds no tables at
    all; ``StoreError`` when it holds tables but is not a kapmon store (another application's file)."""
    tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    if not tables:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() if "meta" in tables else None
    if row is None:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"an SQLite database that is not a kapmon store (its tables: {shown}); left untouched")
    return row[0]


@dataclass(frozen=True, slots=True)
class Written:
    """The row id of the last reading and of the last event one write inserted (0: none of that kind). The
    rows of one write get consecutive ids (one transaction holds the write lock), so these place every row."""

    reading_id: int = 0
    event_id: int = 0


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A reading as stored, with its row id (the live cursor)."""

    id: int
    t: float
    vital: str
    value: float | None
    unit: str
    source: str
    status: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A session event (dose, note, phase, condition, ...) as stored."""

    id: int
    t: float
    kind: str
    data: dict
    who: str | None


class Store:
    """Many sessions in one SQLite file. Safe to share between threads."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        """Open (creating if need be) the store at ``path``; with ``read_only`` open an existing store
        without writing anything to it. A file that is not a kapmon store is refused untouched
        (``StoreError``); a store that cannot be written is ``ReadOnlyStore`` unless ``read_only``."""
        self.path = Path(path)
        self.read_only = read_only
        self._local = threading.local()
        if read_only:
            self._check_version(self._conn())
            return
        exists = self.path.is_file() and self.path.stat().st_size > 0
        if exists:
            probe = self._connect_read_only()
            try:
                self._check_version(probe)
            finally:
                probe.close()
            reason = read_only_reason(self.path)
            if reason:
                raise ReadOnlyStore(
                    f"{self.path}: the store is read-only ({reason}); kapmon {READ_ONLY_COMMANDS} can still read it"
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    def _connect_read_only(self) -> sqlite3.Connection:
        """A connection that never writes the database. Where SQLite cannot make its write-ahead-log
        index beside the file (a read-only folder or mount) the file is read as immutable."""
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no such store")
        modes = ("mode=ro", "immutable=1") if read_only_reason(self.path) else ("mode=ro",)
        failure: sqlite3.Error | None = None
        for mode in modes:
            try:
                return _open_uri(self.path, mode)
            except sqlite3.OperationalError as exc:
                failure = exc  # e.g. no write-ahead-log index and no right to make one: try the next mode
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: not a kapmon store ({exc})") from None
        raise StoreError(f"{self.path}: cannot be opened for reading ({failure})")

    def _check_version(self, conn: sqlite3.Connection) -> None:
        try:
            version = kapmon_schema_version(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a kapmon store ({exc})") from None
        except StoreError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        if version is None and self.read_only:
            raise StoreError(f"{self.path}: an empty database, not a kapmon store")
        if version is not None and int(version) != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version}, this kapmon reads version {SCHEMA_VERSION}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                conn = self._connect_read_only()
            else:
                conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _init_schema(self) -> None:
        try:
            conn = self._conn()
            conn.executescript(
                "BEGIN;"
                + SCHEMA
                + APPEND_ONLY
                + f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');COMMIT;"
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable kapmon store ({exc})") from None
        self._check_version(conn)

    def busy_timeout(self, seconds: float) -> None:
        """How long this thread's writes wait for another connection's lock before failing."""
        self._conn().execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- writing -------------------------------------------------------------------------

    def create_session(self, session: Session) -> None:
        self._conn().execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.id,
                session.patient,
                session.started,
                session.route,
                session.weight_kg,
                session.protocol,
                session.kind,
                json.dumps(session.metadata),
            ),
        )

    def write(
        self,
        session_id: str,
        readings: Sequence[Reading] = (),
        events: Sequence[tuple[float, str, dict, str | None]] = (),
        alarms: Sequence[AlarmEvent] = (),
    ) -> Written:
        """Append readings, events ``(t, kind, data, who)`` and alarm transitions in one transaction; returns
        the ids of the last reading and event inserted."""
        conn = self._conn()
        last = {"readings": 0, "events": 0}
        if conn.in_transaction:  # a write that failed at COMMIT (a full disk) may have left one open
            conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        try:
            if readings:
                conn.executemany(
                    "INSERT INTO readings (session_id, t, vital, value, unit, source, status) VALUES (?,?,?,?,?,?,?)",
                    [(session_id, r.t, r.vital, r.value, r.unit, r.source, r.status) for r in readings],
                )
                last["readings"] = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            if events:
                conn.executemany(
                    "INSERT INTO events (session_id, t, kind, data, who) VALUES (?,?,?,?,?)",
                    [(session_id, t, kind, json.dumps(data), who) for t, kind, data, who in events],
                )
                last["events"] = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            if alarms:
                conn.executemany(
                    "INSERT INTO alarm_events (session_id, t, event, alarm_id, priority, kind, vital, value,"
                    " limit_value, rule, message, who, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            session_id,
                            a.t,
                            a.event,
                            a.alarm_id,
                            a.priority,
                            a.kind,
                            a.vital,
                            a.value,
                            a.limit,
                            a.rule,
                            a.message,
                            a.who,
                            a.source,
                        )
                        for a in alarms
                    ],
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back (SQLITE_FULL)
                conn.execute("ROLLBACK")
            raise
        return Written(last["readings"], last["events"])

    def write_audit(self, t: float, action: str, who: str | None, detail: dict | None = None) -> None:
        """Append one entry to the audit log (sign-ins and other actions not tied to one session)."""
        self._conn().execute(
            "INSERT INTO audit (t, action, who, detail) VALUES (?,?,?,?)", (t, action, who, json.dumps(detail or {}))
        )

    def audit(self, after_id: int = 0) -> list[tuple[int, float, str, str | None, dict]]:
        """The audit log after ``after_id``: ``(id, t, action, who, detail)``, oldest first."""
        rows = self._conn().execute("SELECT id, t, action, who, detail FROM audit WHERE id>? ORDER BY id", (after_id,))
        return [(i, t, a, w, json.loads(d)) for i, t, a, w, d in rows]

    def beat(self, session_id: str, wall: float, pid: int) -> None:
        """Record that the recorder of ``session_id`` (process ``pid``) was alive at wall-clock ``wall``."""
        self._conn().execute(
            "INSERT INTO heartbeat VALUES (?,?,?) ON CONFLICT(session_id) DO UPDATE SET wall=excluded.wall, pid=excluded.pid",
            (session_id, wall, pid),
        )

    def heartbeats(self) -> dict[str, float]:
        """The last wall-clock heartbeat of every session that has had a recorder running."""
        return dict(self._conn().execute("SELECT session_id, wall FROM heartbeat").fetchall())

    def add_dose(self, session_id: str, dose: Dose, who: str | None = None) -> None:
        self.write(session_id, events=[(dose.t, "dose", dose_data(dose), who)])

    # --- reading -------------------------------------------------------------------------

    def sessions(self) -> list[Session]:
        """Every session, newest first."""
        rows = self._conn().execute("SELECT * FROM sessions ORDER BY started DESC").fetchall()
        return [_session(row) for row in rows]

    def session(self, session_id: str) -> Session | None:
        row = self._conn().execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()
        return None if row is None else _session(row)

    def readings(
        self,
        session_id: str,
        after_id: int = 0,
        vitals: Iterable[str] | None = None,
        limit: int | None = None,
        through_id: int | None = None,
    ) -> list[StoredReading]:
        """Readings after the cursor ``after_id`` (and up to ``through_id``), oldest first, optionally only some vitals."""
        sql = "SELECT id, t, vital, value, unit, source, status FROM readings WHERE session_id=? AND id>?"
        params: list = [session_id, after_id]
        if through_id is not None:
            sql += " AND id<=?"
            params.append(through_id)
        if vitals is not None:
            names = list(vitals)
            sql += f" AND vital IN ({','.join('?' * len(names))})"
            params += names
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [StoredReading(*row) for row in self._conn().execute(sql, params)]

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read on this thread inside sees the store as one moment (a read transaction): rows written
        meanwhile by a recorder are left out of all of them alike."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def reading_kinds(self, session_id: str) -> list[tuple[str, str, str, str]]:
        """The distinct ``(vital, unit, source, status)`` of a session's readings (a handful in a real session),
        those of the vital with the most readings first."""
        conn = self._conn()
        counts = dict(conn.execute("SELECT vital, COUNT(*) FROM readings WHERE session_id=? GROUP BY vital", (session_id,)))
        kinds = conn.execute("SELECT DISTINCT vital, unit, source, status FROM readings WHERE session_id=?", (session_id,))
        return sorted(kinds, key=lambda kind: (-counts[kind[0]], kind))

    def last_reading_time(self, session_id: str) -> float | None:
        """The latest time of any reading of the session (``None`` when it has none)."""
        return self._conn().execute("SELECT MAX(t) FROM readings WHERE session_id=?", (session_id,)).fetchone()[0]

    def readings_by_time(self, session_id: str, size: int, kinds: Sequence[tuple] | None = None) -> Iterator[list[tuple]]:
        """Every reading of a session in time order (row order at one time), ``size`` rows at a time: what an
        export streams, so its memory stays flat however long the session. Rows are ``(t, value, k)`` with ``k``
        the reading's index in ``kinds`` (from ``reading_kinds``: no text made per row), or without ``kinds``
        ``(t, value, vital, unit, source, status)``."""
        if not kinds:
            columns, params = "vital, unit, source, status", []
        else:
            columns = " ".join(f"WHEN vital=? AND unit=? AND source=? AND status=? THEN {k}" for k in range(len(kinds)))
            columns, params = f"CASE {columns} END", [text for kind in kinds for text in kind]
        sql = f"SELECT t, value, {columns} FROM readings WHERE session_id=? ORDER BY t, id"
        cursor = self._conn().execute(sql, [*params, session_id])
        while rows := cursor.fetchmany(size):
            yield rows

    def recent(self, session_id: str, vital: str, after_id: int, n: int) -> list[StoredReading]:
        """At most the newest ``n`` readings of one vital after the cursor, oldest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT id, t, vital, value, unit, source, status FROM readings"
                " WHERE session_id=? AND vital=? AND id>? ORDER BY id DESC LIMIT ?",
                (session_id, vital, after_id, n),
            )
            .fetchall()
        )
        return [StoredReading(*row) for row in reversed(rows)]

    def series(self, session_id: str, vital: str) -> list[tuple[float, float | None]]:
        """``(t, value)`` of one vital in row order: the fast path for long waveforms (review, export)."""
        return (
            self._conn()
            .execute("SELECT t, value FROM readings WHERE session_id=? AND vital=? ORDER BY id", (session_id, vital))
            .fetchall()
        )

    def latest(self, session_id: str, vital: str) -> StoredReading | None:
        """The newest reading of one vital (value or no-value)."""
        row = (
            self._conn()
            .execute(
                "SELECT id, t, vital, value, unit, source, status FROM readings"
                " WHERE session_id=? AND vital=? ORDER BY id DESC LIMIT 1",
                (session_id, vital),
            )
            .fetchone()
        )
        return None if row is None else StoredReading(*row)

    def latest_readings(self, session_id: str) -> list[StoredReading]:
        """The newest reading of every vital the session has (one pass over the session's rows)."""
        rows = (
            self._conn()
            .execute(
                "SELECT id, t, vital, value, unit, source, status FROM readings"
                " WHERE id IN (SELECT MAX(id) FROM readings WHERE session_id=? GROUP BY vital) ORDER BY id",
                (session_id,),
            )
            .fetchall()
        )
        return [StoredReading(*row) for row in rows]

    def last_reading_id(self, session_id: str) -> int:
        row = self._conn().execute("SELECT MAX(id) FROM readings WHERE session_id=?", (session_id,)).fetchone()
        return row[0] or 0

    def events(self, session_id: str, after_id: int = 0, kind: str | None = None) -> list[StoredEvent]:
        return [StoredEvent(i, t, k, json.loads(d), w) for i, t, k, d, w in self.event_rows(session_id, after_id, kind)]

    def event_rows(
        self, session_id: str, after_id: int = 0, kind: str | None = None, limit: int | None = None
    ) -> list[tuple[int, float, str, str, str | None]]:
        """Events after the cursor as stored, ``(id, t, kind, data, who)`` with ``data`` still JSON text, so a
        reader can tell one unreadable row from the rest."""
        sql = "SELECT id, t, kind, data, who FROM events WHERE session_id=? AND id>?"
        params: list = [session_id, after_id]
        if kind is not None:
            sql += " AND kind=?"
            params.append(kind)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._conn().execute(sql, params).fetchall()

    def corrections(self, session_id: str) -> dict[int, StoredEvent]:
        """The entries marked "entered in error" (or undone): corrected event id -> the correction."""
        return {corrected: e for e in self.events(session_id, kind=CORRECTION) if (corrected := corrects(e.data)) is not None}

    def doses(self, session_id: str) -> list[Dose]:
        """The doses the record can count: rows whose amount or route is invalid (``monitor.session.dose_rows``) or
        that were marked entered in error are left out."""
        corrected = self.corrections(session_id)
        rows = dose_rows(e for e in self.events(session_id, kind="dose") if e.id not in corrected)
        return [d for d in (row.dose() for row in rows) if d is not None]

    def alarm_events(self, session_id: str, after_id: int = 0) -> list[tuple[int, AlarmEvent]]:
        rows = (
            self._conn()
            .execute(
                "SELECT id, t, event, alarm_id, priority, kind, vital, value, limit_value, rule, message, who, source"
                " FROM alarm_events WHERE session_id=? AND id>? ORDER BY id",
                (session_id, after_id),
            )
            .fetchall()
        )
        return [(row[0], AlarmEvent(*row[1:])) for row in rows]

    def count_readings(self, session_id: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM readings WHERE session_id=?", (session_id,)).fetchone()[0]


def corrects(data: dict) -> int | None:
    """The id of the entry a correction event's ``data`` takes out of use (None when it names none)."""
    target = data.get("corrects")
    return target if isinstance(target, int) and not isinstance(target, bool) else None


def in_use(readings: Iterable[StoredReading], retracted: Iterable[StoredEvent]) -> list[StoredReading]:
    """The readings in time order, without those of a hand-taken BP marked entered in error."""
    wrong = {e.t for e in retracted if e.kind == "manual_nibp"}
    return sorted((r for r in readings if not (r.source == MANUAL and r.t in wrong)), key=lambda r: (r.t, r.id))


def dose_data(dose: Dose) -> dict:
    return {"route": dose.route, "drug": dose.drug, "mg": dose.mg, "end": dose.end} | ({"lot": dose.lot} if dose.lot else {})


def dose_from_data(t: float, data: dict) -> Dose:
    return Dose(t=t, route=data["route"], drug=data["drug"], mg=data["mg"], end=data.get("end"), lot=data.get("lot"))


def _session(row: tuple) -> Session:
    sid, patient, started, route, weight, protocol, kind, metadata = row
    return Session(sid, patient, started, route, weight, protocol, kind, json.loads(metadata))
