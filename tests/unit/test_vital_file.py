"""VitalDB .vital files: a file the vitaldb package writes imports with its values and times; a kapmon export
reads back in vitaldb with the same values and times and imports with the same alarms; hostile files give one
clear error and leave the store as it was."""

import gzip
import json
import math
import sys

import numpy as np
import pytest

vitaldb = pytest.importorskip("vitaldb")

from devices.errors import RecordingError  # noqa: E402
from devices.reading import Condition, Reading  # noqa: E402
from devices.virtual.perturb import OverlaySource, Perturbation  # noqa: E402
from devices.virtual.simulator import SimSource  # noqa: E402
from devices.io import vital_file  # noqa: E402
from devices.io.vital_file import read_vital  # noqa: E402
from monitor.cli.main import main  # noqa: E402
from monitor.exports.contents import session_items  # noqa: E402
from monitor.exports.writer import export  # noqa: E402
from monitor.session.start import build_plan, record_at_full_speed  # noqa: E402
from monitor.session.model import Session  # noqa: E402
from monitor.rules.session_rules import alarm_events, judge_recording  # noqa: E402
from monitor.session.store import Store  # noqa: E402
from monitor.analysis.summary import load_record, summarise  # noqa: E402

T0 = 1_800_000_000.0


def vitaldb_file(path, tracks: dict, start: float = T0, end: float = T0 + 900):
    """A .vital file written by the vitaldb package itself: ``tracks`` maps names to (records, srate, unit)."""
    vf = vitaldb.VitalFile()
    vf.dtstart, vf.dtend = start, end
    for name, (recs, srate, unit) in tracks.items():
        vf.add_track(name, recs, srate=srate, unit=unit)
    assert vf.to_vital(str(path))
    return path


def monitor_file(path):
    """What a Solar8000 and a SNUADC pleth give over 15 minutes, with the quirks of real files."""
    hr = [{"dt": T0 + s, "val": 70.0 + s % 5} for s in range(0, 900, 2)]
    hr[10]["val"] = float("nan")  # the monitor had no value
    spo2 = [{"dt": T0 + s, "val": 84.0 if 400 <= s < 430 else 97.3 if s % 4 else 98.0} for s in range(0, 900, 2)]
    spo2[3]["val"] = 150.0  # impossible: never a number
    nibp = {"NIBP_SBP": (128.0, 131.0, 142.0), "NIBP_DBP": (81.0, 84.0, 88.0), "NIBP_MBP": (97.0, 100.0, 106.0)}
    pleth = np.sin(np.arange(0, 500 * 20) / 40.0).astype(np.float32) * 40 + 50
    tracks = {f"Solar8000/{name}": ([{"dt": T0 + t, "val": v} for t, v in zip((60, 360, 660), values)], 0, "mmHg")
              for name, values in nibp.items()}
    tracks |= {
        "Solar8000/HR": (hr, 0, "/min"),
        "Solar8000/PLETH_SPO2": (spo2, 0, "%"),
        "Solar8000/PLETH_HR": ([{"dt": T0 + s, "val": 71.0} for s in range(0, 900, 2)], 0, "/min"),
        "Solar8000/RR": ([{"dt": T0 + 30, "val": 14.0}], 0, "/min"),
        "Solar8000/RR_CO2": ([{"dt": T0 + 30, "val": 13.0}], 0, "/min"),
        "Solar8000/ETCO2": ([{"dt": T0 + 30, "val": 4.8}], 0, "kPa"),
        "BIS/BIS": ([{"dt": T0 + 30, "val": 45.0}], 0, ""),
        "SNUADC/PLETH": ([{"dt": T0 + 100, "val": pleth}], 500, ""),
        "EVENT": ([{"dt": T0 + 5, "val": "Case started"}], 0, ""),
    }
    return vitaldb_file(path, tracks)


