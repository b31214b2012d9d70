"""Every threshold of every shipped protocol, tested at its value, just inside, just outside and with
the input missing, through the same rules path as a live session (plausibility, engine, decision).

The cases are generated from the protocol files, so a threshold added to a protocol is tested too.
"""

from __future__ import annotations

import pytest

from devices.reading import no_value, reading
from devices.vocabulary import SCALES
from monitor.rules.alarms import violates
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.dosing import BLOCKED, CLEAR, GATED
from monitor.rules.plan import make_plan
from monitor.rules.protocol import Gate, Limit, load, shipped
from monitor.session.model import Dose, Observation
from monitor.rules.session_rules import SessionRules, alarm_events

NIBP = ("sbp", "dbp", "map")


def _plan(protocol: str, **answers):
    return make_plan(load(protocol), {**SAMPLE_SCREENING, **answers})


def _limits():
    for name in shipped():
        for planned in _plan(name).limits:
            yield pytest.param(name, planned.limit, id=f"{name}:{planned.limit.id}")


def _cuff(t: float, vital: str, value: float | None) -> list:
    """A cuff measurement whose ``vital`` is ``value`` and whose other pressures are ordinary."""
    if value is None:
        return [no_value(t, vital, "cuff")] + [reading(t, v, x, "cuff") for v, x in (("sbp", 120), ("dbp", 78), ("map", 92)) if v != vital]
    values = {"sbp": {"sbp": value, "dbp": min(70.0, value - 15), "map": None},
              "dbp": {"sbp": max(120.0, value + 20), "dbp": value, "map": None},
              "map": {"sbp": value + 25, "dbp": value - 12, "map": value}}[vital]
    return [reading(t, v, x, "cuff") for v, x in values.items() if x is not None]


def _raised(protocol: str, limit: Limit, value: float | None) -> bool:
    """Whether ``limit`` raises when its vital holds ``value`` (after a dose, past its delay)."""
    rules = SessionRules(_plan(protocol), 0.0)
    items = [reading(float(t), v, x, "base") for t in range(0, 300, 60) for v, x in (("sbp", 120), ("dbp", 78), ("map", 92))]
    rules.add(rules.admit(items))
    rules.add([Dose(t=400.0, route=next(iter(rules.plan.protocol.routes)), drug="ketamine", mg=35.0)])
    if limit.relative:
        base = 120.0 if limit.vital == "sbp" else 78.0
        value = None if value is None else base + value
    if limit.vital in SCALES:  # a charted level; a missing value is a charting not made
        rules.add([] if value is None else [Observation(600.0, limit.vital, int(value), "nurse")])
    elif limit.vital in NIBP:
        rules.add(rules.admit(_cuff(600.0, limit.vital, value)))
    else:
        rules.add(rules.admit([no_value(600.0 + s, limit.vital, "dev") if value is None else reading(600.0 + s, limit.vital, value, "dev")
                               for s in range(int(limit.delay_s) + 3)]))
    events = alarm_events(rules.finish(600.0 + limit.delay_s + 3))
    return any(e.event == "raised" and e.alarm_id == limit.id for e in events)


@pytest.mark.parametrize(("protocol", "limit"), list(_limits()))
def test_every_limit_at_just_inside_just_outside_and_missing(protocol, limit):
    step = 1.0
    outside = limit.threshold - step if limit.low_side else limit.threshold + step
    inside = limit.threshold + step if limit.low_side else limit.threshold - step
    if limit.vital in SCALES:  # a scale ends at its worst level: beyond it there is nothing to chart
        outside = min(max(outside, 0), SCALES[limit.vital].top)
    assert _raised(protocol, limit, outside), f"{limit.id}: {outside} must raise"
    assert not _raised(protocol, limit, inside), f"{limit.id}: {inside} must not raise"
    at_raises = violates(limit.comparison, limit.threshold, limit.threshold) or limit.relative
    assert _raised(protocol, limit, limit.threshold) == at_raises, f"{limit.id} at {limit.threshold}: {limit.comparison}"
    assert not _raised(protocol, limit, None), f"{limit.id}: a missing value must never raise"


