"""The summary of every clinical case and of the 4-hour benchmark session, figure for figure, as recorded in
``data/summary_figures.json``: a faster read of the record must not change one number of what the summary
computes. ``python -m tests.integration.test_summary_unchanged`` writes the file again (only after a change
meant to alter the figures)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from monitor.analysis.summary import load_record, summarise, summary_json
from monitor.session.store import Store
from tests.clinical.cases import CASES
from tests.clinical.cases_mutation import CASES as EDGE_CASES
from tests.clinical.recordings import Case, _cli, build

FIGURES = Path(__file__).parent / "data" / "summary_figures.json"
EVERY_CASE = {case.id: case for case in (*CASES, *EDGE_CASES)}
LONG_ID = "bench"


def case_summary(case: Case, folder: Path) -> dict:
    """The summary JSON of one case imported into a fresh store."""
    db = folder / f"{case.id}.db"
    session_id = _cli("import", str(build(case, folder)), "--db", str(db), "--protocol", case.protocol).splitlines()[-1]
    store = Store(db)
    try:
        record = load_record(store, session_id)
        return summary_json(record, summarise(record))
    finally:
        store.close()


def long_summary(folder: Path) -> dict:
    """The summary JSON of the 4-hour typical IV session with 75 Hz pleth the review benchmark records."""
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from bench_review import record  # noqa: PLC0415 (the benchmark's own recording, not a copy of it)

    store = Store(folder / "long.db")
    try:
        record(store, 4.0)
        found = load_record(store, LONG_ID)
        return summary_json(found, summarise(found))
    finally:
        store.close()


def recorded() -> dict:
    return json.loads(FIGURES.read_text())


def as_json(summary: dict) -> dict:
    """The summary as the file holds it (tuples as lists; floats round-trip exactly through JSON), without the
    session id (an import names each session afresh)."""
    return {k: v for k, v in json.loads(json.dumps(summary)).items() if k != "session"}


@pytest.mark.parametrize("case_id", sorted(EVERY_CASE))
def test_a_clinical_case_summary_is_unchanged(case_id, tmp_path):
    assert as_json(case_summary(EVERY_CASE[case_id], tmp_path)) == recorded()["cases"][case_id]


def test_the_four_hour_session_summary_is_unchanged(tmp_path):
    assert as_json(long_summary(tmp_path)) == recorded()["long"]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        figures = {"cases": {}, "long": as_json(long_summary(Path(tmp)))}
        for case_id, case in sorted(EVERY_CASE.items()):
            (Path(tmp) / case_id).mkdir()
            figures["cases"][case_id] = as_json(case_summary(case, Path(tmp) / case_id))
    FIGURES.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIGURES}: {len(figures['cases'])} cases and the 4-hour session")
