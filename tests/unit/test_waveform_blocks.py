"""Waveforms kept as blocks (schema version 2): every reader gets back exactly the readings a version 1
store gave, and a version 1 store made by the earlier code is upgraded with nothing lost."""

import random
import sqlite3
import threading

import numpy as np
import pytest

from devices.reading import Condition, Reading, Samples, expand
from devices.virtual.simulator import simulate
from devices.vocabulary import WAVEFORMS
from monitor.session.blocks import MAX_BLOCK_N, MAX_BLOCK_S, Block, arrays, chunk_blocks, chunks_rows, pack
from monitor.session.model import Session
from monitor.session.store import SCHEMA_VERSION, Store, StoreError
from tests.store_v1 import create_session_v1, create_v1, readings_v1, write_v1

T0 = 1_769_000_000.0


def session(sid: str) -> Session:
    return Session(sid, "P-001", T0, "iv", 70.0, "kap-iv", "clinical", {})


def simulated(seconds: int, seed: int = 1) -> list[Reading]:
    """A simulated session with 75 Hz pleth, in time order."""
    items = simulate("typical_iv", seed=seed, duration=seconds, start=T0, pleth=True)
    return sorted((r for r in expand(items) if isinstance(r, Reading)), key=lambda r: r.t)


def awkward_pleth() -> list[Reading]:
    """Pleth a real device gives: arrival-time jitter, gaps with no value, a questionable stretch, values that
    float32 cannot hold exactly, a second source interleaved, a clock stepping back, a lone sample."""
    rng = random.Random(7)
    out, t = [], T0 + 5000.0
    for i in range(400):
        t += 1 / 60 + rng.uniform(-0.004, 0.004)
        if 100 <= i < 110:
            out.append(Reading(t, "pleth", None, "au", "cms50d", "no_value"))
        elif 200 <= i < 220:
            out.append(Reading(t, "pleth", float(rng.randint(0, 127)), "au", "cms50d", "questionable"))
        else:
            out.append(Reading(t, "pleth", round(rng.uniform(0, 100), 3), "au", "cms50d"))
        if i % 3 == 0:
            out.append(Reading(t + 0.001, "pleth", float(i % 128), "au", "nonin"))
        if i == 300:
            t -= 0.5  # the host clock steps back
    out.append(Reading(T0 + 9000.0, "pleth", 1e-7, "au", "wellue"))
    return out


def batches(readings: list[Reading], seconds: float = 0.2) -> list[list[Reading]]:
    """What the recorder writes at each flush: the numerics, then the waveform samples (``Backlog.write``)."""
    out: dict[int, list[Reading]] = {}
    for r in readings:
        out.setdefault(int((r.t - T0) / seconds), []).append(r)
    return [[r for r in b if r.vital not in WAVEFORMS] + [r for r in b if r.vital in WAVEFORMS] for b in out.values()]


def chunked(seconds: int, seed: int = 3) -> list[list]:
    """A simulated session as the simulator gives it (pleth as one chunk a second), one write a second."""
    out: dict[float, list] = {}
    for item in simulate("typical_iv", seed=seed, duration=seconds, start=T0, pleth=True):
        if not isinstance(item, Condition):
            out.setdefault(item.t, []).append(item)
    return list(out.values())


def awkward_chunks() -> list[list]:
    """Chunks a real device could give: longer than a block (at 2 kHz, and at 75 Hz from an epoch start where
    the later blocks' own grids are off by a float64 step), no-value samples, a questionable chunk, a lone
    sample, two sources interleaved, a chunk earlier than the one written before it, float32 and float64 values."""
    rng = np.random.default_rng(5)
    wave = np.round(rng.uniform(0, 100, 5000), 1)
    gaps = wave[:300].copy()
    gaps[40:55] = np.nan
    return [
        [Samples(T0 + 10, "pleth", 2000.0, wave, "au", "ecg-ish")],
        [Samples(T0 + 20.1, "pleth", 75.0, gaps, "au", "cms50d"), Reading(T0 + 20.5, "spo2", 97.0, "%", "cms50d")],
        [Samples(T0 + 30, "pleth", 62.5, rng.integers(0, 127, 40).astype(float), "au", "cms50d", "questionable")],
        [Samples(T0 + 31, "pleth", 50.0, [7.0], "au", "wellue"), Samples(T0 + 31, "pleth", 50.0, [1.0, 2.0], "au", "nonin")],
        [Samples(T0 + 25, "pleth", 100.0, np.float32(rng.random(90)).astype(float), "au", "late")],  # out of order
        [Samples(T0 + 40, "pleth", 75.0, rng.random(80), "au", "x"), Samples(T0 + 39.5, "pleth", 75.0, [np.nan] * 3, "au", "x")],
    ]


