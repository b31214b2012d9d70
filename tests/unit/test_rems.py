"""The Spravato REMS Patient Monitoring Form, checked field by field against recorded esketamine sessions: a
simulated session with lots, notes and a discharge is imported through ``kapmon import`` (the path every
recording takes), then ``kapmon export --format rems`` is read back."""

import csv
import json
import time

import pytest

from devices.io.recording import read_recording
from monitor.cli.main import main
from monitor.exports.rems import cell, fill
from monitor.session.store import Store
from monitor.analysis.summary import load_record

DOSE_TIMES = (600.0, 900.0, 1200.0)
DISCHARGE_T = 8100.0
NOTES = [
    {"t": 2400.0, "kind": "note", "text": "Dissociation"},  # the live page's quick note
    {"t": 2500.0, "kind": "note", "text": "no sedation | alert, talking"},
    {"t": 3000.0, "kind": "note", "text": "Nausea"},
    {"t": DISCHARGE_T, "kind": "discharge", "text": "discharged with her partner"},
]


def simulate(tmp_path, name="esk"):
    out = tmp_path / f"{name}.csv"
    assert main(["simulate", "esketamine_intranasal", "--out", str(out), "--seed", "4"]) == 0
    return out


def edit(path, rows=None, **sidecar):
    """Rewrite a simulated recording: its rows through ``rows`` (a filter/changer of dict rows), its sidecar
    updated with ``sidecar``."""
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta.update(sidecar)
    side.write_text(json.dumps(meta))
    if rows is not None:
        with path.open() as f:
            data = list(csv.DictReader(f))
        kept = [r for r in map(rows, data) if r is not None]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(data[0]))
            w.writeheader()
            w.writerows(kept)
    return path


def imported(tmp_path, path):
    db = tmp_path / "k.db"
    assert main(["import", str(path), "--db", str(db)]) == 0
    store = Store(db)
    return store, store.sessions()[-1]


def rems(tmp_path, store, session, suffix=".md"):
    out = tmp_path / f"form{suffix}"
    assert main(["export", session.id, "--db", str(store.path), "--format", "rems", "--out", str(out)]) == 0
    return out


def cuff(recording):
    """(t, sbp, dbp) of each cuff measurement in a recording."""
    by_t = {}
    for r in recording.items:
        if getattr(r, "vital", None) in ("sbp", "dbp") and r.value is not None:
            by_t.setdefault(r.t, {})[r.vital] = r.value
    return sorted((t, v["sbp"], v["dbp"]) for t, v in by_t.items())


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rems")
    path = simulate(tmp)
    meta = json.loads(path.with_suffix(".json").read_text())
    doses = [dict(d, lot="23HG512") for d in meta["doses"]]
    edit(path, doses=doses, events=meta["events"] + NOTES)
    store, session = imported(tmp, path)
    return tmp, read_recording(path), store, session


def by_label(form):
    return {f.label: f for f in form.fields}


