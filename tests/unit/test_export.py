"""Exports: CSV and Parquet round trips, the FHIR Bundle's structure, codes and units, the report, the CLI."""

import html
import json
import math
import re
from html.parser import HTMLParser

import pytest

from devices.reading import Condition, Reading
from devices.io.recording import read_recording
from devices.virtual.simulator import SimSource
from monitor.cli.main import main
from monitor.exports.contents import ExportError, session_items
from monitor.exports.parquet import read_parquet
from monitor.exports.writer import export
from monitor.session.start import build_plan, record_at_full_speed
from monitor.session.model import Dose, Session
from monitor.session.store import Store

T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A 50-minute simulated IV session with 75 Hz pleth, its dose, notes and alarms."""
    path = tmp_path_factory.mktemp("exp") / "k.db"
    store = Store(path)
    src = SimSource("typical_iv", seed=3, pleth=True, duration=3000)
    session = Session("s1", "SIM-TIV-01", T0, "iv", 70.0, "kap-iv", "demo", src.metadata)
    store.create_session(session)
    record_at_full_speed(store, session, src, build_plan("kap-iv", "iv", {}))
    return store


def relative(items):
    return [(round(i.t - T0, 6), i) for i in items]


def test_csv_long_round_trip(recorded, tmp_path):
    out = export(recorded, "s1", "csv", tmp_path / "s.csv")
    back = read_recording(out)
    original = session_items(recorded, "s1")
    assert len(back.items) == len(original) > 100_000
    assert any(isinstance(i, Condition) for i in back.items)
    assert any(isinstance(i, Reading) and i.value is None for i in back.items)  # no-value stays no value
    for a, b in zip(original, back.items):
        assert math.isclose(a.t - T0, b.t, abs_tol=1e-6)
        if isinstance(a, Reading):
            assert (a.vital, a.value, a.unit, a.source, a.status) == (b.vital, b.value, b.unit, b.source, b.status)
        else:
            assert (a.condition, a.active, a.source, a.vitals, a.detail) == (b.condition, b.active, b.source, b.vitals, b.detail)
    meta = back.metadata
    assert meta["patient"]["pseudonym"] == "SIM-TIV-01" and meta["route"] == "iv"
    assert meta["doses"] == [{"t": 600.0, "route": "iv", "drug": "ketamine", "mg": 35.0, "end": 3000.0}]
    assert {"kind": "note", "t": 300.0, "text": "SpO2 probe off the finger for ~25 s; reseated"} in meta["events"]


def test_csv_wide_round_trip_keeps_values(recorded, tmp_path):
    back = read_recording(export(recorded, "s1", "csv", tmp_path / "w.csv", form="wide"))
    original = {(round(r.t - T0, 6), r.vital): r.value for r in session_items(recorded, "s1") if isinstance(r, Reading)}
    got = {(round(r.t, 6), r.vital): r.value for r in back.items}
    assert got == original


def test_parquet_round_trip(recorded, tmp_path):
    items, meta = read_parquet(export(recorded, "s1", "parquet", tmp_path / "s.parquet"))
    original = session_items(recorded, "s1")
    assert [(round(i.t, 6), type(i)) for i in items] == [(round(i.t - T0, 6), type(i)) for i in original]
    assert [i.value for i in items if isinstance(i, Reading)] == [i.value for i in original if isinstance(i, Reading)]
    assert meta["started"].startswith("2027-01-15T08:00:00")


@pytest.fixture(scope="module")
def bundle(recorded, tmp_path_factory):
    return json.loads(export(recorded, "s1", "fhir", tmp_path_factory.mktemp("f") / "b.json").read_text())


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_fhir_bundle_structure(bundle):
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(bundle["entry"])
    for e in bundle["entry"]:
        assert e["fullUrl"] == f"urn:uuid:{e['resource']['id']}"

    def refs(x):
        if isinstance(x, dict):
            if "reference" in x:
                yield x["reference"]
            for v in x.values():
                yield from refs(v)
        elif isinstance(x, list):
            for v in x:
                yield from refs(v)

    assert set(refs(bundle)) <= urls  # every reference resolves inside the bundle
    (patient,) = resources(bundle, "Patient")
    assert "name" not in patient and patient["identifier"][0]["value"] == "SIM-TIV-01"
    (enc,) = resources(bundle, "Encounter")
    assert enc["status"] == "finished" and enc["period"]["start"] == "2027-01-15T08:00:00.000Z"
    assert {d["deviceName"][0]["name"] for d in resources(bundle, "Device")} >= {"sim-nibp", "sim-oximeter"}


def codes(concept, system):
    return {c["code"] for c in concept["coding"] if c["system"] == system}


def test_fhir_vital_sign_codes_and_units(bundle):
    obs = resources(bundle, "Observation")
    assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in obs)
    bp = [o for o in obs if "85354-9" in codes(o["code"], "http://loinc.org")]
    assert bp and all("150020" in codes(o["code"], "urn:iso:std:iso:11073:10101") for o in bp)
    comp = {next(iter(codes(c["code"], "http://loinc.org"))): c for c in bp[0]["component"]}
    assert {"8480-6", "8462-4", "8478-0"} <= comp.keys()
    assert codes(comp["8480-6"]["code"], "urn:iso:std:iso:11073:10101") == {"150021"}
    q = comp["8480-6"]["valueQuantity"]
    assert q["system"] == "http://unitsofmeasure.org" and q["code"] == "mm[Hg]" and q["value"] > 50
    spo2 = [o for o in obs if "2708-6" in codes(o["code"], "http://loinc.org")]
    assert spo2 and codes(spo2[0]["code"], "http://loinc.org") == {"2708-6", "59408-5"}
    assert codes(spo2[0]["code"], "urn:iso:std:iso:11073:10101") == {"150456"}
    valued = [o for o in spo2 if "valueQuantity" in o]
    assert valued[0]["valueQuantity"]["code"] == "%"
    absent = [o for o in spo2 if "dataAbsentReason" in o]
    assert absent and all("valueQuantity" not in o for o in absent)  # probe off: no value, never a number
    hr = [o for o in obs if "147842" in codes(o["code"], "urn:iso:std:iso:11073:10101")]
    assert hr and hr[0]["valueQuantity"]["code"] == "/min" and codes(hr[0]["code"], "http://loinc.org") == {"8867-4"}
    assert not [o for o in obs if "pleth" in json.dumps(o["code"]).lower()]


def test_fhir_doses_and_alarms(bundle):
    (dose,) = resources(bundle, "MedicationAdministration")
    assert dose["dosage"]["dose"] == {"value": 35.0, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert dose["dosage"]["route"]["coding"][0]["code"] == "47625008"
    assert dose["effectivePeriod"]["end"] == "2027-01-15T08:50:00.000Z"
    issues = resources(bundle, "DetectedIssue")
    assert issues and {i["severity"] for i in issues} <= {"high", "moderate", "low"}
    assert any(m["action"]["text"].startswith("cleared") for i in issues for m in i["mitigation"])


def test_fhir_interval_thins_continuous_vitals_only(recorded):
    from monitor.exports.fhir import fhir_bundle
    from monitor.analysis.summary import load_record

    rec = load_record(recorded, "s1")
    full, thin = fhir_bundle(rec), fhir_bundle(rec, interval_s=60)
    count = lambda b, code: sum(1 for e in b["entry"] if code in json.dumps(e["resource"].get("code", {})))  # noqa: E731
    assert count(thin, "85354-9") == count(full, "85354-9")
    assert count(thin, "150456") <= 3000 / 60 + 2 < count(full, "150456")


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_report_renders(recorded, tmp_path):
    text = export(recorded, "s1", "report", tmp_path / "r.html").read_text()
    parser = _Checker()
    parser.feed(text)
    assert parser.tags.count("svg") == 3 and "script" not in parser.tags
    for words in ("Peak SBP", "Largest SBP rise", "Lowest SpO2", "Time SpO2 &lt; 90 %", "Pre-dose BP", "~40 min BP",
                  "Total monitoring", "SIM-TIV-01", "35 mg"):
        assert words in text, words
    from monitor.analysis.record_view import top_spans
    from monitor.analysis.summary import load_record, summarise

    record = load_record(recorded, "s1")
    shaded = {p for p, _, _ in top_spans(summarise(record).episodes, record.end)}
    assert shaded and set(re.findall(r'class="alarm-(\w+)"', text)) == shaded


def test_bad_requests_are_clear(recorded, tmp_path):
    with pytest.raises(ExportError, match="unknown format 'xml'"):
        export(recorded, "s1", "xml", tmp_path / "x")
    with pytest.raises(ExportError, match="no such directory"):
        export(recorded, "s1", "csv", tmp_path / "missing" / "x.csv")
    with pytest.raises(ExportError, match="is a directory"):
        export(recorded, "s1", "report", tmp_path)


def test_cli(recorded, tmp_path, capsys):
    db = str(recorded.path)
    assert main(["export", "s1", "--db", db, "--format", "report", "--out", str(tmp_path / "r.html")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["export", "nope", "--db", db, "--format", "fhir", "--out", str(tmp_path / "b.json")]) == 2
    assert "no session 'nope'" in capsys.readouterr().err
    assert main(["export", "s1", "--db", db, "--format", "pdf", "--out", str(tmp_path / "r.pdf")]) == 2
    assert "unknown format 'pdf'" in capsys.readouterr().err
    assert main(["export", "s1", "--db", str(tmp_path / "none.db"), "--format", "csv", "--out", "x.csv"]) == 2
    assert "no such store" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


# --------------------------------------------------------------------------------------------- hand-made records


def _strict_json(text: str):
    """JSON as other systems read it: NaN and Infinity are not JSON."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def handmade(tmp_path):
    """A session still being recorded: ECG heart rate, oximeter SpO2 and pulse rate, a cuff that also counts
    pulse, two SpO2 readings at the same time and source, a mean-only cuff reading and one with no systolic."""
    store = Store(tmp_path / "h.db")
    store.create_session(Session("h1", "P-H", T0, "iv", 70.0, "kap-iv"))
    rows = [Reading(T0 + 10, "hr", 72.0, "/min", "ecg"), Reading(T0 + 10, "pr", 71.0, "/min", "ox"),
            Reading(T0 + 10, "spo2", 97.0, "%", "ox"), Reading(T0 + 10, "spo2", 96.0, "%", "ox"),
            Reading(T0 + 60, "sbp", 128.0, "mmHg", "cuff"), Reading(T0 + 60, "dbp", 82.0, "mmHg", "cuff"),
            Reading(T0 + 60, "map", 97.0, "mmHg", "cuff"), Reading(T0 + 60, "pr", 70.0, "/min", "cuff"),
            Reading(T0 + 300, "map", 95.0, "mmHg", "cuff"),
            Reading(T0 + 400, "sbp", None, "mmHg", "cuff", "no_value"), Reading(T0 + 400, "dbp", 80.0, "mmHg", "cuff"),
            Reading(T0 + 500, "sbp", 130.0, "mmHg", "cuff"), Reading(T0 + 500, "dbp", 84.0, "mmHg", "cuff"),
            Reading(T0 + 500, "sbp", 131.0, "mmHg", "cuff"), Reading(T0 + 500, "dbp", 85.0, "mmHg", "cuff"),
            Reading(T0 + 620, "spo2", 95.0, "%", "ox")]
    store.write("h1", rows)
    return store