def both_stores(tmp_path, writes: dict[str, list[list]]):
    """The same writes into a version 1 store (the frozen earlier code, chunks as one row per sample) and
    through today's Store (chunks as they are)."""
    v1 = create_v1(tmp_path / "v1.db")
    v2 = Store(tmp_path / "v2.db")
    for sid in writes:
        create_session_v1(v1, session(sid))
        v2.create_session(session(sid))
    for i in range(max(len(w) for w in writes.values())):
        for sid, w in writes.items():
            if i < len(w):
                write_v1(v1, sid, list(expand(w[i])))
                v2.write(sid, w[i])
    return v1, v2


def rows(readings) -> list[tuple]:
    return [(r.id, r.t, r.vital, r.value, r.unit, r.source, r.status) for r in readings]


SESSIONS = ("a", "b", "c", "d")  # single samples: simulated, awkward; chunks: simulated, awkward


@pytest.fixture
def pair(tmp_path):
    writes = {"a": batches(simulated(120)), "b": batches(awkward_pleth(), 0.25), "c": chunked(120), "d": awkward_chunks()}
    return both_stores(tmp_path, writes)


def test_every_reader_gives_what_the_row_store_gave(pair):
    v1, v2 = pair
    for sid in SESSIONS:
        old = readings_v1(v1, sid)
        assert rows(v2.readings(sid)) == old
        pleth = [r for r in old if r[2] == "pleth"]
        assert rows(v2.readings(sid, vitals=["pleth"])) == pleth
        assert rows(v2.readings(sid, vitals=["spo2", "pleth"])) == [r for r in old if r[2] in ("spo2", "pleth")]
        assert v2.count_readings(sid) == len(old)
        assert v2.last_reading_id(sid) == old[-1][0]
        assert v2.last_reading_time(sid) == max(r[1] for r in old)
        latest = {}
        for r in old:
            latest[r[2]] = r
        assert rows(v2.latest_readings(sid)) == sorted(latest.values())
        assert rows([v2.latest(sid, "pleth")]) == [pleth[-1]]
        assert v2.series(sid, "pleth") == [(r[1], r[3]) for r in pleth]
        assert all(v == v for _, v in v2.series(sid, "pleth") if v is not None)  # never NaN


@pytest.mark.parametrize("sid", ["a", "d"])
def test_cursors_inside_blocks(pair, sid):
    v1, v2 = pair
    old = readings_v1(v1, sid)
    pleth = [r for r in old if r[2] == "pleth"]
    rng = random.Random(3)
    for _ in range(60):
        after = rng.choice(old)[0] - rng.randint(0, 1)
        through = after + rng.randint(0, 400)
        limit = rng.randint(1, 200)
        want = [r for r in old if after < r[0] <= through]
        assert rows(v2.readings(sid, after, through_id=through)) == want
        assert rows(v2.readings(sid, after, limit=limit)) == [r for r in old if r[0] > after][:limit]
        assert rows(v2.readings(sid, after, ["pleth"], limit, through)) == [r for r in want if r[2] == "pleth"][:limit]
        n = rng.randint(0, 300)
        assert rows(v2.recent(sid, "pleth", after, n)) == ([r for r in pleth if r[0] > after][-n:] if n else [])
        assert rows(v2.recent(sid, "spo2", after, n)) == ([r for r in old if r[2] == "spo2" and r[0] > after][-n:] if n else [])


