"""The clinician's cases on the fast path, for a mutation run over the rules (benchmarks/mutate_rules.py).

Each case runs through ``kapmon alarms --json`` and is checked against everything it expects; a case
that expects summary figures is also imported (``kapmon import``, ``kapmon summary --json``) for those.
The paths' agreement is the full suite's job (tests/clinical/test_cases.py); here only speed matters.

    python3 -m pytest benchmarks/mutation_cases.py -q -x
"""

from __future__ import annotations

import pytest

from tests.clinical.cases import CASES
from tests.clinical.cases_mutation import CASES as EDGE_CASES
from tests.clinical.recordings import build, by_alarms_command, by_import
from tests.clinical.test_cases import check

ALL = CASES + EDGE_CASES


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_case_by_alarms_command(case, tmp_path):
    csv = build(case, tmp_path)
    summary = by_import(csv, case, tmp_path / "import.db")[1] if case.expect.summary else {}
    check(case, by_alarms_command(csv, case), summary)