def test_every_field_matches_the_recorded_session(session):
    tmp, recording, store, s = session
    assert [d["t"] for d in recording.metadata["doses"]] == list(DOSE_TIMES)
    form = by_label(fill(load_record(store, s.id)))
    assert form["Dose administered"].answer == "84 mg" and form["Dose administered"].value == 84.0
    assert form["Lot number"].answer == "23HG512"
    first = s.started + DOSE_TIMES[0]
    assert form["Treatment date"].answer == time.strftime("%m/%d/%Y", time.localtime(first))
    total = form["Total time, first device to completion of monitoring (min)"]
    assert total.value == round((DISCHARGE_T - DOSE_TIMES[0]) / 60) == 125 and "recorded discharge" in total.basis
    bps = cuff(recording)
    pre = [b for b in bps if b[0] <= DOSE_TIMES[0]][-1]  # a cuff at the dose instant is pre-dose
    assert form["BP prior to administration"].answer == f"{pre[1]:.0f}/{pre[2]:.0f} mmHg"
    assert form["BP prior to administration"].value == {"t_s": pre[0], "sbp": pre[1], "dbp": pre[2]}
    target = DOSE_TIMES[0] + 40 * 60
    at40 = min((b for b in bps if abs(b[0] - target) <= 600), key=lambda b: abs(b[0] - target))
    assert form["BP 40 min post-administration"].value == {"t_s": at40[0], "sbp": at40[1], "dbp": at40[2]}
    last = [b for b in bps if b[0] <= DISCHARGE_T][-1]
    assert DISCHARGE_T - last[0] <= 15 * 60
    assert form["BP prior to treatment session completion"].value == {"t_s": last[0], "sbp": last[1], "dbp": last[2]}
    assert form["Vital signs acceptable prior to administration"].answer == "Yes"
    decided = [e for e in store.events(s.id, kind="dosing") if e.t <= first][-1]
    assert decided.data["state"] == "clear"
    assert form["Vital signs acceptable prior to treatment session completion"].answer == "Yes"
    assert form["Dissociation"].answer == "Yes" and "\u201cDissociation\u201d" in form["Dissociation"].basis
    assert form["Sedation"].answer == "No" and "no sedation" in form["Sedation"].basis
    assert form["Respiratory depression"].missing
    assert form["Serious adverse events"].missing and "Nausea" in form["Serious adverse events"].basis
    ready = form["Ready to leave without the 2-hour minimum (min from start of administration)"]
    assert ready.missing and "dissociation was noted" in ready.basis
    screening = recording.metadata["screening"]
    assert screening["cns_depressant"] is False and screening["stimulant_or_maoi"] is False
    assert [form[k].answer for k in ("Benzodiazepines", "Non-benzodiazepine sedative hypnotics", "Psychostimulants",
                                     "Monoamine oxidase inhibitors (MAOIs)")] == ["No"] * 4


def test_the_export_lists_what_is_missing_and_what_kapmon_does_not_hold(session):
    tmp, _, store, s = session
    text = rems(tmp, store, s).read_text()
    assert "| Lot number | 23HG512 |" in text and "| BP 40 min post-administration | " in text
    missing = text.split("## Missing (")[1].split("## Not held")[0]
    assert missing.startswith("3)") and "- Respiratory depression" in missing and "- Serious adverse events" in missing
    assert "- Ready to leave without the 2-hour minimum" in missing
    assert "Patient first name, last name, birthdate" in text.split("## Not held")[1]
    assert "no sedation \\| alert, talking" in text  # a note's | does not break the table
    data = json.loads(rems(tmp, store, s, ".json").read_text())
    assert data["missing"] == [f.label for f in fill(load_record(store, s.id)).missing]
    assert {f["label"]: f["value"] for f in data["fields"]}["Dose administered"] == 84.0


def test_a_session_without_the_40_minute_bp_lists_it_as_missing(tmp_path):
    path = simulate(tmp_path)
    gone = (DOSE_TIMES[0] + 30 * 60, DOSE_TIMES[0] + 50 * 60)
    edit(path, rows=lambda r: None if r["vital"] in ("sbp", "dbp", "map") and gone[0] <= float(r["t"]) <= gone[1] else r)
    store, s = imported(tmp_path, path)
    form = fill(load_record(store, s.id))
    field = by_label(form)["BP 40 min post-administration"]
    assert field.missing and "no cuff reading within 40 +/- 10 min after the first device" in field.basis
    assert field in form.missing
    text = rems(tmp_path, store, s).read_text()
    assert "| BP 40 min post-administration | **MISSING** |" in text
    assert "- BP 40 min post-administration: no cuff reading within 40 +/- 10 min" in text
    lot = by_label(form)["Lot number"]
    assert lot.missing and "no lot recorded for the dose at T+0 min, T+5 min, T+10 min" in lot.basis
    assert "LESS THAN" not in by_label(form)["Total time, first device to completion of monitoring (min)"].basis


