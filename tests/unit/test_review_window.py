"""The review reads a waveform a window at a time: the store's windowed read gives exactly the samples in the
window, the min/max downsample keeps each bucket's extremes and breaks lines at gaps, the whole-session outline
keeps every block's extremes and gaps, and the review figure shows the data's extremes before and after a zoom.
A version 2 store (blocks without their extremes) is upgraded with nothing lost."""

import math
import random
import sqlite3

import numpy as np
import pytest

from devices.reading import Reading
from layouts import review
from monitor.analysis.downsample import minmax, overview, with_gaps
from monitor.analysis.timeref import TimeRef
from monitor.session.blocks import MAX_BLOCK_S
from monitor.session.model import Session
from monitor.session.store import SCHEMA_VERSION, Store, StoreError
from tests.store_v1 import create_session_v1
from tests.store_v2 import create_v2, write_v2
from tests.unit.test_waveform_blocks import awkward_pleth, batches, rows

T0 = 1_769_000_000.0
RATE = 20.0
OUTAGE = (600.0, 660.0)  # seconds after T0 with no sample at all (cable out)
SENSOR_OFF = (900.0, 910.0)  # samples without a value (probe off the finger)
SPIKE, DIP = (333.35, 99.9), (1201.5, -20.5)  # the session's highest and lowest value, where and what


def session(sid: str = "s") -> Session:
    return Session(sid, "P-001", T0, "iv", 70.0, "kap-iv", "clinical", {})


def pleth(seconds: float = 1500.0) -> list[Reading]:
    """A 20 Hz pleth with an outage, a sensor-off stretch, one spike and one dip, and 1 Hz SpO2 beside it."""
    out = []
    for i in range(int(seconds * RATE)):
        s = i / RATE
        if OUTAGE[0] <= s < OUTAGE[1]:
            continue
        if math.isclose(s, SPIKE[0]):
            value = SPIKE[1]
        elif math.isclose(s, DIP[0]):
            value = DIP[1]
        else:
            value = round(40 + 30 * math.sin(s * 7), 1)
        off = SENSOR_OFF[0] <= s < SENSOR_OFF[1]
        out.append(Reading(T0 + s, "pleth", None if off else value, "au", "cms50d", "no_value" if off else "ok"))
        if i % int(RATE) == 0:
            out.append(Reading(T0 + s, "spo2", 97.0, "%", "cms50d"))
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("w") / "k.db")
    store.create_session(session())
    for batch in batches(pleth(), 1.0):
        store.write("s", batch)
    return store


def brute(store: Store, sid: str, t_from: float | None, t_to: float | None) -> tuple[list, list]:
    """The samples in the window the slow way: every reading, filtered and sorted (time, then id)."""
    found = sorted(
        (r for r in store.readings(sid, vitals=["pleth"]) if (t_from is None or r.t >= t_from) and (t_to is None or r.t <= t_to)),
        key=lambda r: (r.t, r.id),
    )
    return [r.t for r in found], [r.value for r in found]


def as_lists(t: np.ndarray, v: np.ndarray) -> tuple[list, list]:
    return t.tolist(), [None if x != x else x for x in v.tolist()]


@pytest.mark.parametrize(
    "window",
    [
        (T0 + 10.0, T0 + 12.0),  # both ends on samples at block edges (a block starts at each whole second)
        (T0 + 10.0 - 1 / RATE, T0 + 11.0 - 1 / RATE),  # from a block's last sample to the next block's last
        (T0 + 100.1, T0 + 100.3),  # inside one block
        (T0 + 100.12, T0 + 100.13),  # between two samples: empty
        (T0 + 610.0, T0 + 650.0),  # inside the outage: empty
        (T0 - 50.0, T0 - 1.0),  # before the session: empty
        (T0 + 590.0, T0 + 670.0),  # across the outage
        (T0 + 905.0, T0 + 915.0),  # no-value samples, then values again
        (None, None),  # everything
    ],
)
def test_the_windowed_read_gives_exactly_the_samples_in_the_window(recorded, window):
    t, v = recorded.waveform("s", "pleth", *window)
    assert as_lists(t, v) == brute(recorded, "s", *window)


def test_a_window_reads_only_its_blocks_through_the_time_index(recorded):
    every = recorded.waveform_blocks("s", "pleth")
    some = recorded.waveform_blocks("s", "pleth", T0 + 100.0, T0 + 110.0)
    assert len(every) > 1000
    assert [b.t0 - T0 for b in some] == list(range(100 - int(MAX_BLOCK_S), 111))  # those that may hold seconds 100-110
    plan = (
        recorded._conn()
        .execute("EXPLAIN QUERY PLAN SELECT * FROM waveform_blocks WHERE session_id='s' AND vital='pleth' AND t0>=1 AND t0<=2")
        .fetchall()
    )
    assert "waveform_blocks_by_time" in str(plan)
    outline = recorded.waveform_outline("s", "pleth", T0 + 100.0, T0 + 110.0)
    assert outline[:, 0].tolist() == [b.t0 for b in some]  # the outline of the same blocks, without their samples


