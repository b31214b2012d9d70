"""Exports: CSV and Parquet round trips, the FHIR Bundle's structure, codes and units, the report, the CLI."""

import json
import math
from html.parser import HTMLParser

import pytest

from devices.reading import Condition, Reading
from devices.recording import read_recording
from devices.simulator import SimSource
from monitor.cli import main
from monitor.export import ExportError, export, read_parquet, session_items
from monitor.running import build_plan, record_at_full_speed
from monitor.session import Session
from monitor.store import Store

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
    from monitor.export import fhir_bundle
    from monitor.summary import load_record

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
                  "Total monitoring", "SIM-TIV-01", "35 mg", "class=\"alarm-low\""):
        assert words in text, words


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