def test_a_dose_given_over_a_high_pre_dose_bp_is_not_acceptable(tmp_path):
    path = simulate(tmp_path)

    def high(r):
        if r["vital"] in ("sbp", "dbp") and float(r["t"]) <= DOSE_TIMES[0]:  # the cuff at the dose too
            r["value"] = "152" if r["vital"] == "sbp" else "94"
        return r

    edit(path, rows=high)
    store, s = imported(tmp_path, path)
    form = by_label(fill(load_record(store, s.id)))
    assert form["BP prior to administration"].answer == "152/94 mmHg"
    assert "above the protocol's pre-dose limit (predose_bp_gate)" in form["BP prior to administration"].basis
    accepted = form["Vital signs acceptable prior to administration"]
    assert accepted.answer == "No" and "predose_bp_gate" in accepted.basis and "gated" in accepted.basis


def test_a_session_not_yet_completed_says_so_rather_than_guessing(tmp_path):
    path = simulate(tmp_path)
    edit(path, rows=lambda r: r if float(r["t"]) <= 5000 else None, duration_s=5000.0)
    store, s = imported(tmp_path, path)
    record = load_record(store, s.id)
    record = type(record)(**{f: getattr(record, f) for f in record.__slots__ if f != "events"},
                          events=[e for e in record.events if e.kind != "end"])
    form = by_label(fill(record))
    for label in ("Total time, first device to completion of monitoring (min)",
                  "Vital signs acceptable prior to treatment session completion", "BP prior to treatment session completion"):
        assert form[label].missing, label
    assert "no discharge and no end" in form["Total time, first device to completion of monitoring (min)"].basis


def test_a_non_esketamine_session_is_refused_in_one_line(tmp_path, capsys):
    db = tmp_path / "k.db"
    assert main(["import", "sample_data/typical_iv.csv", "--db", str(db)]) == 0
    (s,) = Store(db).sessions()
    capsys.readouterr()
    out = tmp_path / "form.md"
    assert main(["export", s.id, "--db", str(db), "--format", "rems", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"kapmon export: the REMS Patient Monitoring Form is for esketamine (Spravato) sessions: "
                   f"session {s.id} is IV ketamine")
    assert not out.exists()


def test_markdown_cells_hold_any_note():
    assert cell("a | b\nc\r\n  d") == "a \\| b c d"


def review_download(store, session_id, fmt):
    """The review page's export callback as the browser fires it when the ``fmt`` button is clicked."""
    from layouts.app import create_app
    from layouts.review import EXPORTS
    from tests.helpers import dash_callback

    client = create_app(store).server.test_client()
    inputs = [{"id": f"export-{f}", "property": "n_clicks", "value": int(f == fmt)} for f, _ in EXPORTS]
    response = dash_callback(client, "export-csv", 1, {"review-session.data": session_id,
                                                       "export-fhir-interval.value": 0},
                             inputs=inputs, changed=f"export-{fmt}")
    assert response.status_code == 200
    return response.get_json()["response"]


def test_the_review_page_offers_the_form_only_for_esketamine_and_downloads_it(session, tmp_path):
    import base64

    from layouts.review import layout

    _, _, store, s = session
    out = review_download(store, s.id, "rems")
    download = out["review-download"]["data"]
    assert download["filename"] == f"kapmon-{s.id}.rems.md"
    text = base64.b64decode(download["content"]).decode() if download.get("base64") else download["content"]
    assert "| Lot number | 23HG512 |" in text
    vital = review_download(store, s.id, "vital")["review-download"]["data"]
    assert vital["filename"] == f"kapmon-{s.id}.vital" and vital["base64"]

    def rems_button(page):
        found = []

        def walk(c):
            if getattr(c, "id", None) == "export-rems":
                found.append(c)
            for child in getattr(c, "children", None) or []:
                if hasattr(child, "children") or hasattr(child, "id"):
                    walk(child)
        walk(page)
        return found[0]

    assert rems_button(layout(store, s.id)).hidden is False
    db = tmp_path / "iv.db"
    assert main(["import", "sample_data/typical_iv.csv", "--db", str(db)]) == 0
    iv = Store(db)
    (other,) = iv.sessions()
    assert rems_button(layout(iv, other.id)).hidden is True
    refused = review_download(iv, other.id, "rems")
    assert "for esketamine (Spravato) sessions" in str(refused["review-export-message"])
