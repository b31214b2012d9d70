"""Waveform samples as chunks (``devices.reading.Samples``): what a chunk may hold, how single samples are
gathered into chunks and expanded back, and that a chunk is stored, held, judged and read exactly as its
samples one by one were."""

import asyncio
import json
import math
import sqlite3

import numpy as np
import pytest

from devices.io.recording import Recording
from devices.reading import MAX_SAMPLES, Condition, Reading, Samples, chunks, expand, no_value, reading, size
from devices.source import FastClock
from devices.virtual.perturb import Overlay, Perturbation
from devices.virtual.replay import ReplaySource
from devices.virtual.simulator import SimSource, simulate
from monitor.session.backlog import Backlog
from monitor.session.model import Session
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.store import Store

T0 = 1_769_000_000.0


def pleth(values, t0: float = T0, rate: float = 75.0, source: str = "ox", status: str = "ok") -> Samples:
    return Samples(t0, "pleth", rate, values, "au", source, status)


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"t0": math.nan}, "start time"),
        ({"t0": math.inf}, "start time"),
        ({"t0": "now"}, "start time"),
        ({"rate_hz": 0}, "rate"),
        ({"rate_hz": -75.0}, "rate"),
        ({"rate_hz": math.nan}, "rate"),
        ({"rate_hz": math.inf}, "rate"),
        ({"rate_hz": 1e-320}, "last sample"),
        ({"values": []}, "1 to 65536"),
        ({"values": np.zeros(MAX_SAMPLES + 1)}, "1 to 65536"),
        ({"values": np.zeros((2, 3))}, "2 dimension"),
        ({"values": [1.0, math.inf]}, "infinite"),
        ({"values": [1.0, -math.inf]}, "infinite"),
        ({"values": ["a", "b"]}, "not numbers"),
        ({"vital": "spo2"}, "not a waveform"),
        ({"status": "no_value"}, "a missing sample is NaN"),
    ],
)
def test_a_chunk_refuses_what_is_not_a_run_of_samples_in_one_line(change, needle):
    args = {"t0": T0, "vital": "pleth", "rate_hz": 75.0, "values": [1.0, 2.0], "unit": "au", "source": "cms50d"} | change
    with pytest.raises(ValueError, match=needle) as refused:
        Samples(**args)
    assert "samples from cms50d" in str(refused.value) and "\n" not in str(refused.value)


def test_nan_is_a_sample_without_a_value_and_a_chunk_keeps_its_own_read_only_copy():
    values = np.array([1.5, np.nan, 3.0])
    chunk = pleth(values, rate=50.0)
    values[0] = 99.0
    assert chunk.readings() == [
        Reading(T0, "pleth", 1.5, "au", "ox"),
        Reading(T0 + 1 / 50, "pleth", None, "au", "ox", "no_value"),
        Reading(T0 + 2 / 50, "pleth", 3.0, "au", "ox"),
    ]
    with pytest.raises(ValueError):
        chunk.values[0] = 7.0
    assert size(chunk) == len(chunk) == 3 and chunk.end == T0 + 2 / 50 and chunk.t == T0
    assert pleth([1.0, np.nan]) == pleth([1.0, np.nan]) != pleth([1.0, 2.0])
    assert Samples(T0, "pleth", 75, [1, 2], "au", "ox").rate_hz == 75.0  # integers are taken as floats


def test_single_samples_on_a_grid_are_gathered_into_the_chunks_they_came_from():
    items = list(simulate("desaturation", seed=2, duration=300, start=T0, pleth=True))
    assert sum(isinstance(i, Samples) for i in items) > 200
    assert list(chunks(expand(items))) == items


def test_samples_off_a_grid_or_with_an_impossible_value_stay_single():
    jitter = [reading(T0 + i / 60 + (0.002 if i == 3 else 0.0), "pleth", i, "ox") for i in range(10)]
    assert list(chunks(jitter)) == jitter
    nan = [Reading(T0 + i / 50, "pleth", math.nan if i == 2 else 1.0, "au", "ox") for i in range(5)]
    assert list(chunks(nan)) == nan  # the store refuses the NaN, as it did
    two = [reading(T0 + i / 50, "pleth", i, "ox" if i % 2 else "nonin") for i in range(6)]
    assert list(chunks(two)) == two  # sources interleaved: no run of one source
    flagged = [Reading(T0 + i / 50, "pleth", 1.0, "au", "ox", "questionable" if i >= 3 else "ok") for i in range(6)]
    assert [(c.status, len(c)) for c in chunks(flagged)] == [("ok", 3), ("questionable", 3)]
    long = [reading(T0 + i / 50, "pleth", i, "ox") for i in range(120)]
    assert [(c.t0, len(c)) for c in chunks(long)] == [(T0, 50), (T0 + 1.0, 50), (T0 + 2.0, 20)]


def by_second(seconds: int, seed: int) -> list[list]:
    """A simulated session's writes, one a second (numerics, then the second's pleth chunk)."""
    out: dict[float, list] = {}
    for item in simulate("typical_iv", seed=seed, duration=seconds, start=T0, pleth=True):
        if not isinstance(item, Condition):
            out.setdefault(item.t, []).append(item)
    return list(out.values())


