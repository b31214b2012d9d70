"""The replay source: replay://PATH through a clock, metadata, finite, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devices.errors import RecordingError, URIError
from devices.reading import Reading
from devices.io.recording import read_recording, write_recording
from devices.registry import open_source
from devices.virtual.replay import Horizon, paced
from devices.virtual.simulator import simulate
from devices.source import FastClock
from tests.helpers import ROOT

SAMPLE_DATA = ROOT / "sample_data"


async def drain(source, clock):
    out = []
    async for item in source.stream(clock):
        assert item.t <= clock.now() + 1e-9, "yielded before its time"
        out.append(item)
    return out


def test_replay_sample_through_fast_clock():
    path = SAMPLE_DATA / "desaturation.csv"
    src = open_source(f"replay://{path}?speed=10")
    assert src.uri == f"replay://{path}?speed=10"
    assert src.metadata["scenario"] == "desaturation"
    t0 = 1_700_000_000.0
    clock = FastClock(t0)
    got = asyncio.run(drain(src, clock))
    rec = read_recording(path)
    assert got == rec.items_from(t0)
    assert clock.now() == pytest.approx(t0 + rec.duration)  # ends when the recording ends


def test_replay_relative_path(tmp_path, monkeypatch):
    items = list(simulate("typical_iv", duration=30))
    write_recording(tmp_path / "short.csv", items)
    monkeypatch.chdir(tmp_path)
    src = open_source("replay://short.csv")
    assert src.metadata == {"sampling_s": {"hr": 1.0, "pi": 1.0, "pr": 1.0, "spo2": 1.0}}  # measured from the recording
    got = asyncio.run(drain(src, FastClock(50.0)))
    assert got == [Reading(i.t + 50.0, i.vital, i.value, i.unit, i.source, i.status) for i in items]


def test_replay_sample_path_relative_to_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = open_source("replay://sample_data/typical_iv_wide_15min.csv")
    assert src.metadata["scenario"] == "typical_iv"


def test_replay_missing_file_names_path():
    with pytest.raises((URIError, RecordingError), match="no/such/file.csv"):
        open_source("replay://no/such/file.csv")


def test_replay_bad_file_fails_at_open(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,vital,value\n0,hr,x\n")
    with pytest.raises(RecordingError, match=r"line 2, column 3"):
        open_source(f"replay://{bad}")


@pytest.mark.parametrize("query", ["speed=0", "speed=abc", "loop=1"])
def test_replay_bad_params(query):
    with pytest.raises(URIError):
        open_source(f"replay://{SAMPLE_DATA / 'typical_iv.csv'}?{query}")


def test_paced_sleeps_in_batches():
    items = list(simulate("typical_iv", duration=20, pleth=True))
    clock = FastClock(0.0)
    calls = []
    orig = clock.sleep_until

    async def sleep_until(t):
        calls.append(t)
        await orig(t)

    clock.sleep_until = sleep_until

    async def run():
        return [i async for i in paced(items, clock, 0.0, horizon, end=items[-1].t)]

    horizon = Horizon()
    assert asyncio.run(run()) == items
    assert horizon.t >= items[-1].t  # everything has been yielded
    assert len(calls) <= 20 * 10 + 1
    assert calls == sorted(calls)