def fhir_of(store, session_id, tmp_path, name="b.json"):
    return _strict_json(export(store, session_id, "fhir", tmp_path / name).read_text())


def by_mdc(bundle, code):
    return [o for o in resources(bundle, "Observation") if code in codes(o["code"], "urn:iso:std:iso:11073:10101")]


def test_fhir_pulse_rate_is_8889_8_and_heart_rate_8867_4(handmade, tmp_path):
    b = fhir_of(handmade, "h1", tmp_path)
    (hr,) = by_mdc(b, "147842")
    (ox,) = by_mdc(b, "149530")
    (cuff,) = by_mdc(b, "149546")
    assert codes(hr["code"], "http://loinc.org") == {"8867-4"}
    assert codes(ox["code"], "http://loinc.org") == codes(cuff["code"], "http://loinc.org") == {"8889-8"}
    assert ox["valueQuantity"]["value"] == 71 and cuff["valueQuantity"]["value"] == 70


def test_fhir_ids_are_unique_and_stable(handmade, tmp_path):
    first, again = fhir_of(handmade, "h1", tmp_path, "1.json"), fhir_of(handmade, "h1", tmp_path, "2.json")
    urls = [e["fullUrl"] for e in first["entry"]]
    assert len(urls) == len(set(urls))
    assert urls == [e["fullUrl"] for e in again["entry"]]
    same_time = [o for o in by_mdc(first, "150456") if o["effectiveDateTime"] == "2027-01-15T08:00:10.000Z"]
    assert sorted(o["valueQuantity"]["value"] for o in same_time) == [96, 97]
    panels = [o for o in resources(first, "Observation") if o["effectiveDateTime"] == "2027-01-15T08:08:20.000Z"]
    assert sorted(c["valueQuantity"]["value"] for o in panels for c in o["component"]) == [84, 85, 130, 131]