def test_a_chunk_is_stored_exactly_as_its_samples_one_by_one(tmp_path):
    stores = {"chunks": Store(tmp_path / "chunks.db"), "samples": Store(tmp_path / "samples.db")}
    for store in stores.values():
        store.create_session(Session("s", "P-1", T0, "iv", 70.0))
    for batch in by_second(120, seed=4):
        stores["chunks"].write("s", batch)
        stores["samples"].write("s", list(expand(batch)))
    tables = {}
    for name, store in stores.items():
        conn = sqlite3.connect(store.path)
        tables[name] = [conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("readings", "waveform_blocks")]
    assert tables["chunks"] == tables["samples"]
    assert len(tables["chunks"][1]) == 120  # one block a second


def test_refused_writes_drop_whole_chunks_first_and_note_the_gap(tmp_path):
    store = Store(tmp_path / "k.db")
    store.create_session(Session("s1", "P-1", T0, "iv", 70.0))
    waves = [pleth(np.full(75, 50.0), T0 + s) for s in range(4)]
    numerics = [reading(T0 + s, "spo2", 97, "ox") for s in range(4)]
    backlog = Backlog(max_waveform=150, max_numerics=100)
    backlog.hold([x for s in range(4) for x in (numerics[s], waves[s])])
    assert backlog.waveform_samples == 300 and not backlog.gaps  # nothing dropped before a write has failed
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    store.busy_timeout(0.01)
    assert not backlog.write(store, "s1")
    assert list(backlog.waveform) == waves[2:] and backlog.waveform_samples == 150
    assert list(backlog.numerics) == numerics
    gap = backlog.gaps["pleth"]
    assert (gap.start, gap.end, gap.count) == (T0, T0 + 1 + 74 / 75, 150)
    other.execute("ROLLBACK")
    assert backlog.write(store, "s1") and backlog.waveform_samples == 0
    assert [(r.t, r.vital) for r in store.readings("s1") if r.vital == "spo2"] == [(r.t, "spo2") for r in numerics]
    assert [r.t for r in store.readings("s1", vitals=["pleth"])] == [t for w in waves[2:] for t in w.times().tolist()]
    (event,) = store.events("s1", kind="gap")
    assert event.data["samples"] == 150 and event.data["to"] == T0 + 1 + 74 / 75


class OneByOne(SimSource):
    """The simulator as a device that gives its pleth one sample at a time."""

    def items(self, start: float):
        return expand(super().items(start))


def test_the_hub_stores_and_judges_chunks_as_it_did_single_samples(tmp_path):
    recorded = []
    # the scenario's first 45 min: a probe-off episode and a desaturation
    sources = [kind("desaturation", seed=3, pleth=True, duration=2700) for kind in (SimSource, OneByOne)]
    for k, source in enumerate(sources):
        store = Store(tmp_path / f"{k}.db")
        session = Session("s", "P-1", T0, "iv", 70.0, "kap-iv", "clinical", source.metadata)
        store.create_session(session)
        record_at_full_speed(store, session, source, build_plan("kap-iv", "iv", {}))
        readings = sorted((r.t, r.vital, r.source, r.value, r.status) for r in store.readings("s"))
        events = sorted((e.t, e.kind, json.dumps(e.data, sort_keys=True)) for e in store.events("s"))
        recorded.append((readings, [a for _, a in store.alarm_events("s")], events, store.series("s", "pleth")))
    assert recorded[0] == recorded[1]
    readings, alarms, *_ = recorded[0]
    assert sum(r[1] == "pleth" for r in readings) > 100_000 and any(a.vital == "spo2" for a in alarms)
    assert any(e[1] == "condition" for e in recorded[0][2])  # the probe-off episode


def test_a_probe_off_cuts_a_chunk_where_it_cut_single_samples():
    items = list(simulate("typical_iv", seed=1, duration=20, pleth=True))
    cut = Perturbation("probe_off", t=5.5, duration=3.2)
    chunked, single = Overlay(), Overlay()
    chunked.add(cut)
    single.add(cut)
    out = [o for i in items for o in chunked.apply(i)]
    assert list(expand(out)) == [o for i in expand(items) for o in single.apply(i)]
    assert sum(isinstance(o, Samples) for o in out) >= 15  # chunks away from the probe-off stay whole


async def drained(source, clock) -> list:
    return [item async for item in source.stream(clock)]


def test_a_replay_gives_chunks_holding_every_sample_of_the_recording():
    recording = Recording(None, {}, list(expand(simulate("typical_iv", seed=1, duration=30, pleth=True))))
    got = asyncio.run(drained(ReplaySource(recording), FastClock(T0)))
    assert sum(isinstance(i, Samples) for i in got) == 30
    assert list(expand(got)) == recording.items_from(T0)


@pytest.mark.parametrize("t", [math.inf, -math.inf, math.nan])
def test_a_reading_at_no_time_is_refused_with_what_was_wrong(t):
    """A device's wrong clock must not reach the record as a time no page can draw."""
    with pytest.raises(ValueError, match="finite number of epoch seconds"):
        reading(t, "hr", 70, "ox")
    with pytest.raises(ValueError, match="finite number of epoch seconds"):
        no_value(t, "spo2", "ox")
