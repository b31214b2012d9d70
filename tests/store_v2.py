"""A version 2 store as kapmon wrote it before blocks carried their lowest and highest value: its blocks table,
indexes and triggers, frozen here (not imported from the store) so the upgrade is tested against the file that
code made, whatever the store becomes. Its blocks are packed by ``monitor.session.blocks.pack`` (the samples'
encoding is the same in both versions) and written without the two columns version 3 added."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from devices.reading import Reading
from devices.vocabulary import WAVEFORMS
from monitor.session.blocks import pack
from tests.store_v1 import SCHEMA

BLOCKS = """
CREATE TABLE IF NOT EXISTS waveform_blocks (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    vital TEXT NOT NULL,
    unit TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    t0 REAL NOT NULL,
    rate_hz REAL NOT NULL,
    n INTEGER NOT NULL CHECK (n BETWEEN 1 AND 1024),
    no_value INTEGER NOT NULL CHECK (no_value BETWEEN 0 AND n),
    decimals INTEGER CHECK (decimals IS NULL OR (no_value = 0 AND length(samples) IN (2 * n, 4 * n))),
    samples BLOB NOT NULL CHECK (length(samples) IN (2 * n, 4 * n, 8 * n)),
    times BLOB CHECK (times IS NULL OR length(times) IN (n, 4 * n, 8 * n))
);
CREATE INDEX IF NOT EXISTS waveform_blocks_by_vital ON waveform_blocks(session_id, vital, id);
"""
APPEND_ONLY = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op.upper()} ON {table}
BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END;"""
    for table in ("readings", "waveform_blocks", "events", "alarm_events", "audit")
    for op in ("update", "delete")
)
COLUMNS = "id, session_id, vital, unit, source, status, t0, rate_hz, n, no_value, decimals, samples, times"


def create_v2(path: Path) -> sqlite3.Connection:
    """A new version 2 store at ``path``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript("BEGIN;" + SCHEMA + BLOCKS + APPEND_ONLY + "INSERT INTO meta VALUES ('schema_version', '2');COMMIT;")
    return conn


def write_v2(conn: sqlite3.Connection, session_id: str, readings: Sequence[Reading]) -> None:
    """One write of the version 2 recorder: numerics as rows, waveform samples as blocks, ids from one sequence."""
    conn.execute("BEGIN IMMEDIATE")
    sql = "SELECT MAX(COALESCE((SELECT MAX(id) FROM readings), 0), COALESCE((SELECT MAX(id)+n-1 FROM waveform_blocks), 0))"
    first = conn.execute(sql).fetchone()[0] + 1
    rows = [(first + i, session_id, r.t, r.vital, r.value, r.unit, r.source, r.status) for i, r in enumerate(readings)]
    conn.executemany("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?)", [r for r in rows if r[3] not in WAVEFORMS])
    blocks = pack(r for r in rows if r[3] in WAVEFORMS)
    conn.executemany(f"INSERT INTO waveform_blocks ({COLUMNS}) VALUES ({','.join('?' * 13)})", [b.row()[:13] for b in blocks])
    conn.execute("COMMIT")
