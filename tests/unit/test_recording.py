"""The recording / import format: good files in both forms, bad files with line and column,
no-value readings, conditions, the sidecar, write -> read round trips, the sample data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devices.errors import RecordingError
from devices.io.recording import (
    FORMAT,
    parse_rows,
    read_metadata,
    read_recording,
    validate_metadata,
    write_recording,
)
from devices.reading import Condition, Reading, Samples, expand
from devices.virtual.scenarios import SCENARIOS
from devices.virtual.simulator import simulate
from devices.vocabulary import NO_VALUE
from tests.helpers import ROOT

SAMPLE_DATA = ROOT / "sample_data"


def write(tmp_path: Path, text: str, name: str = "rec.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- good files -------------------------------------------------------------------------------


def test_long_form_seconds(tmp_path):
    path = write(
        tmp_path,
        "t,vital,value,unit,source,status\n"
        "0,sbp,127,mmHg,nibp,ok\n"
        "0,dbp,81,mmHg,nibp,\n"
        "0.5,hr,72,bpm,ecg,ok\n"
        "1,spo2,,%,ox,no_value\n"
        "1,pr,-,/min,ox,\n"
        "2,spo2,97,,ox,\n",
    )
    rec = read_recording(path)
    assert rec.metadata == {}
    assert rec.items == [
        Reading(0.0, "sbp", 127.0, "mmHg", "nibp"),
        Reading(0.0, "dbp", 81.0, "mmHg", "nibp"),
        Reading(0.5, "hr", 72.0, "/min", "ecg"),
        Reading(1.0, "spo2", None, "%", "ox", NO_VALUE),
        Reading(1.0, "pr", None, "/min", "ox", NO_VALUE),
        Reading(2.0, "spo2", 97.0, "%", "ox"),
    ]


def test_long_form_minimal_columns_and_conditions(tmp_path):
    path = write(
        tmp_path,
        "# exported by hand\n"
        "T,Vital,Value\n"
        "\n"
        "10,HR,70\n"
        "11,condition:sensor_off,1\n"
        "12,spo2,-\n"
        "13,condition:sensor_off,0\n",
    )
    items = read_recording(path).items
    assert items[0] == Reading(10.0, "hr", 70.0, "/min", "recording")
    assert items[1] == Condition(11.0, "sensor_off", "recording", True)
    assert items[2].status == NO_VALUE and items[2].value is None
    assert items[3] == Condition(13.0, "sensor_off", "recording", False)


def test_wide_form_seconds(tmp_path):
    path = write(tmp_path, "t,hr,spo2,sbp,dbp\n0,72,98,127,81\n1,73,-,,\n2,74,no_value,,\n")
    items = read_recording(path).items
    assert [(i.t, i.vital, i.value, i.status) for i in items] == [
        (0.0, "hr", 72.0, "ok"),
        (0.0, "spo2", 98.0, "ok"),
        (0.0, "sbp", 127.0, "ok"),
        (0.0, "dbp", 81.0, "ok"),
        (1.0, "hr", 73.0, "ok"),
        (1.0, "spo2", None, NO_VALUE),
        (2.0, "hr", 74.0, "ok"),
        (2.0, "spo2", None, NO_VALUE),
    ]


def test_wide_form_iso_rebased_to_first_row(tmp_path):
    path = write(
        tmp_path,
        "t,hr,spo2\n2025-03-03T09:00:00Z,72,98\n2025-03-03T09:00:01.5Z,73,97\n2025-03-03T10:00:01+01:00,74,-\n",
    )
    items = read_recording(path).items
    # the third row is 09:00:01 UTC written with an offset: 0.5 s before the second, within tolerance
    assert [(i.t, i.vital, i.value) for i in items] == [
        (0.0, "hr", 72.0),
        (0.0, "spo2", 98.0),
        (1.0, "hr", 74.0),
        (1.0, "spo2", None),
        (1.5, "hr", 73.0),
        (1.5, "spo2", 97.0),
    ]


def test_long_form_iso_rebased_to_sidecar_started(tmp_path):
    path = write(
        tmp_path,
        "t,vital,value\n2025-03-03T09:05:00Z,hr,72\n2025-03-03T09:05:01,spo2,97\n",
    )
    (tmp_path / "rec.json").write_text(json.dumps({"format": FORMAT, "started": "2025-03-03T09:00:00+00:00"}))
    rec = read_recording(path)
    assert [i.t for i in rec.items] == [300.0, 301.0]
    assert rec.metadata["started"] == "2025-03-03T09:00:00+00:00"


def test_small_backwards_step_is_tolerated_and_sorted(tmp_path):
    path = write(tmp_path, "t,vital,value\n10,hr,70\n11,hr,71\n9.5,sbp,120\n12,hr,72\n")
    items = read_recording(path).items
    assert [i.t for i in items] == [9.5, 10.0, 11.0, 12.0]


def test_items_from_shifts(tmp_path):
    path = write(tmp_path, "t,vital,value\n0,hr,70\n1,condition:motion,1\n")
    rec = read_recording(path)
    shifted = rec.items_from(1000.0)
    assert [i.t for i in shifted] == [1000.0, 1001.0]
    assert [i.t for i in rec.items] == [0.0, 1.0]


# --- bad files --------------------------------------------------------------------------------

BAD = [
    # (csv text, line, column, words in the message)
    ("t,vital,value,colour\n0,hr,70,red\n", 1, 4, "unknown column 'colour'"),
    ("t,hr,glucose\n0,70,5.4\n", 1, 3, "unknown column 'glucose'"),
    ("t,vital,value\n0,hr,70\n1,bp,120\n", 3, 2, "unknown vital 'bp'"),
    ("t,vital,value\n0,hr,seventy\n", 2, 3, "not a number"),
    ("t,hr,spo2\n0,70,98\n1,71,ninety\n", 3, 3, "not a number"),
    ("t,vital,value\n0,spo2,104\n", 2, 3, "outside its physical range"),
    ("t,hr,spo2\n0,-5,98\n", 2, 2, "outside its physical range"),
    ("t,vital,value\n0,hr,nan\n", 2, 3, "not a number"),
    ("t,vital,value,unit\n0,sbp,16,kPa\n", 2, 4, "unit 'kPa' does not match sbp"),
    ("t,vital,value\n0,hr,70\n100,hr,70\n50,hr,70\n", 4, 1, "time goes backwards"),
    ("t,vital,value,status\n0,hr,70,bad\n", 2, 4, "unknown status 'bad'"),
    ("t,vital,value,status\n0,spo2,97,no_value\n", 2, 3, "present with status no_value"),
    ("t,vital,value,status\n0,spo2,-,ok\n", 2, 3, "with status ok"),
    ("t,vital,value,status\n0,hr,,ok\n", 2, 3, "no value (empty) with status ok"),
    ("t,vital,value\n0,hr,70\n1e300,hr,70\n", 3, 1, "beyond 14 days after the session start"),
    ("t,vital,value\n1209601,hr,70\n", 2, 1, "beyond 14 days"),
    ("t,hr\n2025-03-03T09:00:00Z,70\n12025-03-03T09:00:00Z,70\n", 3, 1, "neither seconds nor an ISO-8601"),
    ("t,hr\n0001-01-01T00:00:00Z,70\n9999-03-03T09:00:00Z,70\n", 3, 1, "more than 14 days after the session start"),
    ("t,vital,value\n0,condition:exploded,1\n", 2, 2, "unknown condition 'exploded'"),
    ("t,vital,value\n0,condition:sensor_off,yes\n", 2, 3, "1 (starts) or 0 (ends)"),
    ("t,vital,value\nsoon,hr,70\n", 2, 1, "neither seconds nor an ISO-8601"),
    ("t,vital,value\n-3,hr,70\n", 2, 1, "negative time"),
    ("t,vital,value\n0,hr,70\n2025-03-03T09:00:00Z,hr,70\n", 3, 1, "earlier rows are seconds"),
    ("t,vital,value\n,hr,70\n", 2, 1, "empty time"),
    ("t,vital,value\n0,hr,70,extra\n", 2, 4, "4 cells but the header has 3"),
    ("t,vital,value,t\n0,hr,70,0\n", 1, 4, "appears twice"),
    ("t,vital,value,,\n0,hr,70,,\n", 1, 4, "empty column name"),
    ("t,vital,value\n0,,70\n", 2, 2, "empty vital"),
]


@pytest.mark.parametrize("text, line, col, words", BAD, ids=[b[3] for b in BAD])
def test_bad_file_names_line_and_column(tmp_path, text, line, col, words):
    path = write(tmp_path, text)
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"line {line}, column {col} (" in msg, msg
    assert words in msg, msg


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "line 1: empty recording"),
        ("\n\n# only comments\n", "line 1: empty recording"),
        ("time,vital,value\n0,hr,70\n", "line 1: no 't' column"),
        ("t,vital,value\n", "line 2: no rows after the header"),
        ("t\n0\n", "line 1: wide form needs at least one vital column"),
    ],
)
def test_bad_file_without_a_column(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(RecordingError, match=re.escape(words)):
        read_recording(path)


def test_iso_before_sidecar_start(tmp_path):
    path = write(tmp_path, "t,vital,value\n2025-03-03T08:00:00Z,hr,70\n")
    (tmp_path / "rec.json").write_text(json.dumps({"format": FORMAT, "started": "2025-03-03T09:00:00Z"}))
    with pytest.raises(RecordingError, match=r"line 2, column 1 \(t\): .*before the session start"):
        read_recording(path)


def test_header_errors_name_the_header_line_after_comments(tmp_path):
    path = write(tmp_path, "# comment\n# another\nt,vital,value,colour\n")
    with pytest.raises(RecordingError, match=r"line 3, column 4 \(colour\)"):
        read_recording(path)


def test_parse_rows_is_pure():
    items = parse_rows(["t,hr", "0,70", "1,-"], "inline")
    assert [(i.t, i.value) for i in items] == [(0.0, 70.0), (1.0, None)]
    with pytest.raises(RecordingError, match=r"^inline, line 3, column 2 \(hr\)"):
        parse_rows(["t,hr", "0,70", "1,x"], "inline")


# --- sidecar ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "meta, words",
    [
        ([], "must be a JSON object"),
        ({}, ": format"),
        ({"format": "other/2"}, ": format"),
        ({"format": FORMAT, "colour": "red"}, ": colour: unknown field"),
        ({"format": FORMAT, "started": "yesterday"}, ": started"),
        ({"format": FORMAT, "route": "rectal"}, ": route"),
        ({"format": FORMAT, "patient": {"name": "Jane"}}, ": patient.name"),
        ({"format": FORMAT, "patient": {"age": "old"}}, ": patient.age"),
        ({"format": FORMAT, "screening": {"smoker": True}}, ": screening.smoker"),
        ({"format": FORMAT, "screening": {"psychosis": "maybe"}}, ": screening.psychosis"),
        ({"format": FORMAT, "screening": {"hepatic_impairment": "mild"}}, ": screening.hepatic_impairment"),
        ({"format": FORMAT, "doses": [{"t": 600, "mg": -1}]}, ": doses[0].mg"),
        ({"format": FORMAT, "doses": [{"t": 600, "mg": 35, "end": 100}]}, ": doses[0].end"),
        ({"format": FORMAT, "events": [{"t": 1, "text": "x"}]}, ": events[0].kind"),
        ({"format": FORMAT, "seed": "zero"}, ": seed"),
    ],
)
def test_bad_sidecar(meta, words):
    with pytest.raises(RecordingError, match=re.escape(words)):
        validate_metadata(meta, "x.json")


def test_bad_sidecar_json_names_line(tmp_path):
    write(tmp_path, "t,hr\n0,70\n")
    (tmp_path / "rec.json").write_text('{\n  "format": "kapmon-recording/1",\n  "seed": ,\n}\n')
    with pytest.raises(RecordingError, match=r"rec.json:3: \(syntax\): invalid JSON at column 11"):
        read_recording(tmp_path / "rec.csv")


def test_scenario_metadata_is_a_valid_sidecar():
    for sc in SCENARIOS.values():
        meta = validate_metadata(sc.metadata(seed=3), sc.name)
        assert meta["screening"] == sc.screening
        assert meta["doses"][0]["t"] == sc.dose_start


# --- round trips ------------------------------------------------------------------------------


def test_long_round_trip_keeps_everything(tmp_path):
    items = list(simulate("desaturation", seed=5, duration=900, pleth=True))
    meta = SCENARIOS["desaturation"].metadata(seed=5)
    path = write_recording(tmp_path / "s.csv", items, meta)
    rec = read_recording(path)
    assert rec.items == list(expand(items))  # the file holds a chunk of samples as one row per sample
    assert any(isinstance(i, Samples) for i in items)
    assert rec.metadata == json.loads(json.dumps(meta))
    assert read_metadata(tmp_path / "s.json")["scenario"] == "desaturation"


def test_round_trip_with_start_offset(tmp_path):
    start = 1_700_000_000.0
    items = list(simulate("typical_iv", duration=400, start=start))
    path = write_recording(tmp_path / "s.csv", items, start=start)
    assert not (tmp_path / "s.json").exists()
    rec = read_recording(path)
    assert rec.items_from(start) == items


def test_wide_round_trip_keeps_values_and_no_value(tmp_path):
    items = list(simulate("typical_iv", duration=400))
    path = write_recording(tmp_path / "w.csv", items, form="wide")
    header = path.read_text().splitlines()[0]
    assert header == "t,sbp,dbp,map,hr,pr,spo2,pi"
    got = read_recording(path).items
    want = [i for i in items if isinstance(i, Reading)]
    key = lambda i: (i.t, i.vital)  # noqa: E731
    assert sorted(((i.t, i.vital, i.value, i.status) for i in got), key=lambda x: x[:2]) == sorted(
        ((i.t, i.vital, i.value, i.status) for i in want), key=lambda x: x[:2]
    )
    assert any(i.status == NO_VALUE for i in got)
    assert key(got[0]) == (0.0, "sbp")


def test_no_value_never_becomes_a_number(tmp_path):
    items = list(simulate("desaturation", duration=400))
    for form in ("long", "wide"):
        path = write_recording(tmp_path / f"{form}.csv", items, form=form)
        got = read_recording(path).items
        nv = [i for i in got if isinstance(i, Reading) and i.status == NO_VALUE]
        assert len(nv) == 2 * 40 + 40  # spo2, pr and pi for the 40 s probe-off
        assert all(i.value is None for i in nv)


# --- sample data ------------------------------------------------------------------------------

SAMPLES = sorted(SAMPLE_DATA.glob("*.csv"))


def test_sample_data_present():
    names = {p.stem for p in SAMPLES}
    assert {"typical_iv", "hypertensive_surge", "desaturation", "vasovagal_bradycardia"} <= names
    wide = SAMPLE_DATA / "typical_iv_wide_15min.csv"
    assert wide.read_text().splitlines()[0].startswith("t,sbp,dbp,map,hr")


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_data_loads(path):
    rec = read_recording(path)
    assert rec.items
    ts = [i.t for i in rec.items]
    assert ts == sorted(ts) and ts[0] == 0.0


@pytest.mark.parametrize("name", ["typical_iv", "hypertensive_surge", "desaturation", "vasovagal_bradycardia"])
def test_sample_data_matches_the_simulator(name):
    rec = read_recording(SAMPLE_DATA / f"{name}.csv")
    assert rec.metadata["scenario"] == name
    assert 2 * 3600 <= rec.duration <= 2.5 * 3600
    assert rec.items == list(simulate(name, seed=rec.metadata["seed"]))
    assert any(isinstance(i, Condition) for i in rec.items) or name == "hypertensive_surge"


# --- what exported spreadsheets and hand-made sidecars do ------------------------------------


def test_an_empty_value_in_long_form_is_a_no_value_reading():
    items = parse_rows(["t,vital,value,unit,source,status", "0,spo2,,%,ox,", "1,spo2,,%,ox,no_value", "2,hr,", "3,hr,70"],
                       "sheet.csv")
    assert [(i.vital, i.value, i.status) for i in items] == [
        ("spo2", None, NO_VALUE), ("spo2", None, NO_VALUE), ("hr", None, NO_VALUE), ("hr", 70.0, "ok")]


def test_the_readme_says_what_the_importer_does_with_an_empty_value():
    readme = (SAMPLE_DATA / "README.md").read_text(encoding="utf-8")
    assert "| `value` | yes | the number; empty or `-` for a no-value reading" in readme
    parse_rows(["t,vital,value", "0,hr,"], "readme.csv")  # what the README promises reads


def test_long_form_statuses_come_from_the_reading_vocabulary():
    """Every status of ``devices.reading.STATUSES`` is accepted with its value; only no_value has none."""
    [r] = parse_rows(["t,vital,value,status", "0,pr,277,questionable"], "q.csv")
    assert (r.value, r.status) == (277.0, "questionable")
    with pytest.raises(RecordingError, match=r"column 3 \(value\): no value \('-'\) with status questionable"):
        parse_rows(["t,vital,value,status", "0,pr,-,questionable"], "q.csv")
    with pytest.raises(RecordingError, match=r"unknown status 'bad' \(known: ok, no_value, questionable\)"):
        parse_rows(["t,vital,value,status", "0,pr,70,bad"], "q.csv")


@pytest.mark.parametrize(
    "meta, words",
    [
        ({"format": FORMAT, "doses": [{"t": 600, "mg": 35, "drug": "ketamine"}]}, ": doses[0].route: missing"),
        ({"format": FORMAT, "route": "iv", "doses": [{"t": 600, "mg": 35}]}, ": doses[0].drug"),
        ({"format": FORMAT, "patient": {"weight_kg": 1}}, ": patient.weight_kg: weight 1 kg is not plausible (a number 2-400 kg)"),
        ({"format": FORMAT, "patient": {"weight_kg": True}}, ": patient.weight_kg"),
        ({"format": FORMAT, "patient": {"age": 131}}, ": patient.age: must be an integer 0..130"),
        ({"format": FORMAT, "doses": [{"t": 1e300, "route": "iv", "drug": "k", "mg": 35}]}, ": doses[0].t: must be seconds from 0 to 14 days"),
        ({"format": FORMAT, "doses": [{"t": 0, "route": "iv", "drug": "k", "mg": 35, "end": 1e300}]}, ": doses[0].end"),
        ({"format": FORMAT, "events": [{"t": 2e6, "kind": "note"}]}, ": events[0].t"),
        ({"format": FORMAT, "duration_s": 1e300}, ": duration_s"),
    ],
)
def test_sidecar_fields_kapmon_relies_on_are_required_or_bounded(meta, words):
    with pytest.raises(RecordingError, match=re.escape(words)):
        validate_metadata(meta, "x.json")


def test_sidecar_dose_route_and_drug_default_to_the_sidecars_own():
    meta = validate_metadata({"format": FORMAT, "route": "im", "drug": "ketamine", "doses": [{"t": 60, "mg": 50}],
                              "events": [{"t": 1, "kind": "note"}]}, "x.json")
    assert meta["doses"] == [{"t": 60, "route": "im", "drug": "ketamine", "mg": 50, "end": None}]
    assert meta["events"] == [{"t": 1, "kind": "note", "text": ""}]


def test_the_sidecar_weight_bound_is_the_session_bound():
    from monitor.session.model import Session

    for weight in (1.9, 2, 400, 400.5):
        try:
            Session("s", "P", 0.0, "iv", weight)
            session_ok = True
        except ValueError:
            session_ok = False
        try:
            validate_metadata({"format": FORMAT, "patient": {"weight_kg": weight}})
            sidecar_ok = True
        except RecordingError:
            sidecar_ok = False
        assert session_ok == sidecar_ok, weight


def test_a_sidecar_that_validates_replays_without_a_traceback(tmp_path):
    """Before: a dose without a route passed validation, then KeyError'd when the replay scheduled it."""
    from devices.virtual.replay import ReplaySource
    from monitor.session.model import Session
    from monitor.session.start import build_plan, record_at_full_speed
    from monitor.session.store import Store

    path = write(tmp_path, "t,vital,value\n0,hr,70\n5,hr,\n10,hr,72\n")
    (tmp_path / "rec.json").write_text(json.dumps({"format": FORMAT, "route": "iv", "drug": "ketamine",
                                                   "doses": [{"t": 2, "mg": 30}]}))
    store = Store(tmp_path / "k.db")
    session = Session("s1", "P-1", 1000.0, "iv", 70.0)
    store.create_session(session)
    record_at_full_speed(store, session, ReplaySource(read_recording(path)), build_plan("kap-iv", "iv", {}))
    assert [(d.route, d.drug, d.mg) for d in store.doses("s1")] == [("iv", "ketamine", 30)]


def test_a_sidecar_screening_answer_in_words_is_read_never_dropped(tmp_path):
    meta = validate_metadata({"format": FORMAT, "screening": {"psychosis": "yes", "pregnancy": "No", "age": "61"}}, "x.json")
    assert meta["screening"] == {"psychosis": True, "pregnancy": False, "age": 61}
    with pytest.raises(RecordingError, match=r"x.json: screening.age: 'sixty' is not a number \(expected a number 0-130 years\)"):
        validate_metadata({"format": FORMAT, "screening": {"age": "sixty"}}, "x.json")
    with pytest.raises(RecordingError, match=r"unknown screening key 'psychossis' \(did you mean 'psychosis'\?\)"):
        validate_metadata({"format": FORMAT, "screening": {"psychossis": True}}, "x.json")