def test_a_file_vitaldb_wrote_imports_with_its_values_and_times(tmp_path):
    found = read_vital(monitor_file(tmp_path / "case.vital"))
    items = found.recording.items
    got = {(r.vital, r.source, r.t): r for r in items}
    assert got[("sbp", "Solar8000", 60.0)].value == 128.0 and got[("dbp", "Solar8000", 360.0)].value == 84.0
    assert got[("map", "Solar8000", 660.0)].value == 106.0
    assert got[("hr", "Solar8000", 4.0)].value == 74.0
    assert got[("hr", "Solar8000", 20.0)].value is None and got[("hr", "Solar8000", 20.0)].status == "no_value"
    assert got[("spo2", "Solar8000", 2.0)].value == 97.3  # a float32 97.3 reads as 97.3, not 97.30000305
    assert got[("spo2", "Solar8000", 6.0)].value is None  # 150 % is impossible: no value, never a number
    assert got[("pr", "Solar8000", 0.0)].value == 71.0 and got[("rr", "Solar8000", 30.0)].value == 14.0
    pleth = [r for r in items if r.vital == "pleth"]
    assert len(pleth) == 500 * 20 and pleth[0].t == 100.0 and math.isclose(pleth[-1].t, 100 + 9999 / 500)
    assert pleth[7].value == float(str(np.float32(np.sin(7 / 40.0) * 40 + 50)))
    assert [t for t, _ in zip(items, items[1:]) if t.t > _.t] == []  # in time order
    assert found.recording.metadata["started"].startswith("2027-01-15T08:00:00")
    assert found.recording.metadata["duration_s"] == 900.0
    assert found.recording.metadata["events"] == [{"t": 5.0, "kind": "note", "text": "Case started"}]
    skipped = "\n".join(found.skipped)
    assert "BIS/BIS: not a track kapmon knows" in skipped
    assert "Solar8000/RR_CO2: Solar8000/RR already gives rr" in skipped
    assert "Solar8000/ETCO2: unit 'kPa'" in skipped
    assert any("Solar8000/PLETH_SPO2: 1 value(s) outside 0-100 %" in n for n in found.notes)


def test_import_goes_through_the_same_rules_as_every_recording(tmp_path, capsys):
    path = monitor_file(tmp_path / "case.vital")
    db = tmp_path / "k.db"
    assert main(["import", str(path), "--db", str(db), "--route", "intranasal", "--patient", "VDB-1"]) == 0
    out, err = capsys.readouterr()
    assert "skipped track BIS/BIS" in err and "outside 0-100 %" in err
    store = Store(db)
    (session,) = store.sessions()
    assert session.patient == "VDB-1" and session.route == "intranasal" and session.protocol == "esketamine-intranasal"
    stored = {(r.vital, round(r.t - session.started, 6)): r.value for r in store.readings(session.id) if r.vital != "pleth"}
    assert stored[("sbp", 360.0)] == 131.0 and stored[("hr", 20.0)] is None
    assert store.count_readings(session.id) == len(read_vital(path).recording.items)
    judged = alarm_events(judge_recording(build_plan(None, "intranasal", {}), read_vital(path).recording))
    recorded = [a for _, a in store.alarm_events(session.id)]
    assert [(round(a.t, 3), a.event, a.alarm_id) for a in judged] == \
           [(round(a.t - session.started, 3), a.event, a.alarm_id) for a in recorded]
    assert {a.alarm_id for a in judged} >= {"spo2_critical"}  # the file's SpO2 of 84 % raised its alarm


@pytest.fixture(scope="module")
def esketamine(tmp_path_factory):
    """A simulated esketamine session with 75 Hz pleth and a desaturation, recorded through the hub."""
    store = Store(tmp_path_factory.mktemp("vital") / "k.db")
    src = OverlaySource(SimSource("esketamine_intranasal", seed=2, pleth=True, duration=1800),
                        [Perturbation("desaturation", 1300.0, 150.0, 82.0)])
    session = Session("s1", "SIM-ESK-01", T0, "intranasal", 75.0, "esketamine-intranasal", "demo", src.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, src, build_plan(None, "intranasal", src.metadata["screening"]))
    return store