def _gates():
    for name in shipped():
        for gate in load(name).gates:
            yield pytest.param(name, gate, id=f"{name}:{gate.id}")


def _decision(protocol: str, gate: Gate, **values: float):
    """The dosing decision on one pre-dose cuff measurement (or SpO2), for an age inside the gate's band."""
    age = gate.min_age if gate.min_age is not None else (gate.max_age if gate.max_age is not None else 45)
    rules = SessionRules(_plan(protocol, age=age), 0.0)
    cuff = {"sbp": values.get("sbp", 118.0), "dbp": values.get("dbp", 76.0)}
    items = [reading(0.0, v, x, "cuff") for v, x in cuff.items()]
    items += [reading(float(t), "spo2", values.get("spo2", 97.0), "ox") for t in range(0, 121)]
    rules.add(rules.admit(items))
    rules.finish(121.0)
    return rules.decision


def _open(decision, gate: Gate) -> bool:
    return any(f.id == gate.id for f in decision.findings)


@pytest.mark.parametrize(("protocol", "gate"), list(_gates()))
def test_every_predose_gate_at_just_inside_just_outside_and_missing(protocol, gate):
    checks = [("sbp", gate.sbp_above, False), ("dbp", gate.dbp_above, False), ("sbp", gate.sbp_at_least, True),
              ("dbp", gate.dbp_at_least, True), ("spo2", gate.spo2_below, False)]
    for vital, threshold, inclusive in checks:
        if threshold is None:
            continue
        below_side = vital == "spo2"
        outside = threshold - 1 if below_side else threshold + 1
        inside = threshold + 1 if below_side else threshold - 1
        assert _open(_decision(protocol, gate, **{vital: outside}), gate), f"{gate.id}: {vital} {outside} must open it"
        assert not _open(_decision(protocol, gate, **{vital: inside}), gate), f"{gate.id}: {vital} {inside} must not"
        assert _open(_decision(protocol, gate, **{vital: threshold}), gate) == inclusive, f"{gate.id}: {vital} at {threshold}"
        state = _decision(protocol, gate, **{vital: outside}).state
        assert state == (BLOCKED if gate.action == "block" else GATED) or (state == BLOCKED and gate.action == "gate")
    rules = SessionRules(_plan(protocol), 0.0)
    assert [f.id for f in rules.decision.findings] == ["predose_bp_missing"], "no BP at all: only the missing-BP gate"
    assert _decision(protocol, gate).state == CLEAR


@pytest.mark.parametrize("protocol", shipped())
def test_every_screening_item_acts_on_yes_and_not_on_no(protocol):
    proto = load(protocol)
    for item in proto.screening:
        if item.at_least is not None:
            yes, no = item.at_least, item.at_least - 1
        else:
            yes, no = item.when, (False if item.when is True else "none")
        applied = _plan(protocol, **{item.key: yes})
        not_applied = _plan(protocol, **{item.key: no})
        found = [f.id for f in (*applied.blocks, *applied.gates)]
        if item.block:
            assert item.id in found, f"{protocol}: {item.id} must block on {yes!r}"
        if item.gate:
            assert item.id in found, f"{protocol}: {item.id} must gate on {yes!r}"
        assert item.id not in [f.id for f in (*not_applied.blocks, *not_applied.gates)], f"{protocol}: {item.id} on {no!r}"
        for limit_id, value in item.tighten.items():
            assert next(p.limit for p in applied.limits if p.limit.id == limit_id).threshold == value
        if item.block:
            missing = _plan(protocol, **{item.key: None})
            assert any(f.id == item.id and f.action == "gate" for f in missing.gates), f"{protocol}: {item.key} unanswered"
