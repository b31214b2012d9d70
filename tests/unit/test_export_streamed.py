"""The long CSV and the Parquet export, streamed from the store's tables, equal what the former path (one Python
object per reading, ``old_export``) wrote: the CSV and its sidecar byte for byte, the Parquet table and metadata."""

import filecmp

import numpy as np
import old_export
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devices.io.recording import number_text, read_recording, sidecar_path
from devices.reading import Reading
from devices.virtual.simulator import SimSource
from monitor.exports import long_form as long_form_module
from monitor.exports.csv import csv_text, number_cells, quoted
from monitor.exports.long_form import LONG_SCHEMA, long_form
from monitor.exports.writer import export
from monitor.session.model import Dose, Session
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.store import CORRECTION, MANUAL, Store

T0 = 1_800_000_000.0
HOSTILE = 'probe "off", re-seated\nby RN, 2nd try'


def condition(t: float, name: str, active: bool, **extra) -> tuple:
    return (t, "condition", {"condition": name, "active": active, "source": "sim-oximeter"} | extra, None)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """``s1``: a 20-minute simulated session with pleth (no-value and questionable readings, conditions, a dose,
    notes), then a dose and a hand-taken BP marked entered in error, conditions at a reading's time and with
    quotes, commas and a line break, readings stored late (earlier time, later row). ``s2``: a session still
    being recorded whose last row is a condition. ``s3``: a session with no rows at all."""
    store = Store(tmp_path_factory.mktemp("streamed") / "k.db")
    src = SimSource("typical_iv", seed=5, pleth=True, duration=1200)
    session = Session("s1", "SIM-1", T0, "iv", 70.0, "kap-iv", "demo", src.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, src, build_plan("kap-iv", "iv", {}))
    store.add_dose("s1", Dose(T0 + 400, "iv", "ketamine", 5.0, None, "LOT-1"))
    wrong_dose = store.write(
        "s1", events=[(T0 + 410, "dose", {"route": "iv", "drug": "ketamine", "mg": 50.0, "end": None}, "rn")]
    )
    store.write("s1", [Reading(T0 + 500, v, x, "mmHg", MANUAL) for v, x in (("sbp", 150.0), ("dbp", 95.0))])
    bp = store.write("s1", events=[(T0 + 500, "manual_nibp", {"sbp": 150, "dbp": 95}, "rn")])
    store.write(
        "s1",
        events=[(T0 + 600, CORRECTION, {"corrects": e, "reason": "wrong"}, "rn") for e in (wrong_dose.event_id, bp.event_id)],
    )
    at_reading = store.readings("s1", vitals=["hr"], limit=1)[0].t
    store.write("s1", events=[condition(at_reading, "motion", True, detail=HOSTILE, vitals=["spo2", "pr"])])
    store.write(
        "s1", events=[condition(T0 + 100.5, "low_perfusion", False), (T0 + 700, "note", {"text": 'asleep, "calm"'}, "rn")]
    )
    store.write(
        "s1",
        [Reading(T0 + 30.25, "spo2", 97.0, "%", 'late, "probe"'), Reading(T0 + 30.25, "pr", None, "/min", "late", "no_value")],
    )
    store.write("s1", [Reading(T0 + 31.125, "spo2", 86.0, "%", "sim-oximeter", "questionable")])
    store.create_session(Session("s2", "SIM-2", T0, "intranasal", None, "", "demo", {}))
    store.write(
        "s2", [Reading(T0 + t, "hr", 70.0 + t / 7, "/min", "ecg") for t in range(5)], [condition(T0 + 4, "sensor_off", True)]
    )
    store.write(
        "s2", [Reading(T0 + 4, "spo2", 97.0, "%", "ox"), Reading(T0 + 4, "pr", 71.0, "/min", "ox")]
    )  # after it, same time
    store.write("s2", events=[condition(T0 + 9.5, "sensor_off", False)])
    store.create_session(Session("s3", "SIM-3", T0, "iv", 60.0, "", "demo", {}))
    return store


@pytest.fixture(params=["kinds", "text"])
def read_as(request, monkeypatch):
    """Readings read as an index into their distinct kinds, or (a store with too many kinds) text and all."""
    if request.param == "text":
        monkeypatch.setattr(long_form_module, "MAX_KINDS", 0)
    return request.param


@pytest.mark.parametrize("sid", ["s1", "s2", "s3"])
def test_the_long_csv_and_its_sidecar_are_byte_for_byte_the_former_export(stores, tmp_path, sid, read_as):
    new = export(stores, sid, "csv", tmp_path / "new.csv")
    old = old_export.write_csv(stores, sid, tmp_path / "old.csv")
    assert new.read_bytes() == old.read_bytes()
    assert filecmp.cmp(sidecar_path(new), sidecar_path(old), shallow=False)
    if sid == "s1":
        text = new.read_text()
        assert text.startswith("t,vital,value,unit,source,status,vitals,detail\n") and ",no_value," in text
        assert ",questionable," in text and '"probe ""off"", re-seated\nby RN, 2nd try"' in text
        assert len(read_recording(new).items) > 90_000


@pytest.mark.parametrize("sid", ["s1", "s2", "s3"])
def test_the_parquet_table_and_metadata_are_the_former_exports(stores, tmp_path, sid, read_as):
    new = pq.read_table(export(stores, sid, "parquet", tmp_path / "new.parquet"))
    old = pq.read_table(old_export.write_parquet(stores, sid, tmp_path / "old.parquet"))
    assert new.schema.metadata[b"kapmon"] == old.schema.metadata[b"kapmon"]
    assert new.equals(old, check_metadata=True)
    assert sid == "s3" or new.num_rows > 5


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000, 50_000])
def test_batch_boundaries_do_not_move_a_condition(stores, size):
    """Conditions at a batch's last time go after every reading of that time, whichever batch holds them."""
    for sid in ("s1", "s2"):
        rows = long_form(stores, sid)
        if sid == "s1" and size < 1000:
            continue  # 90k rows one at a time is slow; s2 covers the small sizes
        whole = pa.Table.from_batches(list(rows.batches(10**9)), schema=LONG_SCHEMA)
        assert pa.Table.from_batches(list(rows.batches(size)), schema=LONG_SCHEMA).equals(whole)


def test_numbers_are_written_as_the_recording_writer_writes_them():
    rng = np.random.default_rng(7)
    xs = np.concatenate(
        [
            rng.standard_normal(100_000) * 10.0 ** rng.integers(-12, 20, 100_000),
            np.round(rng.standard_normal(10_000) * 1e5),
            [0.0, -0.0, 1e-4, 9.99e-5, 1e13, 1e15, -1e15, 999999999999999.0, 2.0**53, 1 / 75, 5e-324, 1.7976931348623157e308],
        ]
    )
    assert number_cells(pa.array(xs)).to_pylist() == [number_text(float(x)) for x in xs]
    assert number_cells(pa.array([1.5, None])).to_pylist() == ["1.5", None]


def test_text_cells_are_quoted_as_the_csv_module_quotes_them():
    cells = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\ronly", "", " pad ", "ünï"]
    written = [csv_text([["x", c]]).removeprefix("x,").removesuffix("\n") for c in cells]
    assert quoted(pa.array(cells)).to_pylist() == written
    assert written[1:4] == ['"a,b"', '"say ""hi"""', '"two\nlines"']