def test_a_kapmon_export_reads_back_in_vitaldb_with_the_same_values_and_times(esketamine, tmp_path):
    out = export(esketamine, "s1", "vital", tmp_path / "s.vital")
    vf = vitaldb.VitalFile(str(out))
    original = [i for i in session_items(esketamine, "s1") if isinstance(i, Reading)]
    for vital, track in vital_file.EXPORT_NAMES.items():
        mine = [(r.t, r.value) for r in original if r.vital == vital]
        trk = vf.trks.get(f"sim-oximeter/{track}") or vf.trks.get(f"sim-nibp/{track}") or vf.trks.get(f"sim-ecg/{track}")
        if not mine:
            assert trk is None
            continue
        if vital == "pleth":
            assert trk.srate == 75
            back = [(rec["dt"] + k / trk.srate, v) for rec in trk.recs for k, v in enumerate(rec["val"].tolist())
                    if not math.isnan(v)]
            assert len(back) == len(mine) > 100_000
            assert all(abs(a[0] - b[0]) < 1e-5 and float(np.float32(a[1])) == b[1] for a, b in zip(mine, back))
        else:
            back = [(rec["dt"], None if math.isnan(rec["val"]) else rec["val"]) for rec in trk.recs]
            assert back == mine, vital
    samples = vf.to_numpy(["PLETH_SPO2", "NIBP_SBP"], 1)
    assert samples.shape[0] == 1800 and np.nanmax(samples[:, 1]) > 100


def test_an_exported_file_imports_with_the_same_readings_and_alarms(esketamine, tmp_path, capsys):
    out = export(esketamine, "s1", "vital", tmp_path / "s.vital")
    back = read_vital(out)
    assert back.skipped == []
    original = session_items(esketamine, "s1")
    assert len(back.recording.items) == len(original)
    for a, b in zip(sorted(original, key=key), sorted(back.recording.items, key=key)):
        assert type(a) is type(b) and abs(a.t - T0 - b.t) < 1e-5
        if isinstance(a, Reading):
            assert (a.vital, a.source, a.status) == (b.vital, b.source, b.status)
            assert a.value == b.value or float(np.float32(a.value)) == b.value
        else:
            assert (a.condition, a.active, a.vitals, a.detail) == (b.condition, b.active, b.vitals, b.detail)
    meta = back.recording.metadata
    assert meta["route"] == "intranasal" and meta["patient"]["pseudonym"] == "SIM-ESK-01"
    assert [d["mg"] for d in meta["doses"]] == [28.0, 28.0, 28.0]
    db, screening = tmp_path / "again.db", tmp_path / "screening.json"
    screening.write_text(json.dumps(esketamine.session("s1").metadata["screening"]))  # CSV and .vital sidecars omit it
    assert main(["import", str(out), "--db", str(db), "--screening", str(screening)]) == 0
    again = Store(db)
    (session,) = again.sessions()
    assert session.started == T0
    before = [(round(a.t - T0, 3), a.event, a.alarm_id) for _, a in esketamine.alarm_events("s1")]
    after = [(round(a.t - T0, 3), a.event, a.alarm_id) for _, a in again.alarm_events(session.id)]
    assert after == before and {"spo2_low", "spo2_critical"} <= {a for _, _, a in before}
    dosing = [[(round(e.t - s.started, 3), e.data["state"]) for e in st.events(s.id, kind="dosing")]
              for st, s in ((esketamine, esketamine.session("s1")), (again, session))]
    assert dosing[0] == dosing[1]  # the rules' decisions are decided again, not replayed as text events
    summaries = [summarise(load_record(st, sid)) for st, sid in ((esketamine, "s1"), (again, session.id))]
    assert summaries[0].baseline == summaries[1].baseline and summaries[0].baseline["sbp"] > 0
    assert summaries[0].rems.checkpoint == summaries[1].rems.checkpoint


def key(i):
    return (round(i.t, 3), type(i).__name__, getattr(i, "vital", ""), i.source)


# --------------------------------------------------------------------------------------------- hostile files