def test_fhir_has_only_the_pressures_the_cuff_measured(handmade, tmp_path):
    obs = resources(fhir_of(handmade, "h1", tmp_path), "Observation")
    at = {o["effectiveDateTime"][11:19]: o for o in obs if "150020" in json.dumps(o["code"]) or "150023" in json.dumps(o["code"])}
    mean_only = at["08:05:00"]
    assert codes(mean_only["code"], "http://loinc.org") == {"8478-0"} and "component" not in mean_only
    assert mean_only["valueQuantity"]["value"] == 95 and "dataAbsentReason" not in mean_only
    no_systolic = {next(iter(codes(c["code"], "http://loinc.org"))): c for c in at["08:06:40"]["component"]}
    assert no_systolic.keys() == {"8480-6", "8462-4"}  # no mean measured: no mean component
    assert "dataAbsentReason" in no_systolic["8480-6"] and no_systolic["8462-4"]["valueQuantity"]["value"] == 80
    full = at["08:01:00"]
    assert len(full["component"]) == 3 and not any("dataAbsentReason" in c for c in full["component"])


def test_a_session_still_running_says_so(handmade, tmp_path):
    (enc,) = resources(fhir_of(handmade, "h1", tmp_path), "Encounter")
    assert enc["status"] == "in-progress" and "end" not in enc["period"]
    csv = read_recording(export(handmade, "h1", "csv", tmp_path / "r.csv"))
    assert csv.metadata["duration_s"] == max(i.t for i in csv.items) == 620
    assert "still being recorded" in csv.metadata["description"]
    _, meta = read_parquet(export(handmade, "h1", "parquet", tmp_path / "r.parquet"))
    assert meta["duration_s"] == 620
    handmade.write("h1", events=[(T0 + 900, "end", {}, None)])
    (enc,) = resources(fhir_of(handmade, "h1", tmp_path, "ended.json"), "Encounter")
    assert enc["status"] == "finished" and enc["period"]["end"] == "2027-01-15T08:15:00.000Z"
    assert read_recording(export(handmade, "h1", "csv", tmp_path / "e.csv")).metadata["duration_s"] == 900


