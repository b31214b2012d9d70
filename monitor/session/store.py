"""The session store: one SQLite file (WAL mode) holding many sessions, append-only.

Readings, session events (doses, notes, phases, device conditions) and alarm transitions are
only ever inserted; triggers refuse updates and deletes. Numeric readings are rows; waveform samples
(``devices.vocabulary.WAVEFORMS``) are kept in blocks (``monitor.session.blocks``) and read back as the
same readings, with ids from the same sequence. Each thread gets its own connection, closed once the thread
has ended (when the next thread opens one), so a server that answers each connection in a new thread keeps
as many connections open as it has threads, not one per request it ever answered.

Schema version 3. An older store is brought to version 3 when it is opened for writing, in one transaction:
a version 1 store's waveform rows (every sample a row of ``readings``) become blocks with the same ids, times,
values and statuses; a version 2 store's blocks gain their lowest and highest value (``Block.lo``, ``hi``). A
store newer than this code is refused untouched.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import os
import sqlite3
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from math import nan
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from devices.errors import KapmonError
from devices.io.recording import MAX_SPAN_S
from devices.patient import observation_level
from devices.reading import Reading, Samples
from devices.vocabulary import NO_VALUE, OK, WAVEFORMS
from monitor.rules.alarm_events import AlarmEvent
from monitor.session import blocks
from monitor.session.blocks import Block
from monitor.session.dose_rows import dose_rows
from monitor.session.model import Dose, Observation, Session

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
RECLAIM = "reclaim"  # the meta key that says the space an upgrade freed is still to be given back (VACUUM)
CORRECTION = "correction"  # an event that takes an earlier entry (dose, note, hand-taken BP, observation) out of use
CORRECTABLE = {  # entries that can be marked entered in error
    "dose": "dose",
    "note": "note",
    "manual_nibp": "hand-taken BP",
    "observation": "observation",
}
MANUAL = "manual"  # the source of readings entered by hand
BUSY_TIMEOUT_S = 10.0  # how long a connection waits for another's lock before failing (the recorder waits less)
# Connections of ended threads kept for the next threads: a page server answers a burst of requests from a few
# live pages in as many threads at once.
IDLE_CONNECTIONS = 4

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


def append_only(table: str, op: str) -> str:
    """The trigger that refuses ``op`` (update or delete) on ``table``."""
    return (
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
    )


def refused(name: str, when: str, why: str) -> str:
    """The trigger ``name`` that refuses a row inserted into ``readings`` ``when`` it holds, saying ``why``."""
    return f"CREATE TRIGGER IF NOT EXISTS {name} AFTER INSERT ON readings WHEN {when} BEGIN SELECT RAISE(ABORT, '{why}'); END"


OLDER_WRITER = " (is a kapmon older than schema version 2 still recording into this store?)"
# A recorder of schema version 1 that had the store open when another process upgraded it would go on writing
# waveform samples as rows, where no reader looks, with row ids a block may already hold: refused, so it fails
# loudly (its recording-failed alarm) instead of storing what is never read. A newer kapmon refuses a store of a
# version it does not know when it opens it.
OLDER_ROWS = (
    refused(
        "readings_no_waveform",
        f"NEW.vital IN ({', '.join(repr(v) for v in WAVEFORMS)})",
        "readings: waveform samples are kept in waveform_blocks" + OLDER_WRITER,
    ),
    refused(
        "readings_after_blocks",
        "NEW.id <= (SELECT id + n - 1 FROM waveform_blocks ORDER BY id DESC LIMIT 1)",  # the block with the last ids
        "readings: a row id a waveform sample already has" + OLDER_WRITER,
    ),
)

# Every statement of the schema (each safe to run again), in order.
STATEMENTS = (
    *(statement.strip() for statement in SCHEMA.split(";") if statement.strip()),
    blocks.BLOCKS_TABLE,
    blocks.BLOCKS_INDEX,
    blocks.BLOCKS_BY_TIME,
    *(
        append_only(table, op)
        for table in ("readings", "waveform_blocks", "events", "alarm_events", "audit")
        for op in ("update", "delete")
    ),
    *OLDER_ROWS,
)
READING_COLUMNS = "id, t, vital, value, unit, source, status"
# The times in one session: from its start to MAX_SPAN_S after it (parameters: the span, the session's id).
IN_SESSION = "WITH span(lo, hi) AS (SELECT started, started + ? FROM sessions WHERE id=?)"
WAVEFORM_SQL = f"vital IN ({','.join('?' * len(WAVEFORMS))})"


class StoreError(KapmonError):
    """The store file cannot be used (wrong schema version, not a kapmon store...)."""


class ReadOnlyStore(StoreError):
    """The store can be read but not written (file or folder permissions, a read-only mount)."""


READ_ONLY_COMMANDS = "sessions, export, summary, debrief and review"


def reset_connection(conn: sqlite3.Connection, waits_less: bool) -> sqlite3.Connection | None:
    """``conn``, left by a thread that has ended, as a new thread would open it: no transaction under way and, if it
    ``waits_less`` than usual for locks (a recorder's), the usual wait; None (and closed) if it cannot be."""
    try:
        if conn.in_transaction:
            conn.rollback()  # its thread ended before committing: what it wrote is not kept, as on a crash
        if waits_less:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return conn
    except sqlite3.Error:
        conn.close()
        return None


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
        f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
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
class TrendColumns:
    """Readings as a live page's trends draw them: per vital, times (epoch s) and values (NaN: no value),
    oldest first. ``last_id``: the row id of the last reading read (None: none); ``count``: how many."""

    last_id: int | None
    count: int
    points: dict[str, tuple[np.ndarray, np.ndarray]]


class StoredReading(NamedTuple):
    """A reading as stored, with its row id (the live cursor). A named tuple: a review reads tens of thousands
    at once, and a tuple is built from a row several times faster than a dataclass."""

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
        self._opened: dict[threading.Thread, sqlite3.Connection] = {}  # each thread's connection
        self._idle: list[sqlite3.Connection] = []  # connections of ended threads, for the next threads
        self._waits_less: set[sqlite3.Connection] = set()  # connections given a wait for locks other than the usual
        self._opened_lock = threading.Lock()
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
        if version is None:
            if self.read_only:
                raise StoreError(f"{self.path}: an empty database, not a kapmon store")
            return
        if not version.isdigit() or int(version) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version}, newer than this kapmon (it reads version {SCHEMA_VERSION});"
                " left untouched"
            )
        if int(version) < SCHEMA_VERSION and self.read_only:
            raise StoreError(
                f"{self.path}: schema version {version}, older than this kapmon (it reads version {SCHEMA_VERSION}); "
                "open it once where it can be written (it is upgraded then)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._adopt()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            conn = self._connect_read_only()
        else:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _adopt(self) -> sqlite3.Connection:
        """A connection for this thread: one a thread that has ended left (a threaded web server answers each
        request in a new thread, and opening a connection costs more than most of its queries), else a new one.
        Of the ended threads' connections at most ``IDLE_CONNECTIONS`` are kept; the others are closed (a
        thread's connection is otherwise left to the garbage collector, which may keep it, its file handles and
        its page cache long after: a connection is in a reference cycle with its statement cache)."""
        conn = None
        while conn is None:
            with self._opened_lock:
                for thread in [thread for thread in self._opened if not thread.is_alive()]:
                    self._idle.append(self._opened.pop(thread))
                taken = self._idle.pop() if self._idle else None
                gone, self._idle = self._idle[:-IDLE_CONNECTIONS], self._idle[-IDLE_CONNECTIONS:]
                waits_less = taken in self._waits_less
                self._waits_less -= {taken, *gone}
            for old in gone:
                old.close()  # its thread has ended: nothing else uses it
            conn = self._open() if taken is None else reset_connection(taken, waits_less)
        with self._opened_lock:
            self._opened[threading.current_thread()] = conn
        return conn

    def _init_schema(self) -> None:
        """Create the schema, or bring a version 1 or 2 store to this version, in one transaction (then give back the
        space the upgrade freed)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._check_version(conn)  # again, under the write lock: another process may have upgraded it
                version = kapmon_schema_version(conn)
                for statement in STATEMENTS:
                    conn.execute(statement)
                if version == "1":
                    _waveform_rows_to_blocks(conn)
                    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, 'pending')", (RECLAIM,))
                elif version == "2":
                    _blocks_with_extremes(conn)
                    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, 'pending')", (RECLAIM,))
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable kapmon store ({exc})") from None
        except (ValueError, TypeError) as exc:  # a version 1 row that cannot be a waveform sample
            raise StoreError(f"{self.path}: cannot be upgraded to schema version {SCHEMA_VERSION} ({exc}); untouched") from None
        if conn.execute("SELECT 1 FROM meta WHERE key=?", (RECLAIM,)).fetchone():
            self._reclaim()

    def _reclaim(self) -> None:
        """Give the file system back the space an upgrade freed (its waveform rows, now blocks): ``VACUUM``, once
        the upgrade has committed (it cannot run inside a transaction; SQLite takes the write lock for it, so no
        write interleaves), then a checkpoint that truncates the write-ahead log. A failure (another process
        writing, no room for the copy VACUUM makes) loses nothing and stops nothing: the store is upgraded and
        whole, only larger than it needs to be; it is logged and tried again the next time the store is opened."""
        conn = self._conn()
        try:
            conn.execute("VACUUM")
            conn.execute("DELETE FROM meta WHERE key=?", (RECLAIM,))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning(
                "%s: upgraded, but its freed space could not be reclaimed yet (%s); tried again when next opened", self.path, exc
            )

    def busy_timeout(self, seconds: float) -> None:
        """How long this thread's writes wait for another connection's lock before failing."""
        conn = self._conn()
        conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        with self._opened_lock:
            self._waits_less.add(conn)  # set back when a later thread takes it

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with self._opened_lock:
                self._opened.pop(threading.current_thread(), None)
                self._waits_less.discard(conn)
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
        readings: Sequence[Reading | Samples] = (),
        events: Sequence[tuple[float, str, dict, str | None]] = (),
        alarms: Sequence[AlarmEvent] = (),
    ) -> Written:
        """Append readings (single ones, and chunks of waveform samples), events ``(t, kind, data, who)`` and alarm
        transitions in one transaction; returns the ids of the last reading and event inserted."""
        conn = self._conn()
        last = {"readings": 0, "events": 0}
        if conn.in_transaction:  # a write that failed at COMMIT (a full disk) may have left one open
            conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: the next reading id is read before inserting
        try:
            if readings:
                last["readings"] = insert_readings(conn, session_id, readings)
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
        names = None if vitals is None else list(vitals)
        where, params = "session_id=? AND id>?", [session_id, after_id]
        if through_id is not None:
            where += " AND id<=?"
            params.append(through_id)
        numeric = names is None or any(v not in WAVEFORMS for v in names)
        waves = [v for v in WAVEFORMS if names is None or v in names]
        if names is not None:
            where += f" AND vital IN ({','.join('?' * len(names))})"
            params += names
        sql = f"SELECT {READING_COLUMNS} FROM readings WHERE {where} ORDER BY id" + ("" if limit is None else " LIMIT ?")
        rows = self._conn().execute(sql, [*params, *([] if limit is None else [limit])]) if numeric else ()
        numerics = map(StoredReading._make, rows)
        if not waves:  # numerics only (a summary, a report): nothing to merge
            return list(numerics)
        found = self._blocks_after(session_id, after_id, through_id, waves)
        samples = (r for b in found for r in _readings(b, after_id, through_id))
        merged = heapq.merge(numerics, samples, key=attrgetter("id"))
        return list(merged if limit is None else itertools.islice(merged, limit))

    def first_reading_from(self, session_id: str, t: float) -> int | None:
        """The row id of the session's first numeric reading taken at or after ``t`` (None if there is none): where a
        new live page starts reading its trends' window."""
        return self._conn().execute("SELECT MIN(id) FROM readings WHERE session_id=? AND t>=?", (session_id, t)).fetchone()[0]

    def trend_columns(
        self,
        session_id: str,
        after_id: int,
        vitals: Sequence[str],
        limit: int,
        through_id: int | None = None,
        since: float = float("-inf"),
    ) -> TrendColumns:
        """The numeric ``vitals``' readings after the cursor ``after_id`` (and up to ``through_id``) taken at or
        after ``since``, oldest first, at most ``limit``: what a live page's trends draw, as a time and a value
        array per vital (a reading without a value: NaN, which the page draws as a gap).

        Rows are read one at a time into the arrays: a page's first read takes up to 20,000, and holding a
        Python object per row until the last made every new page's first tick peak at several MB of short-lived
        objects, memory Python's allocator then kept."""
        if any(v in WAVEFORMS for v in vitals):
            raise ValueError(f"trend rows are numeric readings; {sorted(set(vitals) & set(WAVEFORMS))} are waveforms")
        where = f"session_id=? AND id>? AND t>=? AND vital IN ({','.join('?' * len(vitals))})"
        params: list = [session_id, after_id, since, *vitals]
        if through_id is not None:
            where += " AND id<=?"
            params.append(through_id)
        times = {v: array("d") for v in vitals}
        values = {v: array("d") for v in vitals}
        last, count = None, 0
        for row_id, t, vital, value in self._conn().execute(
            f"SELECT id, t, vital, value FROM readings WHERE {where} ORDER BY id LIMIT ?", [*params, limit]
        ):
            times[vital].append(t)
            values[vital].append(nan if value is None else value)
            last, count = row_id, count + 1
        return TrendColumns(last, count, {v: (np.frombuffer(times[v]), np.frombuffer(values[v])) for v in vitals})

    def _blocks_after(self, session_id: str, after_id: int, through_id: int | None, vitals: Sequence[str]) -> Iterator[Block]:
        """The session's blocks of ``vitals`` with a sample after ``after_id`` (and starting by ``through_id``), by id."""
        if not vitals:
            return iter(())
        sql = (
            f"SELECT {blocks.COLUMNS} FROM waveform_blocks WHERE session_id=? AND vital IN ({','.join('?' * len(vitals))})"
            " AND id>? AND id+n-1>?"
        )
        params = [session_id, *vitals, after_id - blocks.MAX_BLOCK_N, after_id]
        if through_id is not None:
            sql += " AND id<=?"
            params.append(through_id)
        return (Block(*row) for row in self._conn().execute(sql + " ORDER BY id", params))

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
        counts = dict(
            conn.execute(
                "SELECT vital, SUM(k) FROM (SELECT vital, COUNT(*) AS k FROM readings WHERE session_id=? GROUP BY vital"
                " UNION ALL SELECT vital, SUM(n) FROM waveform_blocks WHERE session_id=? GROUP BY vital) GROUP BY vital",
                (session_id, session_id),
            )
        )
        kinds = conn.execute(
            "SELECT DISTINCT vital, unit, source, status FROM readings WHERE session_id=?"
            " UNION SELECT DISTINCT vital, unit, source, status FROM waveform_blocks WHERE session_id=? AND n>no_value"
            " UNION SELECT DISTINCT vital, unit, source, ? FROM waveform_blocks WHERE session_id=? AND no_value>0",
            (session_id, session_id, NO_VALUE, session_id),
        )
        return sorted(kinds, key=lambda kind: (-counts[kind[0]], kind))

    def last_reading_time(self, session_id: str) -> float | None:
        """The latest time of any reading of the session (``None`` when it has none)."""
        conn = self._conn()
        latest = conn.execute("SELECT MAX(t) FROM readings WHERE session_id=?", (session_id,)).fetchone()[0]
        rows = conn.execute(  # a block's samples lie within MAX_BLOCK_S of its start
            f"SELECT {blocks.COLUMNS} FROM waveform_blocks WHERE session_id=?"
            " AND t0 >= (SELECT MAX(t0) FROM waveform_blocks WHERE session_id=?) - ?",
            (session_id, session_id, blocks.MAX_BLOCK_S),
        )
        times = [float(Block(*row).t().max()) for row in rows]
        return max([t for t in [latest, *times] if t is not None], default=None)

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
        conn = self._conn()
        numerics = conn.execute(
            f"SELECT t, id, value, {columns} FROM readings WHERE session_id=? ORDER BY t, id", [*params, session_id]
        )
        found = conn.execute(f"SELECT {blocks.COLUMNS} FROM waveform_blocks WHERE session_id=? ORDER BY t0, id", (session_id,))
        index = {tuple(kind): k for k, kind in enumerate(kinds or ())}
        samples = _samples_by_time((Block(*row) for row in found), index if kinds else None)
        merged = heapq.merge(numerics, samples)  # (t, id, ...): ids are unique, so nothing further is compared
        while batch := list(itertools.islice(merged, size)):
            yield [(t, value, *kind) for t, _, value, *kind in batch]

    def recent(self, session_id: str, vital: str, after_id: int, n: int) -> list[StoredReading]:
        """At most the newest ``n`` readings of one vital after the cursor, oldest first."""
        if vital in WAVEFORMS:
            newest: list[StoredReading] = []
            for b in self._blocks_newest(session_id, vital, after_id):
                newest[:0] = _readings(b, after_id)
                if len(newest) >= n:
                    break
            return newest[max(0, len(newest) - n) :] if n > 0 else []
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

    def waveform_vitals(self, session_id: str) -> list[str]:
        """The waveforms the session has samples of."""
        found = self._conn().execute(
            "SELECT DISTINCT vital FROM waveform_blocks WHERE session_id=? ORDER BY vital", (session_id,)
        )
        return [vital for (vital,) in found]

    def waveform_blocks(self, session_id: str, vital: str, t_from: float | None = None, t_to: float | None = None) -> list[Block]:
        """The session's blocks of one waveform that may hold a sample between ``t_from`` and ``t_to`` (every
        block when they are None), by id: a range of the time index, never the whole waveform for a window."""
        sql, params = self._blocks_sql(blocks.COLUMNS, session_id, vital, t_from, t_to)
        return [Block(*row) for row in self._conn().execute(sql, params)]

    def waveform_outline(self, session_id: str, vital: str, t_from: float | None = None, t_to: float | None = None) -> np.ndarray:
        """One row ``(t0, rate_hz, n, lo, hi, no_value)`` (``blocks.OUTLINE``; lo and hi NaN when no sample has a
        value) for each block ``waveform_blocks`` gives, in the same order, without reading any sample."""
        sql, params = self._blocks_sql(blocks.OUTLINE, session_id, vital, t_from, t_to)
        rows = self._conn().execute(sql, params).fetchall()
        return np.array(rows, dtype=float).reshape(len(rows), 6)

    def _blocks_sql(
        self, columns: str, session_id: str, vital: str, t_from: float | None, t_to: float | None
    ) -> tuple[str, list]:
        """The query of ``columns`` of the blocks that may hold a sample between ``t_from`` and ``t_to``."""
        sql = f"SELECT {columns} FROM waveform_blocks WHERE session_id=? AND vital=?"
        params: list[str | float] = [session_id, vital]
        if t_from is not None:  # a block's samples lie within MAX_BLOCK_S of its start
            sql += " AND t0>=?"
            params.append(t_from - blocks.MAX_BLOCK_S)
        if t_to is not None:
            sql += " AND t0<=?"
            params.append(t_to)
        return sql + " ORDER BY id", params

    def waveform(
        self, session_id: str, vital: str, t_from: float | None = None, t_to: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(t, v)``: every sample of one waveform with ``t_from <= t <= t_to`` in time order (id order at one
        time), ``v`` NaN where a sample has no value."""
        return blocks.between(self.waveform_blocks(session_id, vital, t_from, t_to), t_from, t_to)

    def numeric_columns(self, session_id: str, vital: str) -> tuple[np.ndarray, ...]:
        """One numeric vital's readings as arrays in time order (id order at one time): row id, time, value (NaN:
        no value), status ok, source; for reading tens of thousands without an object each."""
        ids: list[int] = []
        t: list[float] = []
        value: list[float | None] = []
        ok: list[int] = []
        source: list[str] = []
        add_id, add_t, add_value, add_ok, add_source = ids.append, t.append, value.append, ok.append, source.append
        found = self._conn().execute(
            "SELECT id, t, value, status=?, source FROM readings WHERE session_id=? AND vital=? ORDER BY id",
            (OK, session_id, vital),
        )
        for row_id, row_t, row_value, row_ok, row_source in found:  # into columns, with no list of rows to transpose
            add_id(row_id)
            add_t(row_t)
            add_value(row_value)
            add_ok(row_ok)
            add_source(row_source)
        columns = (
            np.array(ids, dtype=np.int64),
            np.array(t, dtype=float),
            np.array(value, dtype=float),
            np.array(ok, dtype=bool),
            np.array(source, dtype=object),
        )
        if len(ids) > 1 and (np.diff(columns[1]) < 0).any():  # a late reading: in time order, id order at one time
            order = np.argsort(columns[1], kind="stable")
            return tuple(c[order] for c in columns)
        return columns

    def series(self, session_id: str, vital: str) -> list[tuple[float, float | None]]:
        """``(t, value)`` of one vital in row order: the fast path for long waveforms (review, export)."""
        if vital in WAVEFORMS:
            found = self._conn().execute(
                f"SELECT {blocks.COLUMNS} FROM waveform_blocks WHERE session_id=? AND vital=? ORDER BY id", (session_id, vital)
            )
            return [(t, v) for row in found for _, t, v, _ in Block(*row).rows()]
        return (
            self._conn()
            .execute("SELECT t, value FROM readings WHERE session_id=? AND vital=? ORDER BY id", (session_id, vital))
            .fetchall()
        )

    def latest(self, session_id: str, vital: str) -> StoredReading | None:
        """The newest reading of one vital (value or no-value)."""
        if vital in WAVEFORMS:
            last = next(self._blocks_newest(session_id, vital, 0), None)
            return None if last is None else _readings(last, last.last_id() - 1)[0]
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
        waves = [r for r in (self.latest(session_id, vital) for vital in WAVEFORMS) if r is not None]
        return sorted([StoredReading(*row) for row in rows] + waves, key=attrgetter("id"))

    def _blocks_newest(self, session_id: str, vital: str, after_id: int) -> Iterator[Block]:
        """The session's blocks of ``vital`` holding a sample after ``after_id``, newest first."""
        rows = self._conn().execute(
            f"SELECT {blocks.COLUMNS} FROM waveform_blocks WHERE session_id=? AND vital=? AND id>? AND id+n-1>? ORDER BY id DESC",
            (session_id, vital, after_id - blocks.MAX_BLOCK_N, after_id),
        )
        return (Block(*row) for row in rows)

    def last_reading_id(self, session_id: str) -> int:
        conn = self._conn()
        row = conn.execute("SELECT MAX(id) FROM readings WHERE session_id=?", (session_id,)).fetchone()
        wave = conn.execute(
            "SELECT id+n-1 FROM waveform_blocks WHERE id=(SELECT MAX(id) FROM waveform_blocks WHERE session_id=?)", (session_id,)
        ).fetchone()
        return max(row[0] or 0, wave[0] if wave else 0)

    def events(self, session_id: str, after_id: int = 0, kind: str | None = None) -> list[StoredEvent]:
        return [StoredEvent(i, t, k, json.loads(d), w) for i, t, k, d, w in self.event_rows(session_id, after_id, kind)]

    def event_rows(
        self, session_id: str, after_id: int = 0, kind: str | None = None, limit: int | None = None
    ) -> list[tuple[int, float, str, str, str | None]]:
        """Events after the cursor as stored, ``(id, t, kind, data, who)`` with ``data`` still JSON text, so a
        reader can tell one unreadable row from the rest; an event whose time is not in the session (see
        ``impossible_events``) is left out."""
        sql = f"{IN_SESSION} SELECT id, t, kind, data, who FROM events, span WHERE session_id=? AND t BETWEEN lo AND hi AND id>?"
        params: list = [MAX_SPAN_S, session_id, session_id, after_id]
        if kind is not None:
            sql += " AND kind=?"
            params.append(kind)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._conn().execute(sql, params).fetchall()

    def impossible_events(self, session_id: str) -> list[tuple[int, float, str]]:
        """``(id, t, kind)`` of the session's events whose time is not in it (infinite, before its start or more than
        ``MAX_SPAN_S`` after): only a hand-edited store holds one, and every reader leaves it out."""
        sql = f"{IN_SESSION} SELECT id, t, kind FROM events, span WHERE session_id=? AND NOT t BETWEEN lo AND hi ORDER BY id"
        return self._conn().execute(sql, (MAX_SPAN_S, session_id, session_id)).fetchall()

    def corrections(self, session_id: str) -> dict[int, StoredEvent]:
        """The entries marked "entered in error" (or undone): corrected event id -> the correction."""
        return {corrected: e for e in self.events(session_id, kind=CORRECTION) if (corrected := corrects(e.data)) is not None}

    def doses(self, session_id: str) -> list[Dose]:
        """The doses the record can count: rows whose amount or route is invalid (``monitor.session.dose_rows``) or
        that were marked entered in error are left out."""
        corrected = self.corrections(session_id)
        rows = dose_rows(e for e in self.events(session_id, kind="dose") if e.id not in corrected)
        return [d for d in (row.dose() for row in rows) if d is not None]

    def observations(self, session_id: str) -> list[Observation]:
        """The charted observations the record can count, in time order: those marked entered in error, and rows
        whose scale or level is not valid, are left out."""
        corrected = self.corrections(session_id)
        return observations_of(e for e in self.events(session_id, kind="observation") if e.id not in corrected)

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
        """How many readings the session has (waveform samples included)."""
        conn = self._conn()
        rows = conn.execute("SELECT COUNT(*) FROM readings WHERE session_id=?", (session_id,)).fetchone()[0]
        samples = conn.execute("SELECT SUM(n) FROM waveform_blocks WHERE session_id=?", (session_id,)).fetchone()[0]
        return rows + (samples or 0)


ReadingRow = tuple[float, str, "float | None", str, str, str]  # (t, vital, value, unit, source, status)


def next_reading_id(conn: sqlite3.Connection) -> int:
    """The id the next reading gets (readings and waveform samples share the ids). Read under the write lock."""
    sql = "SELECT MAX(COALESCE((SELECT MAX(id) FROM readings), 0), COALESCE((SELECT MAX(id)+n-1 FROM waveform_blocks), 0))"
    return conn.execute(sql).fetchone()[0] + 1


def insert_readings(conn: sqlite3.Connection, session_id: str, readings: Sequence[Reading | ReadingRow | Samples]) -> int:
    """Insert ``readings`` of one session (readings or their rows, and chunks of waveform samples) with consecutive
    ids in the order given (a chunk takes one id per sample), numerics as rows and waveform samples in blocks,
    inside the caller's write transaction; returns the id of the last."""
    ident = next_reading_id(conn)
    numerics: list[tuple] = []
    waves: list[tuple] = []
    chunks: list[tuple[int, Samples]] = []
    for r in readings:
        if isinstance(r, Samples):
            chunks.append((ident, r))
            ident += len(r)
            continue
        row = (
            (ident, session_id, r.t, r.vital, r.value, r.unit, r.source, r.status)
            if isinstance(r, Reading)
            else (ident, session_id, *r)
        )
        (waves if row[3] in WAVEFORMS else numerics).append(row)
        ident += 1
    insert_rows(conn, "readings (id, session_id, t, vital, value, unit, source, status)", numerics)
    rows = blocks.chunks_rows(session_id, chunks) + [b.row() for b in blocks.pack(waves)]
    insert_rows(conn, f"waveform_blocks ({blocks.COLUMNS})", rows)
    return ident - 1


# The fewest parameters a statement may have in any SQLite build (SQLITE_MAX_VARIABLE_NUMBER before version 3.32).
MAX_PARAMETERS = 999


def insert_rows(conn: sqlite3.Connection, into: str, rows: Sequence[Sequence]) -> None:
    """``INSERT INTO {into} VALUES`` each of ``rows`` (all of one width), as many rows a statement as SQLite takes:
    a row then costs a quarter less than with a statement a row."""
    if not rows:
        return
    width = len(rows[0])
    per = MAX_PARAMETERS // width
    full = len(rows) - len(rows) % per
    if full:
        flat = list(itertools.chain.from_iterable(itertools.islice(rows, full)))
        step = per * width
        conn.executemany(_values_sql(into, width, per), [flat[i : i + step] for i in range(0, len(flat), step)])
    if full < len(rows):
        conn.executemany(_values_sql(into, width, 1), rows[full:])


@functools.cache
def _values_sql(into: str, width: int, rows: int) -> str:
    one = f"({','.join('?' * width)})"
    return f"INSERT INTO {into} VALUES {','.join([one] * rows)}"


def _waveform_rows_to_blocks(conn: sqlite3.Connection) -> None:
    """Version 1 to 2, inside the caller's transaction: every waveform row of ``readings`` into blocks with
    the same ids, then out of ``readings`` (the one delete the store ever makes, under its own trigger's lift)."""
    rows = conn.execute(
        f"SELECT id, session_id, t, vital, value, unit, source, status FROM readings WHERE {WAVEFORM_SQL} ORDER BY id", WAVEFORMS
    )
    conn.executemany(blocks.INSERT, (b.row() for b in blocks.pack(rows)))
    conn.execute("DROP TRIGGER readings_no_delete")
    conn.execute(f"DELETE FROM readings WHERE {WAVEFORM_SQL}", WAVEFORMS)
    conn.execute(append_only("readings", "delete"))


def _blocks_with_extremes(conn: sqlite3.Connection) -> None:
    """Version 2 to 3, inside the caller's transaction: every block copied unchanged into the version 3 table
    with its lowest and highest value added (the old table, its indexes and triggers dropped, then remade)."""
    conn.execute("ALTER TABLE waveform_blocks RENAME TO waveform_blocks_v2")
    conn.execute(blocks.BLOCKS_TABLE)
    rows = conn.execute(f"SELECT {blocks.COLUMNS_V2} FROM waveform_blocks_v2 ORDER BY id")
    conn.executemany(blocks.INSERT, (blocks.with_extremes(row).row() for row in rows))
    conn.execute("DROP TABLE waveform_blocks_v2")  # its triggers go first, so none fires
    for statement in STATEMENTS:
        conn.execute(statement)


def _readings(b: Block, after_id: int, through_id: int | None = None) -> list[StoredReading]:
    """The block's samples after ``after_id`` (and up to ``through_id``) as readings."""
    last = b.last_id() if through_id is None else through_id
    return [StoredReading(i, t, b.vital, v, b.unit, b.source, status) for i, t, v, status in b.rows() if after_id < i <= last]


def _samples_by_time(found: Iterable[Block], index: dict[tuple, int] | None) -> Iterator[tuple]:
    """The samples of ``found`` (blocks in start-time order) as ``(t, id, value, k)`` in time order (id order at
    one time), ``k`` their kind's number in ``index``; without ``index`` ``(t, id, value, vital, unit, source, status)``."""
    waiting: list[tuple] = []
    for b in found:
        while waiting and waiting[0][:2] < (b.t0, b.id):  # no later block has a sample before this one
            yield heapq.heappop(waiting)
        for i, t, v, status in b.rows():
            kind = (b.vital, b.unit, b.source, status)
            heapq.heappush(waiting, (t, i, v, index.get(kind)) if index is not None else (t, i, v, *kind))
    while waiting:
        yield heapq.heappop(waiting)


def corrects(data: dict) -> int | None:
    """The id of the entry a correction event's ``data`` takes out of use (None when it names none)."""
    target = data.get("corrects")
    return target if isinstance(target, int) and not isinstance(target, bool) else None


def in_use(readings: Iterable[StoredReading], retracted: Iterable[StoredEvent]) -> list[StoredReading]:
    """The readings in time order, without those of a hand-taken BP marked entered in error."""
    wrong = {e.t for e in retracted if e.kind == "manual_nibp"}
    kept = (r for r in readings if not (r.source == MANUAL and r.t in wrong)) if wrong else readings
    return sorted(kept, key=attrgetter("t", "id"))


def observations_of(events: Iterable[StoredEvent]) -> list[Observation]:
    """The valid ``observation`` events among ``events`` as observations, in time order."""
    out = []
    for e in events:
        if e.kind != "observation":
            continue
        try:
            scale = str(e.data.get("scale"))
            out.append(Observation(e.t, scale, observation_level(scale, e.data.get("level")), e.who or ""))
        except (ValueError, TypeError):
            continue  # written by other code with an unknown scale or level: not an observation kapmon can judge
    return sorted(out, key=lambda o: o.t)


def dose_data(dose: Dose) -> dict:
    return {"route": dose.route, "drug": dose.drug, "mg": dose.mg, "end": dose.end} | ({"lot": dose.lot} if dose.lot else {})


def dose_from_data(t: float, data: dict) -> Dose:
    return Dose(t=t, route=data["route"], drug=data["drug"], mg=data["mg"], end=data.get("end"), lot=data.get("lot"))


def _session(row: tuple) -> Session:
    sid, patient, started, route, weight, protocol, kind, metadata = row
    return Session(sid, patient, started, route, weight, protocol, kind, json.loads(metadata))