def test_no_value_samples_are_read_as_no_value_never_as_a_number(pair):
    _, v2 = pair
    gaps = [r for r in v2.readings("b", vitals=["pleth"]) if r.status == "no_value"]
    assert len(gaps) == 10 and all(r.value is None for r in gaps)
    assert sum(r.status == "questionable" for r in v2.readings("b")) == 20


def test_export_rows_in_time_order_as_before(pair):
    v1, v2 = pair
    for sid in SESSIONS:
        old = sorted(readings_v1(v1, sid), key=lambda r: (r[1], r[0]))
        kinds = v2.reading_kinds(sid)
        counts = {}
        for r in old:
            counts[r[2]] = counts.get(r[2], 0) + 1
        assert kinds == sorted({(r[2], *r[4:]) for r in old}, key=lambda k: (-counts[k[0]], k))
        got = [row for batch in v2.readings_by_time(sid, 997) for row in batch]
        assert got == [(r[1], r[3], r[2], *r[4:]) for r in old]
        numbered = [row for batch in v2.readings_by_time(sid, 500, kinds) for row in batch]
        assert numbered == [(r[1], r[3], kinds.index((r[2], *r[4:]))) for r in old]


def test_waveform_samples_are_blocks_of_under_a_second(pair):
    _, v2 = pair
    conn = sqlite3.connect(v2.path)
    assert conn.execute("SELECT COUNT(*) FROM readings WHERE vital='pleth'").fetchone() == (0,)
    blocks = conn.execute("SELECT session_id, n, t0, rate_hz, times IS NULL FROM waveform_blocks").fetchall()
    assert sum(n for sid, n, *_ in blocks if sid == "a") == 120 * 75
    assert max(n for sid, n, *_ in blocks if sid != "d") <= MAX_BLOCK_S * 75
    assert [(n, rate, grid) for sid, n, _, rate, grid in blocks if sid == "c"] == [(75, 75.0, 1)] * 120  # a chunk a block
    for sid, n, t0, rate, grid in blocks:
        assert grid or rate == 0 or n > 1  # a sample off the grid keeps its own time
    for b in v2._blocks_after("d", 0, None, ["pleth"]):  # a chunk of 5000 samples at 2 kHz is cut in five
        assert b.n <= MAX_BLOCK_N and b.t()[-1] - b.t0 < MAX_BLOCK_S


def upgraded(tmp_path, writes):
    """A version 1 store written by the earlier code, its readings, and the store opened by today's code."""
    v1 = create_v1(tmp_path / "old.db")
    before = {}
    for sid, w in writes.items():
        create_session_v1(v1, session(sid))
        for i, batch in enumerate(w):
            write_v1(v1, sid, batch, [(batch[0].t, "note", {"text": f"n{i}"}, "nurse")] if i % 50 == 0 else ())
        before[sid] = readings_v1(v1, sid)
    events = v1.execute("SELECT * FROM events ORDER BY id").fetchall()
    v1.close()
    return before, events, Store(tmp_path / "old.db")


def test_a_version_1_store_is_upgraded_with_nothing_lost(tmp_path):
    before, events, store = upgraded(tmp_path, {"a": batches(simulated(90)), "b": batches(awkward_pleth(), 0.25)})
    conn = sqlite3.connect(store.path, isolation_level=None)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    for sid, old in before.items():
        assert rows(store.readings(sid)) == old
        assert rows(store.readings(sid, vitals=["pleth"])) == [r for r in old if r[2] == "pleth"]
    assert conn.execute("SELECT * FROM events ORDER BY id").fetchall() == events
    assert conn.execute("SELECT COUNT(*) FROM readings WHERE vital='pleth'").fetchone() == (0,)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM readings")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM waveform_blocks")
    # recording goes on after the upgrade, its ids after every old one
    last = max(old[-1][0] for old in before.values())
    store.write("a", [Reading(T0 + 91, "pleth", 5.0, "au", "x"), Reading(T0 + 91, "spo2", 97.0, "%", "x")])
    assert [r.id for r in store.readings("a", after_id=last)] == [last + 1, last + 2]
    assert rows(Store(store.path).readings("b")) == before["b"]  # opened again: nothing more to do


