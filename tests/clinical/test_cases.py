"""The clinician's cases (tests/clinical/cases.py), each run through every path that records a session:
``kapmon alarms``, ``kapmon import`` (a full-speed record through the hub) and a paced replay on the
live pipeline. The paths must agree exactly, and what they decide must be what the case expects."""

from __future__ import annotations

import pytest

from tests.clinical.cases import CASES
from tests.clinical.cases_mutation import CASES as EDGE_CASES
from tests.clinical.recordings import Case, Expect, Outcome, build, by_alarms_command, by_import, by_paced_replay

EPS = 1e-6


def state_at(outcome: Outcome, minute: float) -> str:
    """The dosing state in effect at ``minute`` (the last change at or before it)."""
    changes = [state for t, state in outcome.dosing if t <= minute * 60 + EPS]
    assert changes, f"no dosing decision by minute {minute}"
    return changes[-1]


def dig(summary: dict, key: str) -> object:
    value: object = summary
    for part in key.split("."):
        assert isinstance(value, dict) and part in value, f"summary has no {key}"
        value = value[part]
    return value


def check(case: Case, outcome: Outcome, summary: dict) -> None:
    """Everything the case expects, with a message a clinician can read when it fails."""
    e: Expect = case.expect
    for minute, state in e.decisions:
        assert state_at(outcome, minute) == state, f"{case.id}: dosing at {minute} min is {state_at(outcome, minute)}, expected {state}"
    for spec, priority, minute, tol in e.raised:
        event, _, alarm_id = spec.rpartition(":") if ":" in spec and spec.split(":")[0] in ("escalated",) else ("raised", "", spec)
        found = [t for t, ev, a, p, _k in outcome.transitions if ev == event and a == alarm_id and p == priority
                 and abs(t - minute * 60) <= tol + EPS]
        assert found, (f"{case.id}: expected {event} {alarm_id} ({priority}) at {minute} min +/- {tol} s; got "
                       f"{[(t, ev, p) for t, ev, a, p, _k in outcome.transitions if a == alarm_id]}")
    for what in e.absent:
        bad = [(t, ev, a) for t, ev, a, _p, kind in outcome.transitions if ev == "raised" and what in (a, kind)]
        assert not bad, f"{case.id}: {what} must not be raised, got {bad}"
    for alarm_id, n in e.episodes.items():
        got = sum(1 for _t, ev, a, _p, _k in outcome.transitions if ev == "raised" and a == alarm_id)
        assert got == n, f"{case.id}: {n} episodes of {alarm_id} expected, got {got}"
    if e.max_technical is not None:
        technical = [(t, a) for t, ev, a, _p, kind in outcome.transitions if ev == "raised" and kind == "technical"]
        assert len(technical) <= e.max_technical, f"{case.id}: {len(technical)} technical alarms: {technical}"
    for key, want in e.summary.items():
        got = dig(summary, key)
        if isinstance(want, tuple):
            assert isinstance(got, (int, float)) and abs(got - want[0]) <= want[1], f"{case.id}: {key} {got}, expected {want[0]} +/- {want[1]}"
        else:
            assert got == pytest.approx(want) if isinstance(want, (int, float)) else got == want, f"{case.id}: {key} {got}, expected {want}"


def test_the_table_is_large_and_every_case_says_why():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    for c in CASES:
        assert len(c.words) > 40 and c.rule, c.id
        assert c.expect != Expect(), f"{c.id} expects nothing"
    assert {c.protocol for c in CASES} == {"kap-iv", "kap-im", "kap-sublingual", "esketamine-intranasal"}


@pytest.mark.parametrize("case", CASES + EDGE_CASES, ids=[c.id for c in CASES + EDGE_CASES])
def test_case_through_every_path(case, tmp_path):
    csv = build(case, tmp_path)
    by_cli = by_alarms_command(csv, case)
    imported, summary = by_import(csv, case, tmp_path / "import.db")
    replayed = by_paced_replay(csv, case, tmp_path / "replay.db")
    assert imported.transitions == by_cli.transitions, f"{case.id}: kapmon import and kapmon alarms disagree"
    assert replayed.transitions == by_cli.transitions, f"{case.id}: a paced replay and kapmon alarms disagree"
    assert imported.dosing == by_cli.dosing == replayed.dosing, f"{case.id}: the dosing decisions differ between paths"
    check(case, by_cli, summary)