def test_jitter_two_sources_and_a_clock_stepping_back_read_as_the_rows_gave_them(tmp_path):
    store = Store(tmp_path / "k.db")
    store.create_session(session("b"))
    for batch in batches(awkward_pleth(), 0.25):
        store.write("b", batch)
    rng = random.Random(3)
    every = brute(store, "b", None, None)[0]
    for _ in range(200):
        a, b = sorted(rng.uniform(every[0] - 1, every[-1] + 1) for _ in range(2))
        if rng.random() < 0.3:  # an end exactly on a sample
            a = rng.choice(every)
        assert as_lists(*store.waveform("b", "pleth", a, b)) == brute(store, "b", a, b)


# --------------------------------------------------------------------------------------------- downsampling


def test_minmax_keeps_each_buckets_extremes_and_its_gaps():
    rng = np.random.default_rng(5)
    t = np.arange(10_000, dtype=float)
    v = rng.normal(size=10_000)
    v[rng.choice(10_000, 40, replace=False)] = np.nan
    x, y = minmax(t, v, 200)
    assert len(x) <= 300
    size = -(-10_000 // 100)
    for k in range(100):
        bucket = v[k * size : (k + 1) * size]
        kept = y[(x >= k * size) & (x < (k + 1) * size)]
        assert np.nanmin(kept) == np.nanmin(bucket) and np.nanmax(kept) == np.nanmax(bucket)
        assert np.isnan(kept).any() == np.isnan(bucket).any()


def test_a_silence_becomes_a_gap_so_no_line_crosses_an_outage():
    t = np.array([0.0, 0.05, 0.10, 5.0, 5.05])
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    gt, gv = with_gaps(t, v, 0.25)
    assert np.isnan(gv).tolist() == [False, False, False, True, False, False]
    assert 0.10 < gt[3] < 5.0


def test_the_outline_keeps_every_blocks_extremes_and_gaps():
    outline = np.array(
        [  # t0, rate_hz, n, lo, hi, no_value
            [0.0, 20.0, 20, 1.0, 9.0, 0],
            [1.0, 20.0, 20, -3.0, 4.0, 2],  # holds no-value samples: a gap inside
            [2.0, 20.0, 20, 0.0, 5.0, 0],
            [10.0, 20.0, 20, 2.0, 2.5, 0],  # after a silence of 7 s: a gap before it
            [11.0, 20.0, 20, np.nan, np.nan, 20],  # every sample without a value
        ]
    )
    t, v = overview(outline, 0.25)
    assert [None if x != x else x for x in v.tolist()] == [1.0, 9.0, -3.0, None, 4.0, 0.0, 5.0, None, 2.0, 2.5, None, None, None]
    assert t.tolist() == sorted(t.tolist())
    assert t[1] == 0.95 and t[3] == pytest.approx(1.475) and 2.95 < t[7] < 10.0


# --------------------------------------------------------------------------------------------- the figure


def test_the_figure_shows_the_datas_extremes_whole_and_after_a_zoom(recorded):
    ref = TimeRef(T0, "session start")
    series = review.load_series(recorded, "s", T0)
    assert isinstance(series["pleth"], review.Waveform) and isinstance(series["spo2"], review.Series)
    x, y = series["pleth"].visible()
    values = [v for v in y if v is not None]
    assert (max(values), min(values)) == (SPIKE[1], DIP[1])
    assert len(x) <= review.N_OUT + 4
    gap = [i for i, xi in enumerate(x) if OUTAGE[0] / 60 < xi < OUTAGE[1] / 60]
    assert gap and all(y[i] is None for i in gap)  # the outage is a gap, not a line
    before = [i for i, xi in enumerate(x) if xi < OUTAGE[0] / 60][-1]
    assert y[before + 1] is None

    drawn = [tr.vital for tr in review.shown_traces(series)]
    for x0, x1 in ((SPIKE[0] / 60 - 0.5, SPIKE[0] / 60 + 0.5), (19.0, 21.0), (9.0, 12.0), (14.9, 15.3)):
        patch = review.zoom_patch(series, drawn, (x0, x1), ref, (0.0, 25.0), 4).to_plotly_json()
        i = drawn.index("pleth")
        y = next(op["params"]["value"] for op in patch["operations"] if op["location"] == ["data", i, "y"])
        x = next(op["params"]["value"] for op in patch["operations"] if op["location"] == ["data", i, "x"])
        t, v = brute(recorded, "s", None, None)
        inside = [k for k, tk in enumerate(t) if x0 <= (tk - T0) / 60 <= x1]
        span = range(max(inside[0] - 1, 0), min(inside[-1] + 2, len(t)))  # and one sample past each edge
        real = [v[k] for k in span if v[k] is not None]
        shown = [w for w in y if w is not None]
        assert (max(shown), min(shown)) == (max(real), min(real))
        assert min(x) <= x0 + 1 / 60 and max(x) >= x1 - 1 / 60  # the line runs to both edges
        if x0 < SENSOR_OFF[0] / 60 < x1:
            assert None in y


# --------------------------------------------------------------------------------------------- upgrade


def v2_store(tmp_path):
    conn = create_v2(tmp_path / "old.db")
    for sid in ("s", "b"):
        create_session_v1(conn, session(sid))
    for batch in batches(pleth(120.0), 1.0):
        write_v2(conn, "s", batch)
    for batch in batches(awkward_pleth(), 0.25):
        write_v2(conn, "b", batch)
    blocks_before = conn.execute("SELECT * FROM waveform_blocks ORDER BY id").fetchall()
    readings_before = conn.execute("SELECT * FROM readings ORDER BY id").fetchall()
    conn.close()
    return blocks_before, readings_before


def test_a_version_2_store_gains_each_blocks_extremes_with_nothing_lost(tmp_path):
    blocks_before, readings_before = v2_store(tmp_path)
    store = Store(tmp_path / "old.db")
    conn = sqlite3.connect(store.path, isolation_level=None)
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    after = conn.execute("SELECT * FROM waveform_blocks ORDER BY id").fetchall()
    assert [row[:13] for row in after] == blocks_before  # every column as it was
    assert conn.execute("SELECT * FROM readings ORDER BY id").fetchall() == readings_before
    for b in store.waveform_blocks("s", "pleth") + store.waveform_blocks("b", "pleth"):
        values = [v for _, _, v, _ in b.rows() if v is not None]
        assert (b.lo, b.hi) == ((min(values), max(values)) if values else (None, None))
    assert as_lists(*store.waveform("s", "pleth", T0 + 10, T0 + 20)) == brute(store, "s", T0 + 10, T0 + 20)
    indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"waveform_blocks_by_vital", "waveform_blocks_by_time"} <= indexes
    for sql in ("DELETE FROM waveform_blocks", "UPDATE waveform_blocks SET lo=0"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%v2%'").fetchall() == []
    last = store.last_reading_id("b")
    store.write("b", [Reading(T0 + 9001, "pleth", 5.0, "au", "x")])  # recording goes on, ids after the old ones
    assert [r.id for r in store.readings("b", after_id=last)] == [last + 1]
    assert rows(Store(store.path).readings("s")) == rows(store.readings("s"))  # opened again: nothing more to do


def test_a_version_2_store_opened_read_only_is_refused_and_left_as_it_was(tmp_path):
    blocks_before, _ = v2_store(tmp_path)
    with pytest.raises(StoreError, match="schema version 2, older than this kapmon.*upgraded"):
        Store(tmp_path / "old.db", read_only=True)
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("SELECT value FROM meta").fetchall() == [("2",)]
    assert conn.execute("SELECT * FROM waveform_blocks ORDER BY id").fetchall() == blocks_before


def test_a_block_cannot_claim_extremes_its_samples_do_not_have(recorded):
    conn = recorded._conn()
    row = conn.execute("SELECT * FROM waveform_blocks LIMIT 1").fetchone()
    columns = [c[1] for c in conn.execute("PRAGMA table_info(waveform_blocks)")]
    bad = dict(zip(columns, row)) | {"id": 10**9, "lo": 5.0, "hi": 1.0}
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute(f"INSERT INTO waveform_blocks ({','.join(bad)}) VALUES ({','.join('?' * len(bad))})", list(bad.values()))


def test_a_zoom_far_beyond_the_session_reads_and_ticks_only_what_could_be_shown(recorded):
    series = review.load_series(recorded, "s", T0)
    drawn = [tr.vital for tr in review.shown_traces(series)]
    ref = TimeRef(T0, "session start")
    for rng in ((0.0, 1e12), (-1e300, 1e300), (-5.0, 30.0)):  # from a hostile browser, and a plain zoom out
        patch = review.zoom_patch(series, drawn, rng, ref, (0.0, 25.0), 3).to_plotly_json()
        ticks = next(op["params"]["value"] for op in patch["operations"] if op["location"][-1] == "tickvals")
        assert 1 < len(ticks) <= review.MAX_TICKS + 1
        assert -25.0 <= min(ticks) and max(ticks) <= 50.0
    beyond = review.zoom_patch(series, drawn, (1e9, 2e9), ref, (0.0, 25.0), 3).to_plotly_json()
    assert beyond["operations"] == []