def test_an_upgrade_that_fails_leaves_the_version_1_store_as_it_was(tmp_path):
    v1 = create_v1(tmp_path / "old.db")
    create_session_v1(v1, session("a"))
    write_v1(v1, "a", simulated(5))
    v1.execute("INSERT INTO readings (session_id,t,vital,value,unit,source,status) VALUES ('a',1,'pleth','loud','au','x','ok')")
    before = readings_v1(v1, "a")
    v1.close()
    with pytest.raises(StoreError, match=f"cannot be upgraded to schema version {SCHEMA_VERSION}") as failed:
        Store(tmp_path / "old.db")
    assert "\n" not in str(failed.value)
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)
    assert readings_v1(conn, "a") == before
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='waveform_blocks'").fetchone() is None


def test_a_newer_store_is_refused_untouched_in_one_line(tmp_path):
    Store(tmp_path / "k.db").close()
    conn = sqlite3.connect(tmp_path / "k.db")
    newer = str(SCHEMA_VERSION + 1)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (newer,))
    conn.commit()
    for read_only in (False, True):
        with pytest.raises(StoreError, match=f"schema version {newer}, newer than this kapmon") as refused:
            Store(tmp_path / "k.db", read_only=read_only)
        assert "\n" not in str(refused.value)
    assert conn.execute("SELECT value FROM meta").fetchall() == [(newer,)]


def test_a_version_1_store_opened_read_only_is_refused_and_left_as_it_was(tmp_path):
    v1 = create_v1(tmp_path / "old.db")
    v1.close()
    with pytest.raises(StoreError, match="schema version 1, older than this kapmon.*upgraded"):
        Store(tmp_path / "old.db", read_only=True)
    assert sqlite3.connect(tmp_path / "old.db").execute("SELECT value FROM meta").fetchall() == [("1",)]


def test_a_nan_sample_is_refused_like_any_impossible_row(store):
    store.create_session(session("a"))
    with pytest.raises(sqlite3.IntegrityError, match="NaN"):
        store.write("a", [Reading(T0, "pleth", float("nan"), "au", "x")])
    assert store.readings("a") == []


def test_two_recorders_writing_at_once_keep_every_id_their_own(tmp_path):
    Store(tmp_path / "k.db").create_session(session("a"))
    Store(tmp_path / "k.db").create_session(session("b"))
    written = {"a": batches(simulated(20, seed=1)), "b": batches(simulated(20, seed=2))}

    def record(sid: str) -> None:
        store = Store(tmp_path / "k.db")
        for batch in written[sid]:
            store.write(sid, batch)

    threads = [threading.Thread(target=record, args=(sid,)) for sid in written]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    store = Store(tmp_path / "k.db")
    ids = []
    for sid, w in written.items():
        got = store.readings(sid)
        assert [(r.t, r.vital, r.value, r.source) for r in got] == [(r.t, r.vital, r.value, r.source) for b in w for r in b]
        ids += [r.id for r in got]
    assert sorted(ids) == list(range(1, len(ids) + 1))