def hr_file(path, values=(72.0, 73.0), times=(0.0, 1.0), start=T0, end=T0 + 60):
    recs = [{"dt": start + t, "val": v} for t, v in zip(times, values)]
    return vitaldb_file(path, {"Solar8000/HR": (recs, 0, "/min")}, start, end)


def refused(tmp_path, path, capsys, *more: str) -> str:
    """Import ``path`` into a store that already holds a session: one line of error, nothing lost or added."""
    db = tmp_path / "k.db"
    if not db.exists():
        assert main(["import", str(hr_file(tmp_path / "ok.vital")), "--db", str(db), "--route", "iv"]) == 0
    before = [(s.id, Store(db).count_readings(s.id)) for s in Store(db).sessions()]
    capsys.readouterr()
    assert main(["import", str(path), "--db", str(db), "--route", "iv", *more]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kapmon import: ") and len(err.splitlines()) == 1, err
    assert [(s.id, Store(db).count_readings(s.id)) for s in Store(db).sessions()] == before
    return err


def test_a_truncated_file_is_one_error(tmp_path, capsys):
    whole = monitor_file(tmp_path / "whole.vital").read_bytes()
    for cut in (len(whole) // 2, len(whole) - 9, 30):
        (tmp_path / "cut.vital").write_bytes(whole[:cut])
        assert "truncated" in refused(tmp_path, tmp_path / "cut.vital", capsys)


def test_a_packet_longer_than_the_file_is_one_error(tmp_path, capsys):
    raw = gzip.decompress(hr_file(tmp_path / "a.vital").read_bytes())
    (tmp_path / "short.vital").write_bytes(gzip.compress(raw[:-3]))
    assert "truncated: the packet at byte" in refused(tmp_path, tmp_path / "short.vital", capsys)


def test_corrupt_and_foreign_files_are_one_error(tmp_path, capsys):
    whole = bytearray(monitor_file(tmp_path / "whole.vital").read_bytes())
    whole[len(whole) // 2] ^= 0xFF
    (tmp_path / "flip.vital").write_bytes(bytes(whole))
    assert "not a readable .vital file" in refused(tmp_path, tmp_path / "flip.vital", capsys)
    (tmp_path / "text.vital").write_text("t,hr\n0,72\n")
    assert "not a readable .vital file" in refused(tmp_path, tmp_path / "text.vital", capsys)
    (tmp_path / "gz.vital").write_bytes(gzip.compress(b"NOPE" + bytes(100)))
    assert "VITA signature" in refused(tmp_path, tmp_path / "gz.vital", capsys)
    (tmp_path / "empty.vital").write_bytes(b"")
    assert "VITA signature" in refused(tmp_path, tmp_path / "empty.vital", capsys)


def test_a_file_with_no_known_track_is_one_error(tmp_path, capsys):
    path = vitaldb_file(tmp_path / "bis.vital", {"BIS/BIS": ([{"dt": T0, "val": 45.0}], 0, ""),
                                                 "Solar8000/HR": ([{"dt": T0, "val": np.ones(3, np.float32)}], 300, "")})
    err = refused(tmp_path, path, capsys)
    assert "no track kapmon knows (it has BIS/BIS, Solar8000/HR;" in err


def test_tracks_of_nothing_but_nan_are_one_error(tmp_path, capsys):
    path = hr_file(tmp_path / "nan.vital", values=(float("nan"), float("inf")))
    assert "no values: every record of Solar8000/HR is NaN, infinite or impossible" in refused(tmp_path, path, capsys)


def test_huge_time_spans_are_one_error(tmp_path, capsys):
    path = hr_file(tmp_path / "span.vital", times=(0.0, 40 * 86400.0))
    err = refused(tmp_path, path, capsys)
    assert "40.0 days from the file's start 2027-01-15T08:00:00.000Z: a recording spans at most 14 days" in err
    path = hr_file(tmp_path / "far.vital", times=(0.0, 1e300))
    assert "a recording spans at most 14 days" in refused(tmp_path, path, capsys)
    path = hr_file(tmp_path / "nant.vital", times=(0.0, float("nan")))
    assert "not a time" in refused(tmp_path, path, capsys)


def test_a_compressed_bomb_is_refused_before_it_is_unpacked(tmp_path, capsys, monkeypatch):
    path = monitor_file(tmp_path / "big.vital")
    monkeypatch.setattr(vital_file, "MAX_UNPACKED", 50_000)
    assert "unpacks to more than" in refused(tmp_path, path, capsys)


def test_too_many_samples_say_how_to_leave_the_waveform_out(tmp_path, capsys, monkeypatch):
    path = monitor_file(tmp_path / "wave.vital")
    monkeypatch.setattr(vital_file, "MAX_READINGS", 5000)
    assert "kapmon import --no-waveform" in refused(tmp_path, path, capsys)
    found = read_vital(path, waveforms=False)
    assert not any(r.vital == "pleth" for r in found.recording.items)
    assert "SNUADC/PLETH: waveform left out as asked" in found.skipped


def test_without_vitaldb_import_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    path = hr_file(tmp_path / "a.vital")
    assert main(["import", str(path), "--db", str(tmp_path / "k.db"), "--route", "iv"]) == 0
    monkeypatch.setitem(sys.modules, "vitaldb", None)
    err = refused(tmp_path, path, capsys)
    assert err == f"kapmon import: {vital_file.MISSING}" and "pip install 'kapmon[vital]'" in err
    with pytest.raises(RecordingError, match="pip install"):
        vital_file.write_vital(tmp_path / "b.vital", [], {}, T0, T0)


def test_an_export_without_vitaldb_says_how_to_install_it(esketamine, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "vitaldb", None)
    db = esketamine.path
    assert main(["export", "s1", "--db", str(db), "--format", "vital", "--out", str(tmp_path / "x.vital")]) == 2
    assert capsys.readouterr().err.strip() == f"kapmon export: {vital_file.MISSING}"
    assert not (tmp_path / "x.vital").exists()


def test_a_header_start_before_the_first_record_is_time_zero(tmp_path):
    path = hr_file(tmp_path / "late.vital", times=(300.0, 301.0), start=T0, end=T0 + 600)
    items = read_vital(path).recording.items
    assert [r.t for r in items] == [300.0, 301.0]
    path = hr_file(tmp_path / "nohead.vital", times=(300.0, 301.0), start=0.0, end=0.0)
    found = read_vital(path)
    assert [r.t for r in found.recording.items] == [0.0, 1.0] and "duration_s" not in found.recording.metadata


def test_conditions_and_questionable_readings_survive_the_round_trip(tmp_path):
    items = [Reading(T0 + 1, "spo2", 97.0, "%", "ox"), Reading(T0 + 2, "spo2", 99.0, "%", "ox", "questionable"),
             Condition(T0 + 3, "sensor_off", "ox", True, ("spo2", "pr"), "slipped"),
             Reading(T0 + 3, "spo2", None, "%", "ox", "no_value"), Condition(T0 + 9, "sensor_off", "ox", False)]
    meta = {"format": "kapmon-recording/1", "route": "iv", "duration_s": 10.0,
            "doses": [{"t": 1.0, "route": "iv", "drug": "ketamine", "mg": 20.0, "end": None}], "events": []}
    path = vital_file.write_vital(tmp_path / "c.vital", items, meta, T0, T0 + 10)
    back = read_vital(path).recording.items
    assert [(i.t, i.source) for i in back] == [(1.0, "ox"), (2.0, "ox"), (3.0, "ox"), (3.0, "ox"), (9.0, "ox")]
    assert back[1].status == "questionable" and back[1].value == 99.0
    assert {type(i) for i in back[2:4]} == {Reading, Condition}
    cond = next(i for i in back[2:4] if isinstance(i, Condition))
    assert (cond.condition, cond.active, cond.vitals, cond.detail) == ("sensor_off", True, ("spo2", "pr"), "slipped")
    assert vitaldb.VitalFile(str(path)).trks["EVENT"].recs[0]["val"] == "ketamine 20 mg iv"