ODD_DOSES = {  # what older code could store (JSON as sqlite holds it) -> words the warning must say
    "nan": ('{"route": "iv", "drug": "ketamine", "mg": NaN, "end": null}', "amount NaN"),
    "infinity": ('{"route": "iv", "drug": "ketamine", "mg": Infinity, "end": null}', "amount Infinity"),
    "1e308": ('{"route": "iv", "drug": "ketamine", "mg": 1e308, "end": null}', "amount 1e+308 mg is outside"),
    "true": ('{"route": "iv", "drug": "ketamine", "mg": true, "end": null}', "amount true is not a number"),
    "negative infusion": ('{"route": "iv", "drug": "ketamine", "mg": 35, "end": %r}' % (T0 + 100), "infusion of -10 min"),
    "unknown route": ('{"route": "rectal", "drug": "ketamine", "mg": 35, "end": null}', "route 'rectal'"),
    "1 MB drug name": (json.dumps({"route": "iv", "drug": "k" * 1_000_000, "mg": 35, "end": None}),
                       "drug name is 1,000,000 characters long"),
}


@pytest.mark.parametrize("odd", ODD_DOSES)
def test_a_stored_oddity_never_stops_an_export(handmade, tmp_path, capsys, odd):
    import sqlite3

    data, words = ODD_DOSES[odd]
    handmade.add_dose("h1", Dose(T0 + 120, "iv", "ketamine", 20.0), who="RN A")
    with sqlite3.connect(handmade.path) as db:  # as older code wrote it, with no check
        db.execute("INSERT INTO events (session_id, t, kind, data, who) VALUES ('h1', ?, 'dose', ?, 'RN B')",
                   (T0 + 700, data))
    db = str(handmade.path)
    for fmt, name in (("csv", "o.csv"), ("parquet", "o.parquet"), ("fhir", "b.json"), ("report", "o.html")):
        assert main(["export", "h1", "--db", db, "--format", fmt, "--out", str(tmp_path / name)]) == 0, fmt
        err = capsys.readouterr().err
        assert err.count("warning") == 1 and words in err and "Traceback" not in err, (fmt, err[:300])
        assert len(err) < 400  # the megabyte name is not repeated
    bundle = _strict_json((tmp_path / "b.json").read_text())
    odd_dose = [m for m in resources(bundle, "MedicationAdministration") if "note" in m]
    (good,) = [m for m in resources(bundle, "MedicationAdministration") if "note" not in m]
    assert len(odd_dose) == 1 and words in odd_dose[0]["note"][0]["text"]
    assert good["dosage"]["dose"]["value"] == 20 and good["performer"][0]["actor"]["display"] == "RN A"
    assert len(json.dumps(odd_dose)) < 2000
    meta = read_recording(tmp_path / "o.csv").metadata
    assert any(words in e["text"] for e in meta["events"])
    assert all(math.isfinite(d["mg"]) and 0 < d["mg"] <= 1000 for d in meta["doses"])
    assert read_parquet(tmp_path / "o.parquet")[1]["doses"] == meta["doses"]
    report = html.unescape((tmp_path / "o.html").read_text())
    assert "invalid" in report and words in report and len(report) < 200_000


