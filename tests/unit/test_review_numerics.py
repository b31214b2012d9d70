"""The review draws an ended session's numerics from the record it has already read for the summary, not from a
second read of the store: the traces are the same point for point (readings stored out of time order, no-value
and questionable readings included), and where the record cannot stand for the store (a hand-taken BP entered in
error, which the trace still draws; a session still recording) the store is read as before."""

from dataclasses import replace

import numpy as np
import pytest

from devices.reading import Reading
from layouts import review
from monitor.analysis.columns import LazyReadings
from monitor.analysis.summary import load_record, summarise, summary_json
from monitor.session.model import Dose, Session
from monitor.session.store import CORRECTION, MANUAL, Store

T0 = 1_769_000_000.0


def numerics(seconds: int = 900) -> list[Reading]:
    """1 Hz SpO2, pulse and perfusion with a probe-off stretch and a questionable pulse; a cuff BP every 5 min."""
    out = []
    for s in range(seconds):
        off = 300 <= s < 310
        out.append(Reading(T0 + s, "spo2", None if off else 97.0 - (s % 7 == 0), "%", "ox", "no_value" if off else "ok"))
        out.append(Reading(T0 + s, "pr", 70.0 + s % 5, "/min", "ox", "questionable" if s == 400 else "ok"))
        out.append(Reading(T0 + s, "pi", 2.5, "%", "ox"))
        if s % 300 == 0:
            out += [Reading(T0 + s, v, x, "mmHg", "cuff") for v, x in (("sbp", 120.0 + s / 60), ("dbp", 80.0), ("map", 93.0))]
    return out


def recorded(tmp_path, ended: bool = True, retract: bool = False) -> Store:
    store = Store(tmp_path / "k.db")
    store.create_session(Session("s", "P-1", T0, "iv", 70.0, "kap-iv", "clinical", {}))
    store.write("s", numerics())
    store.add_dose("s", Dose(T0 + 60, "iv", "ketamine", 20.0, T0 + 120), who="rn")
    # a hand-taken BP entered after later readings: stored out of time order
    store.write("s", [Reading(T0 + 450, v, x, "mmHg", MANUAL) for v, x in (("sbp", 150.0), ("dbp", 95.0))])
    bp = store.write("s", events=[(T0 + 450, "manual_nibp", {"sbp": 150, "dbp": 95}, "rn")])
    if retract:
        store.write("s", events=[(T0 + 600, CORRECTION, {"corrects": bp.event_id, "reason": "wrong arm"}, "rn")])
    if ended:
        store.write("s", events=[(T0 + 900, "end", {}, "rn")])
    return store


def drawn(series: dict) -> dict[str, tuple[list, list]]:
    return {vital: (s.x.tolist(), np.where(np.isnan(s.y), -1.0, s.y).tolist())
            for vital, s in series.items() if isinstance(s, review.Series)}


def from_store_and_record(store: Store) -> tuple[dict, dict]:
    review._cache.clear()
    by_store = drawn(review.load_series(store, "s", T0))
    review._cache.clear()
    by_record = drawn(review.load_series(store, "s", T0, load_record(store, "s")))
    review._cache.clear()
    return by_store, by_record


def test_an_ended_sessions_traces_from_its_record_are_those_read_from_the_store(tmp_path):
    store = recorded(tmp_path)
    assert review.every_reading(load_record(store, "s")) is not None  # the record is used
    by_store, by_record = from_store_and_record(store)
    assert set(by_store) == {"sbp", "dbp", "map", "pr", "spo2"}
    assert by_record == by_store
    assert 150.0 in by_record["sbp"][1] and -1.0 in by_record["spo2"][1]  # the manual BP and the probe-off gap


@pytest.mark.parametrize("ended, retract", [(True, True), (False, False)], ids=["bp-entered-in-error", "still-recording"])
def test_the_store_is_read_where_the_record_cannot_stand_for_it(tmp_path, ended, retract):
    store = recorded(tmp_path, ended, retract)
    assert review.every_reading(load_record(store, "s")) is None
    by_store, by_record = from_store_and_record(store)
    assert by_record == by_store
    assert 150.0 in by_record["sbp"][1]  # a BP entered in error is struck from the summary, still drawn


@pytest.mark.parametrize("ended, retract", [(True, False), (True, True), (False, False)])
def test_the_summary_from_columns_is_the_summary_from_reading_objects(tmp_path, ended, retract):
    store = recorded(tmp_path, ended, retract)
    record = load_record(store, "s")
    assert isinstance(record.readings, LazyReadings) and record.readings.table is not None
    objects = replace(record, readings=list(record.readings))  # the objects, read when asked for
    assert [r.t for r in objects.readings] == sorted(r.t for r in objects.readings)
    assert (150.0 in [r.value for r in objects.readings if r.vital == "sbp"]) is not retract
    assert summary_json(record, summarise(record)) == summary_json(objects, summarise(objects))
