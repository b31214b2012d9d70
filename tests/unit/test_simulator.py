"""The simulator: determinism, cadence, plausibility per scenario, artefacts, speed, sim:// source."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest

from devices.errors import URIError
from devices.reading import Condition, Reading, Samples, expand, in_physical_range, last_time
from devices.registry import open_source
from devices.screening import QUESTIONS
from devices.source import FastClock
from devices.virtual.scenarios import SCENARIOS, get_scenario
from devices.virtual.simulator import PLETH_HZ, expected, nibp_times, simulate
from devices.vocabulary import NO_VALUE, ROUTES, VITALS


def values(items, vital):
    return [(i.t, i.value) for i in items if isinstance(i, Reading) and i.vital == vital and i.value is not None]


def conditions(items, name):
    return [i for i in items if isinstance(i, Condition) and i.condition == name]


@pytest.fixture(scope="module")
def sessions():
    return {name: list(simulate(name)) for name in SCENARIOS}


def test_required_scenarios_exist():
    for name in (
        "typical_iv", "typical_im", "typical_sublingual", "esketamine_intranasal",
        "hypertensive_surge", "desaturation", "vasovagal_bradycardia",
    ):
        assert name in SCENARIOS
    for sc in SCENARIOS.values():
        assert sc.route in ROUTES
        assert set(sc.screening) == set(QUESTIONS)
        assert sc.screening["age"] == sc.age


def test_unknown_scenario_lists_known_names():
    with pytest.raises(ValueError, match="typical_iv"):
        get_scenario("nope")


def test_same_seed_same_items_different_seed_different():
    a = list(simulate("typical_iv", seed=3, duration=1200))
    b = list(simulate("typical_iv", seed=3, duration=1200))
    c = list(simulate("typical_iv", seed=4, duration=1200))
    assert a == b
    assert values(a, "hr") != values(c, "hr")


def test_start_only_shifts_time_and_pleth_only_adds_samples():
    base = list(simulate("desaturation", seed=1, duration=600))
    shifted = list(simulate("desaturation", seed=1, duration=600, start=1_700_000_000.0))
    assert [(i.t + 1_700_000_000.0) for i in base] == [i.t for i in shifted]
    with_pleth = [i for i in simulate("desaturation", seed=1, duration=600, pleth=True) if not isinstance(i, Samples)]
    assert with_pleth == base


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_order_and_physical_ranges(name, sessions):
    items = sessions[name]
    ts = [i.t for i in items]
    assert ts == sorted(ts)
    for i in items:
        if isinstance(i, Reading) and i.value is not None:
            assert in_physical_range(i.vital, i.value), i
            assert i.unit == VITALS[i.vital].unit
    assert max(v for _, v in values(items, "spo2")) <= 100
    assert 20 < min(v for _, v in values(items, "hr")) and max(v for _, v in values(items, "hr")) < 200
    for (t1, s), (t2, d) in zip(values(items, "sbp"), values(items, "dbp")):
        assert t1 == t2 and s > d


def test_one_hz_cadence(sessions):
    items = sessions["typical_iv"]
    n = int(SCENARIOS["typical_iv"].duration_s)
    for vital in ("hr", "pr", "spo2", "pi"):
        ts = [i.t for i in items if isinstance(i, Reading) and i.vital == vital]
        assert ts == [float(s) for s in range(n)], vital


def test_nibp_cadence_dose_start_and_configurable():
    items = list(simulate("typical_iv"))
    sbp_t = [t for t, _ in values(items, "sbp")]
    assert sbp_t == [float(t) for t in range(0, 7800, 300)]
    for vital in ("dbp", "map"):
        assert [t for t, _ in values(items, vital)] == sbp_t
    fast = [t for t, _ in values(simulate("typical_iv", nibp_interval=180, duration=1800), "sbp")]
    assert fast == sorted(set(range(0, 1800, 180)) | {600})
    # a dose start off the cadence gets its own reading; manual extras are kept
    assert 900 in nibp_times("vasovagal_bradycardia", interval=600)
    assert {480, 540, 720} <= set(nibp_times("vasovagal_bradycardia"))


def test_pleth_75_hz_plausible_waveform():
    chunked = list(simulate("typical_iv", pleth=True, duration=60))
    assert [i.t for i in chunked if isinstance(i, Samples)] == list(range(60))  # one chunk a second
    items = [i for i in expand(chunked) if isinstance(i, Reading) and i.vital == "pleth"]
    assert len(items) == 60 * PLETH_HZ
    assert items[1].t - items[0].t == pytest.approx(1 / PLETH_HZ)
    assert all(0 <= i.value <= 100 for i in items)
    assert all(i.source == "sim-oximeter" and i.unit == "au" for i in items)
    # the waveform pulses at the pulse rate: count upward crossings of the mid level
    vals = [i.value for i in items]
    mid = (max(vals) + min(vals)) / 2
    beats = sum(1 for a, b in zip(vals, vals[1:]) if a < mid <= b)
    mean_pr = sum(v for _, v in values(simulate("typical_iv", duration=60), "pr")) / 60
    assert abs(beats - mean_pr) <= 5
    assert max(vals) - min(vals) > 20


def test_typical_iv_baseline_rise_and_timing(sessions):
    sc = SCENARIOS["typical_iv"]
    items = sessions["typical_iv"]
    assert sc.dose_start == 600 and sc.doses[0].end == 3000
    assert sc.dose_mg == pytest.approx(0.5 * sc.weight_kg)
    base = [v for t, v in values(items, "sbp") if t < 600]
    assert 118 <= sum(base) / len(base) <= 138
    base_d = [v for t, v in values(items, "dbp") if t < 600]
    assert 72 <= sum(base_d) / len(base_d) <= 88
    # the underlying drug response: +12..16 / +8..11 near 40 min after dose start, near baseline by 90 min
    assert 12 <= sc.sbp_rise <= 16 and 8 <= sc.dbp_rise <= 11
    assert expected(sc, 600 + 2400)["sbp"] - sc.baseline_sbp == pytest.approx(sc.sbp_rise)
    assert expected(sc, 600 + 90 * 60)["sbp"] - sc.baseline_sbp < 4
    assert expected(sc, 600 + 90 * 60)["dbp"] - sc.baseline_dbp < 3
    # the cuff crosses 160 between 30 and 40 min after dose start, and only then
    high = [t for t, v in values(items, "sbp") if v > 160]
    assert high and all(600 + 30 * 60 <= t <= 600 + 40 * 60 for t in high)
    # a short probe-off near t=300 s with no-value SpO2/PR during it
    offs = conditions(items, "sensor_off")
    assert [(c.t, c.active) for c in offs][:2] == [(300.0, True), (325.0, False)]
    assert set(offs[0].vitals) >= {"spo2", "pr"}
    nv = [i for i in items if isinstance(i, Reading) and i.vital == "spo2" and i.status == NO_VALUE]
    assert [i.t for i in nv] == [float(t) for t in range(300, 325)]
    assert all(i.value is None for i in nv)


def test_hypertensive_surge_reaches_180_110(sessions):
    items = sessions["hypertensive_surge"]
    sbp = values(items, "sbp")
    dbp = values(items, "dbp")
    assert max(v for _, v in sbp) >= 180 and max(v for _, v in dbp) >= 110
    peak_t = max(sbp, key=lambda tv: tv[1])[0]
    assert 600 + 25 * 60 <= peak_t <= 600 + 45 * 60
    assert all(v < 150 for t, v in sbp if t < 600)  # passes the pre-dose gate
    assert SCENARIOS["hypertensive_surge"].screening["known_hypertension"] is True


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_hypertensive_surge_robust_to_seed(seed):
    items = list(simulate("hypertensive_surge", seed=seed, duration=3600))
    assert max(v for _, v in values(items, "sbp")) >= 180
    assert max(v for _, v in values(items, "dbp")) >= 110


def test_desaturation_artefact_early_then_true_desaturation(sessions):
    sc = SCENARIOS["desaturation"]
    items = sessions["desaturation"]
    assert sc.screening["cns_depressant"] is True
    offs = conditions(items, "sensor_off")
    assert offs[0].active and offs[0].t < 600
    end = next(c for c in offs if not c.active)
    assert 30 <= end.t - offs[0].t <= 50
    nv = [i for i in items if isinstance(i, Reading) and i.vital in ("spo2", "pr") and i.status == NO_VALUE]
    assert nv and all(offs[0].t <= i.t < end.t for i in nv)
    spo2 = values(items, "spo2")
    low_t, low = min(spo2, key=lambda tv: tv[1])
    assert 83 <= low <= 87
    assert low_t > sc.dose_start
    # falls over a few minutes (not a step), below 90 for a couple of minutes, then recovers
    below = [t for t, v in spo2 if v < 90]
    assert 60 <= len(below) <= 600 and below[-1] - below[0] < 600
    assert sum(v for t, v in spo2 if t > below[-1] + 300) / len([1 for t, _ in spo2 if t > below[-1] + 300]) > 95
    first_below = below[0]
    assert min(v for t, v in spo2 if first_below - 120 <= t <= first_below - 60) > 90


def test_vasovagal_bradycardia(sessions):
    items = sessions["vasovagal_bradycardia"]
    hr = values(items, "hr")
    low = [t for t, v in hr if v < 50]
    assert low and min(v for _, v in hr) >= 35
    assert 3 * 60 <= len(low) <= 8 * 60  # a few minutes
    assert max(low) < SCENARIOS["vasovagal_bradycardia"].dose_start + 600
    bp_low = [(t, v) for t, v in values(items, "sbp") if v < 95]
    assert bp_low and min(v for _, v in bp_low) >= 70
    assert min(v for _, v in values(items, "dbp")) <= 55
    # recovered afterwards
    assert sum(v for t, v in hr if 1200 <= t < 1500) / 300 > 60


def test_motion_condition_and_noise(sessions):
    items = sessions["typical_iv"]
    mot = conditions(items, "motion")
    assert [c.active for c in mot] == [True, False]
    a, b = mot[0].t, mot[1].t
    pr_in = [v for t, v in values(items, "pr") if a <= t < b]
    hr_in = [v for t, v in values(items, "hr") if a <= t < b]
    assert max(abs(p - h) for p, h in zip(pr_in, hr_in)) > 5


def test_four_hour_session_with_pleth_is_fast():
    t0 = time.perf_counter()
    n = sum(len(i) if isinstance(i, Samples) else 1 for i in simulate("typical_iv", pleth=True, duration=4 * 3600))
    elapsed = time.perf_counter() - t0
    assert n > 1_000_000
    assert elapsed < 10, elapsed


async def drain(source, clock):
    sleeps = 0
    orig = clock.sleep_until

    async def counting(t):
        nonlocal sleeps
        sleeps += 1
        await orig(t)

    clock.sleep_until = counting
    out = []
    async for item in source.stream(clock):
        assert last_time(item) <= clock.now() + 1e-9, "yielded before its time"
        out.append(item)
    return out, sleeps


def test_sim_source_through_fast_clock():
    src = open_source("sim://typical_iv?seed=2&duration=900&speed=10")
    assert src.uri == "sim://typical_iv?seed=2&duration=900&speed=10"
    assert src.metadata["format"] == "kapmon-recording/1" and src.metadata["scenario"] == "typical_iv"
    t0 = 1_700_000_000.0
    got, _ = asyncio.run(drain(src, FastClock(t0)))
    assert got == list(simulate("typical_iv", seed=2, duration=900, start=t0))
    assert src.metadata["started"].startswith("2023-11-14")


def test_sim_source_batches_pleth_sleeps():
    src = open_source("sim://desaturation?pleth=1&duration=120&nibp=60")
    got, sleeps = asyncio.run(drain(src, FastClock(0.0)))
    assert sum(len(i) for i in got if isinstance(i, Samples) and i.vital == "pleth") > 100 * PLETH_HZ
    assert sleeps <= 120 * 20
    assert [i.t for i in got if isinstance(i, Reading) and i.vital == "sbp"] == [0.0, 60.0]


@pytest.mark.parametrize(
    "uri, needle",
    [
        ("sim://nope", "typical_iv"),
        ("sim://typical_iv?seed=x", "seed"),
        ("sim://typical_iv?speed=0", "speed"),
        ("sim://typical_iv?speed=fast", "speed"),
        ("sim://typical_iv?nibp=-5", "nibp"),
        ("sim://typical_iv?pleth=maybe", "pleth"),
        ("sim://typical_iv?bogus=1", "bogus"),
    ],
)
def test_sim_uri_errors(uri, needle):
    with pytest.raises(URIError, match=needle):
        open_source(uri)


def test_series_by_source(sessions):
    by = defaultdict(set)
    for i in sessions["typical_iv"]:
        if isinstance(i, Reading):
            by[i.vital].add(i.source)
    assert by["sbp"] == {"sim-nibp"} and by["spo2"] == {"sim-oximeter"} and by["pr"] == {"sim-oximeter"}
