"""The rules' shortcuts change nothing they decide (hypothesis, differential).

The alarm engine skips its scan of every timer while no timed transition can be due before an input and judges a
reading inside every limit on its vital (none of them under way) without going through each limit, and the
session's rules judge the dosing decision again only when what it reads has changed. Over random sessions
(readings out of order, sampling that speeds up and slows down, questionable values, sensor-off spells, doses,
charted observations, acknowledgements, audio pauses, overrides) the transitions, dosing changes and decision
words are the same as those of rules that take no shortcut.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.reading import Condition, questionable, reading
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.alarms import AlarmEngine
from monitor.rules.plan import make_plan
from monitor.rules.protocol import load
from monitor.rules.session_rules import Output, SessionRules
from monitor.session.model import Dose

PLANS = [make_plan(load("kap-iv"), SAMPLE_SCREENING), make_plan(load("kap-iv"), {**SAMPLE_SCREENING, "cns_depressant": True})]


class ScanningEngine(AlarmEngine):
    """The engine scanning every timer on every input and judging every reading against each limit, as it did
    before the shortcuts."""

    def _advance(self, now: float) -> list:
        self._no_timer_before = -math.inf
        return super()._advance(now)

    def _inside(self, r, band) -> bool:
        return False


class DecidingRules(SessionRules):
    """Session rules judging the dosing decision afresh every time, as they did before the shortcut."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.engine.__class__ = ScanningEngine

    def _decision_inputs(self, now: float | None) -> tuple:
        return (*super()._decision_inputs(now), object())  # never equal to the last: decide every time


spo2 = st.one_of(st.none(), st.integers(70, 100), st.sampled_from([84, 85, 89, 90, 91, 92, 93, 94]))
steps = st.lists(
    st.one_of(
        st.tuples(st.just("spo2"), spo2, st.sampled_from([0.5, 1, 1, 2, 5, 30])),
        st.tuples(st.just("pr"), st.one_of(st.none(), st.integers(30, 160)), st.sampled_from([1, 2, 5, 40])),
        st.tuples(st.just("nibp"), st.tuples(st.integers(60, 220), st.integers(30, 130)), st.integers(1, 400)),
        st.tuples(st.just("doubted"), st.sampled_from(["spo2", "pr", "sbp"]), st.integers(0, 5)),
        st.tuples(st.just("late"), st.integers(80, 100), st.integers(1, 20)),
        st.tuples(st.just("condition"), st.booleans(), st.integers(1, 20)),
        st.tuples(st.just("dose"), st.sampled_from([10.0, 35.0, 200.0]), st.integers(0, 120)),
        st.tuples(st.just("observe"), st.integers(0, 5), st.integers(0, 600)),
        st.tuples(st.just("ack"), st.integers(0, 5), st.integers(0, 3)),
        st.tuples(st.just("pause"), st.none(), st.integers(0, 3)),
        st.tuples(st.just("override"), st.integers(0, 5), st.integers(0, 3)),
        st.tuples(st.just("tick"), st.none(), st.integers(1, 900)),
    ),
    max_size=200,
)


