"""A version 1 store as kapmon wrote it before waveforms were kept in blocks: its schema and its write of
readings and events, frozen here (not imported from the store) so the upgrade is tested against the file
that code made, whatever the store becomes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from devices.reading import Reading
from monitor.session.model import Session

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


def create_v1(path: Path) -> sqlite3.Connection:
    """A new version 1 store at ``path`` (WAL mode, synchronous=NORMAL, as the recorder opened it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript("BEGIN;" + SCHEMA + APPEND_ONLY + "INSERT OR IGNORE INTO meta VALUES ('schema_version', '1');COMMIT;")
    return conn


def create_session_v1(conn: sqlite3.Connection, s: Session) -> None:
    conn.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (s.id, s.patient, s.started, s.route, s.weight_kg, s.protocol, s.kind, json.dumps(s.metadata)),
    )


def write_v1(conn: sqlite3.Connection, session_id: str, readings: Sequence[Reading], events: Sequence[tuple] = ()) -> None:
    """One write of the version 1 recorder: readings (waveform samples as rows) and events ``(t, kind, data, who)``."""
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO readings (session_id, t, vital, value, unit, source, status) VALUES (?,?,?,?,?,?,?)",
        [(session_id, r.t, r.vital, r.value, r.unit, r.source, r.status) for r in readings],
    )
    conn.executemany(
        "INSERT INTO events (session_id, t, kind, data, who) VALUES (?,?,?,?,?)",
        [(session_id, t, kind, json.dumps(data), who) for t, kind, data, who in events],
    )
    conn.execute("COMMIT")


def readings_v1(conn: sqlite3.Connection, session_id: str) -> list[tuple]:
    """Every reading of a session as version 1 stored it: ``(id, t, vital, value, unit, source, status)`` by id."""
    sql = "SELECT id, t, vital, value, unit, source, status FROM readings WHERE session_id=? ORDER BY id"
    return conn.execute(sql, (session_id,)).fetchall()
