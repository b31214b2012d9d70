"""A dose's lot number: checked wherever a dose enters (sidecar, stored rows, a room's messages), kept through
the recording path and the exports, shown with the dose."""

import pytest

from devices.errors import RecordingError
from devices.io.recording import read_recording, validate_metadata
from monitor.session.dose_rows import check_dose
from monitor.exports.writer import export
from monitor.central.checks import dose_data
from monitor.central.topics import MessageError
from monitor.analysis.record_view import dose_text, reference
from monitor.session.start import build_plan, import_recording
from monitor.session.store import Store
from monitor.analysis.summary import load_record

META = {"format": "kapmon-recording/1", "route": "intranasal", "drug": "esketamine", "started": "2027-01-15T08:00:00Z"}


def test_a_sidecar_dose_keeps_its_lot_and_a_bad_lot_is_refused_naming_the_field():
    meta = validate_metadata({**META, "doses": [{"t": 60, "mg": 28, "lot": "23HG512"}, {"t": 360, "mg": 28}]})
    assert meta["doses"][0]["lot"] == "23HG512" and "lot" not in meta["doses"][1]
    for lot, why in (("x" * 41, "at most 40"), (12, "not a text"), ("a\nb", "not a lot number")):
        with pytest.raises(RecordingError, match=rf": doses\[0\]\.lot: .*{why}"):
            validate_metadata({**META, "doses": [{"t": 60, "mg": 28, "lot": lot}]})


def test_a_stored_lot_that_is_not_a_lot_number_is_shown_as_invalid_and_the_dose_still_counts():
    row = check_dose(10.0, {"route": "intranasal", "drug": "esketamine", "mg": 28, "lot": "x" * 5000})
    assert row.lot is None and row.mg == 28 and row.problems == ("lot is 5,000 characters long (at most 40)",)
    assert row.dose() is not None and row.dose().lot is None


def test_a_rooms_dose_message_with_a_forged_lot_is_refused():
    good = {"route": "intranasal", "drug": "esketamine", "mg": 28.0, "end": None}
    dose_data({**good, "lot": "23HG512"}, 10.0)
    with pytest.raises(MessageError, match="lot: "):
        dose_data({**good, "lot": "<img src=x>"}, 10.0)


def test_the_lot_goes_through_an_import_into_the_record_and_back_out_in_the_export(tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("t,vital,value\n0,sbp,128\n0,dbp,80\n0,spo2,98\n61,spo2,98\n")
    (tmp_path / "r.json").write_text(
        '{"format": "kapmon-recording/1", "route": "intranasal", "drug": "esketamine", "started": "2027-01-15T08:00:00Z",'
        ' "doses": [{"t": 60, "mg": 28, "lot": "23HG512"}]}')
    store = Store(tmp_path / "k.db")
    session = import_recording(store, read_recording(csv), build_plan(None, "intranasal", {}), patient="P-1",
                               started=1_800_000_000.0, who="test")
    assert [d.lot for d in store.doses(session.id)] == ["23HG512"]
    record = load_record(store, session.id)
    row = check_dose(record.doses[0].t, {"route": "intranasal", "drug": "esketamine", "mg": 28, "lot": "23HG512"})
    assert dose_text(row, None, reference(record)).endswith(", lot 23HG512")
    back = read_recording(export(store, session.id, "csv", tmp_path / "out.csv"))
    assert back.metadata["doses"][0]["lot"] == "23HG512"