def play(rules: SessionRules, script: list) -> list[object]:
    """Every output of ``rules`` over ``script``, and its decision and active alarms after each step."""
    now, seen = 0.0, []
    for kind, arg, dt in script:
        now += dt
        out: list[Output] = []
        if kind in ("spo2", "pr"):
            rules.add([reading(now, kind, arg, "ox")])
        elif kind == "nibp":
            rules.add([reading(now, "sbp", arg[0], "cuff"), reading(now, "dbp", arg[1], "cuff")])
        elif kind == "doubted":
            rules.add([questionable(reading(now, arg, 50.0, "cuff" if arg == "sbp" else "ox"))])
        elif kind == "late":  # a reading stamped before what has been judged
            rules.add([reading(max(0.0, rules.engine.now - dt), "spo2", arg, "ox2")])
        elif kind == "condition":
            rules.add([Condition(now, "sensor_off", "ox", arg, ("spo2", "pr"))])
        elif kind == "dose":
            rules.add([Dose(now, "iv", "ketamine", arg, None)])
        elif kind == "observe":
            out += rules.act(now, lambda e, level=arg: e.on_observation(now, "moaas", level))
        elif kind == "ack":
            ids = sorted(a.alarm_id for a in rules.engine.active())
            out += rules.act(now, lambda e: e.acknowledge(ids[arg % len(ids)], "nurse", now) if ids else [])
        elif kind == "pause":
            out += rules.act(now, lambda e: e.pause_audio("nurse", now))
        elif kind == "override":
            open_ = [f.id for f in rules.decision.findings if f.overridable]
            if open_:
                out += rules.override(open_[arg % len(open_)], "Dr Test", "reviewed", now)
        out += rules.advance(now + 0.5)
        seen += [*out, rules.decision, [(a.alarm_id, a.priority, a.message) for a in rules.engine.active()]]
    return seen + rules.finish(now + 3600)


@settings(max_examples=300, deadline=None)
@given(script=steps, which=st.sampled_from(PLANS), stated=st.sampled_from([None, {"spo2": 1.0, "pr": 1.0}]))
def test_the_shortcuts_decide_what_the_full_computation_decides(script, which, stated):
    fast = SessionRules(which, 0.0, sampling=stated, weight_kg=70.0)
    full = DecidingRules(which, 0.0, sampling=stated, weight_kg=70.0)
    assert play(fast, script) == play(full, script)


def events_of(engine: AlarmEngine, inputs: list) -> list:
    """The engine's transitions over readings and ticks (a float is a tick to that time)."""
    return [e for x in inputs for e in (engine.tick(x) if isinstance(x, float) else engine.on_item(x))]


def both(inputs: list) -> list:
    """The transitions of the engine with its shortcut, checked against the engine scanning every time."""
    fast = events_of(AlarmEngine(PLANS[0], 0.0), inputs)
    assert fast == events_of(ScanningEngine(PLANS[0], 0.0), inputs)
    return fast


def test_a_source_sending_faster_brings_its_stale_time_earlier():
    """SpO2 once a minute may be quiet for 3 of its intervals (180 s); then the oximeter sends "no value" every
    second: its interval is 1 s, so 30 s without a valid value is stale, from the last valid one (at 240 s). (Before
    its second reading SpO2 has no interval yet: 30 s after the start it is stale too.)"""
    sparse = [reading(60.0 * i, "spo2", 97, "ox") for i in range(5)]
    no_value = [reading(240.0 + i, "spo2", None, "ox") for i in range(1, 6)]
    stale = [e for e in both([*sparse, *no_value, 400.0]) if e.alarm_id == "spo2_stale" and e.event == "raised"]
    assert [e.t for e in stale] == [30.0, 270.0]


def test_a_reading_stamped_late_brings_the_stale_time_earlier():
    """A pulse reading that arrives after later ones were judged (at 99 s) sets when the pulse was last valid back to
    its own time (50 s): stale 30 s after that, which has passed, so at once (the engine's time never goes back)."""
    flow = [reading(float(i), v, 97 if v == "spo2" else 70, "ox") for i in range(100) for v in ("spo2", "pr")]
    stale = [e for e in both([*flow, reading(50.0, "pr", 70, "ox"), 99.5]) if e.alarm_id == "pr_stale"]
    assert [(e.event, e.t) for e in stale] == [("raised", 99.0)]


def test_a_repeat_cuff_reading_asked_for_falls_due_between_readings():
    """A cuff reading breaching a limit that asks for a repeat: the repeat falls due while SpO2 flows in."""
    high = [reading(10.0, "sbp", 185, "cuff"), reading(10.0, "dbp", 80, "cuff")]
    flow = [reading(float(i), "spo2", 97, "ox") for i in range(11, 1500)]
    events = both([reading(0.0, "spo2", 97, "ox"), *high, *flow, 1500.0])
    assert any(e.alarm_id == "nibp_repeat" and e.event == "raised" for e in events)