def encodings(found) -> set[tuple]:
    """How each block keeps its values (decimals or float width) and times (grid, steps, offsets, times)."""
    return {("ints" if b.decimals is not None else "floats", len(b.samples) // b.n, len(b.times or b"") // b.n) for b in found}


def test_every_encoding_gives_back_exactly_what_was_packed():
    rng = random.Random(11)
    runs = {
        "grid, 7-bit": ([1000.0 + i / 50 for i in range(50)], [float(rng.randint(0, 127)) for _ in range(50)]),
        "grid, 0.01 steps, 32-bit": ([T0 + i * 0.008 for i in range(100)], [rng.randint(-10**6, 10**6) / 100 for _ in range(100)]),
        "arrival jitter at epoch, float32 values": (
            [T0 + i / 60 + rng.uniform(0, 0.003) for i in range(60)],
            [float(np.float32(rng.random())) for _ in range(60)],
        ),
        "jitter near zero, float64 values, gaps": (
            [0.001 + i / 75 + rng.uniform(0, 1e-5) for i in range(70)],
            [None if i % 9 == 0 else rng.random() for i in range(70)],
        ),
        "a flush of the simulator's 75 Hz": ([T0 + 7 + k / 75 for k in range(30, 45)], [12.5] * 15),
        "a lone sample": ([T0], [3.5]),
    }
    packed = {}
    next_id = 1
    for name, (times, values) in runs.items():
        rows = [
            (next_id + i, "s", t, "pleth", v, "au", "x", "no_value" if v is None else "ok")
            for i, (t, v) in enumerate(zip(times, values, strict=True))
        ]
        next_id += len(rows) + 5
        found = list(pack(rows))
        assert len(found) == 1, name
        assert [(i, t, v, st) for i, t, v, st in found[0].rows()] == [(r[0], r[2], r[4], r[7]) for r in rows], name
        packed[name] = found[0]
    assert {name: encodings([b]) for name, b in packed.items()} == {
        "grid, 7-bit": {("ints", 2, 0)},
        "grid, 0.01 steps, 32-bit": {("ints", 4, 0)},
        "arrival jitter at epoch, float32 values": {("floats", 4, 4)},
        "jitter near zero, float64 values, gaps": {("floats", 8, 8)},
        "a flush of the simulator's 75 Hz": {("ints", 2, 1)},  # off the grid by a step of float64 here and there
        "a lone sample": {("ints", 2, 0)},
    }
    t, v, starts = arrays(list(packed.values()))  # every block at once, as the review reads a window
    samples = [(t, v) for b in packed.values() for _, t, v, _ in b.rows()]
    assert t.tolist() == [s[0] for s in samples]
    assert [None if x != x else x for x in v.tolist()] == [s[1] for s in samples]
    assert starts.tolist() == np.cumsum([0] + [b.n for b in packed.values()])[:-1].tolist()
    for b in packed.values():
        values = [v for _, _, v, _ in b.rows() if v is not None]
        assert (b.lo, b.hi) == (min(values), max(values))


def test_chunks_encoded_together_are_the_blocks_each_gives_alone():
    """A flush's chunks are encoded a NumPy row per chunk: each block is byte for byte the one the chunk gives
    alone, whatever mix of encodings the chunks of one length need."""
    rng = np.random.default_rng(5)
    wave = rng.integers(0, 127, 75).astype(float)
    partly = wave.copy()
    partly[::7] = np.nan
    values = [
        wave,  # 7-bit samples: int16
        wave * 1000,  # int16, then int32 as they grow
        wave * 100_000,
        wave / 10,  # one decimal
        wave / 1000,  # three decimals
        wave / 1000 + 0.0005,  # four decimals: float32 or float64
        np.float32(rng.random(75)).astype(float),
        rng.random(75),
        partly,  # gaps: floats, no-value samples kept as NaN
        np.full(75, np.nan),  # no value at all: no extremes
        -wave,
        wave * 2.0**33,  # beyond int32
        np.where(wave > 60, -0.0, wave),
    ]
    chunks = [Samples(T0 + k, "pleth", 75.0, v, "au", "ox", "questionable" if k == 3 else "ok") for k, v in enumerate(values)]
    chunks += [
        Samples(T0 + 20, "pleth", 50.0, [7.0], "au", "one"),  # one sample: no rate
        Samples(T0 + 21, "pleth", 75.0, rng.random(200), "au", "long"),  # longer than a block: split
        Samples(T0 + 24, "pleth", 2000.0, rng.integers(-9, 9, 40).astype(float), "au", "fast"),
    ]
    placed, ident = [], 1
    for chunk in chunks:
        placed.append((ident, chunk))
        ident += len(chunk)
    alone = [b for ident, chunk in placed for b in chunk_blocks(ident, "s", chunk)]
    together = [Block(*row) for row in chunks_rows("s", placed)]
    assert [b.row() for b in together] == [b.row() for b in alone]
    kept = {(b.decimals, len(b.samples) // b.n) for b in together}
    assert kept >= {(0, 2), (0, 4), (1, 2), (3, 2), (None, 4), (None, 8)}  # the mix of encodings the check is about
    assert sum(b.lo is None for b in together) == 1


def on_disk(path) -> int:
    """Bytes the store takes: its file and its write-ahead log."""
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def test_the_upgrade_gives_back_the_space_the_waveform_rows_took(tmp_path):
    before, _, store = upgraded(tmp_path, {"a": batches(simulated(600))})
    path = tmp_path / "old.db"
    fresh = Store(tmp_path / "fresh.db")  # the same readings recorded by today's code, for scale
    fresh.create_session(session("a"))
    for batch in batches(simulated(600)):
        fresh.write("a", batch)
    fresh._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert on_disk(path) < 1.5 * on_disk(tmp_path / "fresh.db")
    assert rows(store.readings("a")) == before["a"]
    assert sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='reclaim'").fetchone() is None


class Contended(Store):
    """A store whose space is reclaimed while another process holds the write lock."""

    def _reclaim(self) -> None:
        other = sqlite3.connect(self.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        self.busy_timeout(0.05)
        try:
            super()._reclaim()
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_a_reclaim_that_cannot_run_loses_nothing_and_is_tried_again(tmp_path, caplog):
    v1 = create_v1(tmp_path / "old.db")
    create_session_v1(v1, session("a"))
    for batch in batches(simulated(600)):
        write_v1(v1, "a", batch)
    before = readings_v1(v1, "a")
    v1.close()
    size = on_disk(tmp_path / "old.db")
    store = Contended(tmp_path / "old.db")  # upgraded; the VACUUM finds the write lock taken
    assert "could not be reclaimed yet" in caplog.text and "locked" in caplog.text
    assert rows(store.readings("a")) == before
    store.write("a", [Reading(T0 + 601, "spo2", 97.0, "%", "x")])  # recording goes on
    assert on_disk(tmp_path / "old.db") >= size
    again = Store(tmp_path / "old.db")
    assert rows(again.readings("a"))[:-1] == before
    assert on_disk(tmp_path / "old.db") < size / 2
    assert sqlite3.connect(tmp_path / "old.db").execute("SELECT value FROM meta WHERE key='reclaim'").fetchone() is None


def test_an_older_recorder_still_writing_after_the_upgrade_is_refused_loudly(tmp_path):
    old = create_v1(tmp_path / "k.db")  # a version 1 recorder, its store open
    create_session_v1(old, session("a"))
    for batch in batches(simulated(10)):
        write_v1(old, "a", batch)
    store = Store(tmp_path / "k.db")  # another process, newer, opens the store: upgraded
    before = rows(store.readings("a"))
    with pytest.raises(sqlite3.IntegrityError, match="a row id a waveform sample already has.*older than schema version 2"):
        write_v1(old, "a", [Reading(T0 + 11, "spo2", 97.0, "%", "x")])  # its next row id is one a pleth sample holds now
    old.execute("ROLLBACK")
    store.write("a", [Reading(T0 + 11, "spo2", 97.0, "%", "x")])  # today's recorder goes on
    after = rows(store.readings("a"))
    with pytest.raises(sqlite3.IntegrityError, match="waveform samples are kept in waveform_blocks.*older than schema version 2"):
        write_v1(old, "a", [Reading(T0 + 12, "spo2", 98.0, "%", "x"), Reading(T0 + 12, "pleth", 5.0, "au", "x")])
    old.execute("ROLLBACK")
    assert after[:-1] == before and rows(store.readings("a")) == after  # nothing half-written
    store.write("a", [Reading(T0 + 12, "pleth", 5.0, "au", "x")])
    assert [(r.vital, r.value) for r in store.readings("a", after_id=after[-1][0])] == [("pleth", 5.0)]
