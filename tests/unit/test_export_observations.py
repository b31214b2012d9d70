"""Charted observations through every export: a session with MOAA/S, dissociation, ... (one entered in error) exported
as CSV (long and wide), Parquet and VitalDB, read back and imported, gives the same observations, summary figures,
REMS answers and alarm transitions; FHIR has one Observation per charting."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from devices.io.recording import Recording, read_recording
from devices.io.vital_file import read_vital
from devices.patient import WHO_MAX
from devices.reading import Reading
from devices.vocabulary import SCALES
from layouts.review import CHARTED_COLOUR, LANES, events_table, load_series, review_figure
from monitor.analysis.record_view import entry_row, reference
from monitor.analysis.summary import load_record, summarise
from monitor.analysis.timeref import TimeRef
from monitor.cli.main import main
from monitor.exports.contents import sidecar
from monitor.exports.fhir import fhir_bundle
from monitor.exports.parquet import read_parquet
from monitor.exports.writer import export
from monitor.session.model import Observation, Session
from monitor.session.start import build_plan, import_recording
from monitor.session.store import CORRECTION, Store, StoredEvent
from tests.clinical.cases import CASES
from tests.clinical.recordings import _cli, _from_store, build, by_alarms_command

CASE = next(c for c in CASES if c.id == "im-sedation-deepening-at-30-min")
WRONG_T = 47 * 60  # minutes from start of the observation entered in error


@pytest.fixture(scope="module")
def charted(tmp_path_factory):
    """The sedation case imported into a store, plus an observation charted in error (MOAA/S 0) and its correction."""
    folder = tmp_path_factory.mktemp("obs")
    csv = build(CASE, folder)
    db = folder / "k.db"
    session_id = _cli("import", str(csv), "--db", str(db), "--protocol", CASE.protocol).splitlines()[-1]
    store = Store(db)

    start = store.session(session_id).started
    wrong = (start + WRONG_T, "observation", {"scale": "moaas", "level": 0}, "RN Hurry")
    store.write(session_id, events=[wrong])
    wrong_id = max(e.id for e in store.events(session_id, kind="observation"))
    correction = {"corrects": wrong_id, "kind": "observation", "reason": "wrong bed"}
    store.write(session_id, events=[(start + WRONG_T + 30, CORRECTION, correction, "RN Hurry")])
    return store, session_id


def relative(store, session_id):
    start = store.session(session_id).started
    return [(round(o.t - start, 3), o.scale, o.level, o.who) for o in store.observations(session_id)]


def figures(store, session_id):
    """What the summary and the REMS-style answers say of the observations."""
    s = summarise(load_record(store, session_id))
    start = store.session(session_id).started
    rows = [(c.scale, c.count, c.worst, round(c.worst_t - start, 3), c.last, round(c.affected_s, 3)) for c in s.observations]
    return rows, s.rems.sedated, s.rems.dissociated


def alarm_transitions(store, session_id):
    return _from_store(store, session_id).transitions


def test_the_sidecar_carries_the_charted_observations_not_the_one_entered_in_error(charted):
    store, session_id = charted
    meta = sidecar(load_record(store, session_id))
    got = [(o["t"], o["scale"], o["level"], o.get("who")) for o in meta["observations"]]
    assert got == [(float(m * 60), scale, level, "RN Test") for m, scale, level in sorted(CASE.observations, key=lambda o: o[0])]
    assert all(o["t"] != WRONG_T for o in meta["observations"])
    assert not [e for e in meta["events"] if e["kind"] == "observation"]  # not also as empty notes


@pytest.mark.parametrize("form", ["long", "wide"])
def test_csv_round_trip_keeps_observations_summary_and_alarms(charted, tmp_path, form):
    store, session_id = charted
    out = export(store, session_id, "csv", tmp_path / f"{form}.csv", form=form)
    assert read_recording(out).metadata["observations"]
    again = _cli("import", str(out), "--db", str(tmp_path / "again.db"), "--protocol", CASE.protocol).splitlines()[-1]
    back = Store(tmp_path / "again.db")
    assert relative(back, again) == relative(store, session_id)
    assert figures(back, again) == figures(store, session_id)
    rows, sedated, dissociated = figures(back, again)
    assert (sedated, dissociated) == (True, True) and ("moaas", 5, 2, 40 * 60.0, 5, 45 * 60.0) in rows
    assert alarm_transitions(back, again) == alarm_transitions(store, session_id)
    assert by_alarms_command(out, CASE).transitions == alarm_transitions(store, session_id)
    assert any(a == "moaas_deep" for _t, _e, a, _p, _k in alarm_transitions(store, session_id))


def test_parquet_round_trip_keeps_observations_and_alarms(charted, tmp_path):
    store, session_id = charted
    items, meta = read_parquet(export(store, session_id, "parquet", tmp_path / "s.parquet"))
    plan = build_plan(CASE.protocol, meta["route"], meta["screening"])
    back = Store(tmp_path / "p.db")
    session = import_recording(back, Recording(None, meta, items), plan, patient="P", started=1.8e9, who="test")
    assert relative(back, session.id) == relative(store, session_id)
    assert figures(back, session.id) == figures(store, session_id)
    assert alarm_transitions(back, session.id) == alarm_transitions(store, session_id)


def test_a_long_name_of_who_charted_never_stops_an_export(tmp_path):
    """The central station adds " (central station)" to a name: a who longer than a sidecar holds is shortened."""
    store = Store(tmp_path / "w.db")
    store.create_session(Session("w1", "P-W", 1.8e9, "im", 70.0, "kap-im"))
    long_who = "Registered Nurse Maximiliana Alexandrovna Featherstonehaugh-Smythe (central station)"
    store.write(
        "w1",
        [Reading(1.8e9 + 10, "spo2", 97.0, "%", "ox")],
        [(1.8e9 + 60, "observation", {"scale": "nausea", "level": 1}, long_who)],
    )
    (only,) = read_recording(export(store, "w1", "csv", tmp_path / "w.csv")).metadata["observations"]
    assert only["who"].startswith("Registered Nurse Maximiliana") and only["who"].endswith("\u2026")
    assert len(only["who"]) == WHO_MAX


def test_vital_file_carries_the_observations(charted, tmp_path):
    pytest.importorskip("vitaldb")
    store, session_id = charted
    found = read_vital(export(store, session_id, "vital", tmp_path / "s.vital"), True)
    meta = found.recording.metadata
    assert [(o["t"], o["scale"], o["level"]) for o in meta["observations"]] == [
        (t, scale, level) for t, scale, level, _who in relative(store, session_id)
    ]
    assert set(o["scale"] for o in meta["observations"]) <= set(SCALES)
    assert json.dumps(meta)  # stays JSON
    vf = pytest.importorskip("vitaldb").VitalFile(str(tmp_path / "s.vital"))
    words = [r["val"] for r in vf.trks["EVENT"].recs]
    assert "MOAA/S 2 (responds only to mild prodding or shaking) by RN Test" in words
    assert not any(w.startswith("MOAA/S 0") for w in words)  # the one entered in error


def charted_in(bundle):
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation" and e["resource"]["category"][0]["coding"][0]["code"] == "survey"
    ]


def test_fhir_has_one_survey_observation_per_charting(charted, tmp_path):
    store, session_id = charted
    bundle = json.loads(export(store, session_id, "fhir", tmp_path / "b.json").read_text())
    found = charted_in(bundle)
    assert len(found) == len(CASE.observations)  # the one entered in error is left out
    (deepest,) = [o for o in found if o["code"]["text"] == "Sedation (MOAA/S)" and o["valueInteger"] == 2]
    assert "coding" not in deepest["code"]  # no sourced code: text only
    assert deepest["performer"] == [{"display": "RN Test"}]
    assert deepest["note"] == [{"text": "MOAA/S 2 (responds only to mild prodding or shaking)"}]
    assert deepest["effectiveDateTime"] == "2025-06-02T09:40:00.000Z"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))


def test_fhir_ids_of_chartings_stay_when_another_is_entered_in_error(charted):
    store, session_id = charted
    record = load_record(store, session_id)
    t = record.observations[0].t
    twice = replace(record, observations=[Observation(t, "moaas", 5, "A"), Observation(t, "moaas", 4, "B")])
    assert len({o["id"] for o in charted_in(fhir_bundle(twice))}) == 2  # same time and scale, two ids
    ids = [o["id"] for o in charted_in(fhir_bundle(record))]
    fewer = replace(record, observations=record.observations[1:])
    assert [o["id"] for o in charted_in(fhir_bundle(fewer))] == ids[1:]


def test_fhir_uses_a_scale_code_when_the_vocabulary_gives_one(charted, monkeypatch):
    store, session_id = charted
    monkeypatch.setitem(SCALES, "moaas", replace(SCALES["moaas"], code=("http://example.org/scales", "X-1", "Example")))
    (first,) = [
        o
        for o in charted_in(fhir_bundle(load_record(store, session_id)))
        if o["code"]["text"] == "Sedation (MOAA/S)" and o["valueInteger"] == 2
    ]
    assert first["code"]["coding"] == [{"system": "http://example.org/scales", "code": "X-1", "display": "Example"}]


# ------------------------------------------------------------------------------------ the REMS form


def esketamine_case(folder, observations=CASE.observations, notes=()):
    """The sedation case given as intranasal esketamine 56 mg (the REMS form is for esketamine), imported; returns the
    store and session id."""
    case = replace(CASE, id="esk-sedation", protocol="esketamine-intranasal", observations=tuple(observations))
    csv = build(case, folder)
    side = csv.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta["doses"] = [dict(d, drug="esketamine", mg=56.0) for d in meta["doses"]]
    meta["events"] = [{"t": t, "kind": "note", "text": text} for t, text in notes]
    side.write_text(json.dumps(meta))
    db = folder / "k.db"
    return Store(db), _cli("import", str(csv), "--db", str(db), "--protocol", case.protocol).splitlines()[-1]


def rems_fields(store, session_id, out):
    _cli("export", session_id, "--db", str(store.path), "--format", "rems", "--out", str(out))
    return {f["label"]: f for f in json.loads(out.read_text())["fields"]}


def test_rems_answers_sedation_and_dissociation_from_the_charting(tmp_path):
    store, session_id = esketamine_case(tmp_path, notes=((50 * 60, "no sedation, chatting"),))
    fields = rems_fields(store, session_id, tmp_path / "form.json")
    sedation, dissociation = fields["Sedation"], fields["Dissociation"]
    assert (sedation["answer"], dissociation["answer"]) == ("Yes", "Yes")  # the charting wins over the note
    assert sedation["basis"].startswith("from the charted MOAA/S: deepest MOAA/S 2 (responds only to mild prodding")
    assert "at T+30 min" in sedation["basis"] and "affected for 45 min" in sedation["basis"]
    assert dissociation["basis"].startswith("from the charted Dissociation: worst Dissociation 2 (moderate")
    ready = fields["Ready to leave without the 2-hour minimum (min from start of administration)"]
    assert "MOAA/S 5 (responds readily to the name in a normal tone) at T+1 h 00 min" in ready["basis"]
    assert "from T+45 min" in ready["basis"] and ready["answer"] == "60"  # vitals fine at 45, charted unaffected at 60
    md = tmp_path / "form.md"
    _cli("export", session_id, "--db", str(store.path), "--format", "rems", "--out", str(md))
    assert "| Sedation | Yes | from the charted MOAA/S: deepest MOAA/S 2" in md.read_text()


def test_rems_falls_back_to_notes_only_for_a_scale_never_charted(tmp_path):
    only_moaas = [o for o in CASE.observations if o[1] == "moaas" and o[2] == 5]
    store, session_id = esketamine_case(tmp_path, only_moaas, notes=((40 * 60, "Dissociation"),))
    fields = rems_fields(store, session_id, tmp_path / "form.json")
    assert fields["Sedation"]["answer"] == "No"
    # the MOAA/S 5 charted before the dose is not an answer about the time after it
    assert fields["Sedation"]["basis"].startswith("from the charted MOAA/S: charted 1 time, never beyond MOAA/S 5")
    assert fields["Dissociation"]["answer"] == "Yes"
    assert fields["Dissociation"]["basis"].startswith("Dissociation not charted after the dose; noted: T+30 min")


def test_rems_ready_to_leave_waits_while_the_last_charting_still_shows_an_effect(tmp_path):
    still = [(m, scale, 1 if (m, scale) == (70, "dissociation") else level) for m, scale, level in CASE.observations]
    store, session_id = esketamine_case(tmp_path, still)
    fields = rems_fields(store, session_id, tmp_path / "form.json")
    ready = fields["Ready to leave without the 2-hour minimum (min from start of administration)"]
    assert ready["answer"] is None and "the last Dissociation charted still showed an effect" in ready["basis"]


def test_rems_form_of_the_im_ketamine_case_is_refused_in_one_line(charted, tmp_path, capsys):
    store, session_id = charted
    assert main(["export", session_id, "--db", str(store.path), "--format", "rems", "--out", str(tmp_path / "f.md")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is for esketamine" in err and "IM ketamine" in err
    assert not (tmp_path / "f.md").exists()


# ------------------------------------------------------------------------------------ report and review


def test_the_report_lists_the_chartings_with_who_and_the_summary_rows(charted, tmp_path):
    store, session_id = charted
    text = export(store, session_id, "report", tmp_path / "r.html").read_text()
    charted_table = text[text.index("<h2>Charted observations</h2>") : text.index("<h2>Trends</h2>")]
    assert "Sedation: MOAA/S 2 (responds only to mild prodding or shaking)</td><td>RN Test" in charted_table
    assert charted_table.count("<tr") - 1 == len(CASE.observations)  # the one entered in error is left out
    assert "RN Hurry" not in charted_table
    assert "deepest 2 (responds only to mild prodding or shaking)" in text  # the summary's Observations section
    assert "yes (charted MOAA/S)" in text and "yes (charted dissociation)" in text  # REMS-style rows


def review_of(store, session_id):
    record = load_record(store, session_id)
    summary = summarise(record)
    ref = reference(record)
    return record, ref, review_figure(record, summary, load_series(store, session_id, ref.t0), ref)


def test_the_review_trace_has_a_lane_of_chartings_and_one_entered_in_error(charted):
    store, session_id = charted
    record, ref, fig = review_of(store, session_id)
    (lane,) = [tr for tr in fig["data"] if tr.get("name") == "charted"]
    assert list(lane["x"]) == [round(ref.minutes(record.session.started + m * 60), 4) for m in (9, 25, 40, 55, 70)]
    assert list(lane["text"]) == ["", "MOAA/S 4 Dissociation 1", "MOAA/S 2 Dissociation 2", "MOAA/S 4 Dissociation 1", ""]
    assert list(lane["marker"]["color"]) == [CHARTED_COLOUR[a] for a in (False, True, True, True, False)]
    assert "MOAA/S 2 (responds only to mild prodding or shaking) by RN Test" in lane["hovertext"][2]
    assert "Breathing 0 (normal) by RN Test" in lane["hovertext"][2] and "T+30 min" in lane["hovertext"][2]
    (wrong,) = [tr for tr in fig["data"] if tr.get("name") == "charted in error"]
    assert len(wrong["x"]) == 1 and "<s>Sedation: MOAA/S 0" in wrong["hovertext"][0]
    assert "entered in error by RN Hurry" in wrong["hovertext"][0] and "wrong bed" in wrong["hovertext"][0]
    (notes,) = [tr for tr in fig["data"] if tr.get("name") == "notes"]
    assert not any("MOAA/S" in t for t in notes["text"])  # not also in the notes lane
    low, high = fig["layout"]["yaxis"]["range"]
    assert low < LANES["charted"] < high


def test_the_review_events_table_lists_chartings_with_who_and_strikes_the_wrong_one(charted):
    store, session_id = charted
    record = load_record(store, session_id)
    rows = events_table(record, reference(record)).children[1].children
    cells = [[c.children for c in r.children] for r in rows]
    observed = [(c[3], c[4]) for c in cells if c[2] == "observation"]
    assert ("Dissociation 2 (moderate: detached or confused, answers when asked)", "RN Test") in observed
    (struck,) = [r for r in rows if r.className == "retracted"]
    assert struck.children[3].children[0].children == "Sedation: MOAA/S 0 (no response to a painful trapezius squeeze)"


def test_a_stored_row_with_an_unknown_scale_is_shown_as_invalid_not_a_crash():
    row = entry_row(StoredEvent(1, 60.0, "observation", {"scale": "pain", "level": 9}, "RN"), None, TimeRef(0.0, "session start"))
    assert row.invalid and "not a level kapmon knows" in row.what


@pytest.mark.parametrize(
    "data",
    [
        {"scale": "pain", "level": 9},
        {"scale": "moaas", "level": "2"},
        {"scale": "moaas", "level": float("nan")},
        {"scale": "moaas", "level": 7},
        {"level": 1},
        {"scale": "moaas", "level": True},
    ],
)
def test_an_odd_stored_observation_never_stops_an_export_and_is_never_a_level(tmp_path, data):
    store = Store(tmp_path / "o.db")
    store.create_session(Session("o1", "P-O", 1.8e9, "im", 70.0, "kap-im"))
    store.write("o1", [Reading(1.8e9 + 10, "spo2", 97.0, "%", "ox")], [(1.8e9 + 60, "observation", data, "RN")])
    for fmt in ("csv", "parquet", "fhir", "report"):
        out = export(store, "o1", fmt, tmp_path / f"o.{fmt}")
        assert out.stat().st_size > 0
    assert read_recording(tmp_path / "o.csv").metadata["observations"] == []
    assert not charted_in(json.loads((tmp_path / "o.fhir").read_text()))
    assert "not a level kapmon knows" in (tmp_path / "o.report").read_text()


def test_rems_never_answers_sedation_or_dissociation_from_chartings_made_before_the_dose(tmp_path):
    """The form asks about the time after the medicine (clinical-reference §3: sedation is a drop from the pre-dose
    level): a MOAA/S 5 and dissociation 0 charted before the dose and nothing after it leave both to the clinician."""
    before = [o for o in CASE.observations if o[0] < CASE.doses[0][0]]
    assert before and all(SCALES[scale].normal == level for _, scale, level in before)
    store, session_id = esketamine_case(tmp_path, before)
    fields = rems_fields(store, session_id, tmp_path / "form.json")
    for label, scale in (("Sedation", "MOAA/S"), ("Dissociation", "Dissociation")):
        assert fields[label]["answer"] is None, fields[label]
        assert fields[label]["basis"].startswith(f"{scale} not charted after the dose; no note names it"), fields[label]
    s = summarise(load_record(store, session_id))
    assert (s.rems.sedated, s.rems.dissociated) == (None, None)
    assert s.observations  # the summary still lists what was charted