def test_the_review_page_download_thins_fhir_like_the_cli(recorded):
    from layouts.review import export_bytes

    def spo2(b):
        return sum(1 for e in json.loads(b)["entry"] if "150456" in json.dumps(e["resource"].get("code", {})))

    assert spo2(export_bytes(recorded, "s1", "fhir", 60)) <= 3000 / 60 + 2 < spo2(export_bytes(recorded, "s1", "fhir"))


def test_the_report_is_something_a_clinician_files(handmade, tmp_path):
    from monitor.rules.alarm_events import AlarmEvent

    handmade.write("h1", [Reading(T0 + 900, "sbp", 240.0, "mmHg", "cuff"), Reading(T0 + 900, "dbp", 130.0, "mmHg", "cuff"),
                          Reading(T0 + 950, "spo2", 70.0, "%", "ox")],
                   events=[(T0 + 5, "protocol", {"protocol": "kap-iv", "version": "0.1.0", "route": "iv"}, "Dr Okafor"),
                           (T0 + 800, "manual_nibp", {"sbp": 152, "dbp": 94, "map": 113}, "RN Lee"),
                           (T0 + 850, "note", {"text": "patient calm"}, "RN Lee")],
                   alarms=[AlarmEvent(T0 + 100, "overridden", "predose_bp_gate", "medium", "technical", None, None, None,
                                      "kap-iv: predose_bp_gate", "gate predose_bp_gate overridden by Dr Okafor: rechecked",
                                      "Dr Okafor"),
                           AlarmEvent(T0 + 900, "raised", "sbp_high", "high", "physiological", "sbp", 240.0, 180.0,
                                      "kap-iv: sbp_high", "SBP 240 > 180"),
                           AlarmEvent(T0 + 965, "acknowledged", "sbp_high", "high", "physiological", "sbp", 240.0, 180.0,
                                      "kap-iv: sbp_high", "SBP 240 > 180", "RN Lee")])
    handmade.add_dose("h1", Dose(T0 + 120, "iv", "ketamine", 20.0, T0 + 720), who="RN A")
    handmade.add_dose("h1", Dose(T0 + 150, "iv", "ketamine", 5.0), who="RN A")
    text = export(handmade, "h1", "report", tmp_path / "r.html").read_text()
    plain = html.unescape(re.sub(r"<[^>]+>", " ", text))
    plain = re.sub(r"\s+", " ", plain)
    # Who decided what and when, in T+ (since the first dose at 08:02:00) with the clock time beside it.
    assert "protocol kap-iv 0.1.0, chosen by Dr Okafor" in plain
    assert "since the first dose (08:02:00)" in plain
    assert ("predose_bp_gate by Dr Okafor, unverified (typed name, no sign-in) at T+0 min · 08:01:40: "
            "gate predose_bp_gate overridden by Dr Okafor: rechecked") in plain  # no record of a sign-in
    # Each dose: drug, route, mg, mg/kg, start, end, who gave it.
    assert "1 ketamine IV 20 0.286 T+0 min · 08:02:00 T+10 min · 08:12:00 RN A" in plain
    assert "2 ketamine IV 5 0.071 T+0 min · 08:02:30 bolus RN A" in plain
    assert "T+11 min · 08:13:20 152/94 mmHg (MAP 113) RN Lee" in plain
    assert "after 1 min 05 s by RN Lee" in plain and "patient calm RN Lee" in plain
    assert "HIGH 1 (1 acknowledged, median 1 min 05 s, max 1 min 05 s)" in plain
    assert "This session has no end in this record" in plain  # no end event and no recorder known
    # Nothing clipped: every point inside its chart; labels of doses 30 s apart on two rows.
    for svg in re.findall(r'<svg class="chart".*?</svg>', text, re.S):
        ys = [float(y) for y in re.findall(r'<circle cx="[^"]+" cy="([^"]+)"', svg)]
        top, bottom = map(float, re.search(r'y1="([^"]+)" y2="([^"]+)" stroke="#eee"', svg).groups())
        assert all(top <= y <= bottom for y in ys)
    bp = re.findall(r'<svg class="chart".*?</svg>', text, re.S)[0]
    assert re.search(r">2[45]0</text>", bp), "the y axis does not reach SBP 240"
    rows = re.findall(r'<text class="dose-label" x="[^"]+" y="([^"]+)"', bp)
    assert len(rows) == 2 and rows[0] != rows[1]
    spo2 = re.findall(r'<svg class="chart".*?</svg>', text, re.S)[2]
    assert re.search(r">70</text>", spo2), "the SpO2 axis does not reach 70"
