"""Invariants of the alarm engine over random sessions (hypothesis).

- a latched alarm never clears without acknowledgement;
- a condition delay is never shortened;
- a "no value" reading never raises a physiological alarm;
- acknowledging never silences a new, higher-priority condition.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.reading import Condition, reading
from devices.vocabulary import PHYSIOLOGICAL, PRIORITY_RANK
from monitor.rules.alarms import AlarmEngine, violates
from monitor.cli.protocol import SAMPLE_SCREENING
from monitor.rules.plan import make_plan
from monitor.rules.protocol import load

PLANS = [make_plan(load("kap-iv"), SAMPLE_SCREENING), make_plan(load("kap-iv"), {**SAMPLE_SCREENING, "cns_depressant": True})]

spo2_value = st.one_of(st.none(), st.integers(70, 100), st.sampled_from([84, 85, 89, 90, 91, 92]))
steps = st.lists(
    st.one_of(
        st.tuples(st.just("spo2"), spo2_value, st.integers(1, 5)),
        st.tuples(st.just("pr"), st.one_of(st.none(), st.integers(30, 160)), st.integers(1, 5)),
        st.tuples(st.just("nibp"), st.tuples(st.integers(60, 220), st.integers(30, 130)), st.integers(1, 60)),
        st.tuples(st.just("ack"), st.integers(0, 5), st.integers(0, 3)),
        st.tuples(st.just("tick"), st.none(), st.integers(1, 40)),
        st.tuples(st.just("pause"), st.none(), st.integers(0, 3)),
        st.tuples(st.just("condition"), st.booleans(), st.integers(1, 20)),
    ),
    max_size=250,
)


def run(plan, script):
    """Play a script; yield (step, events, active-before, engine, now) per step and keep the readings."""
    e = AlarmEngine(plan, start=0.0)
    now, readings = 0.0, []
    for kind, arg, dt in script:
        now += dt
        before = {a.alarm_id: a for a in e.active()}
        if kind in ("spo2", "pr"):
            r = reading(now, kind, arg, "ox")
            readings.append(r)
            events = e.on_item(r)
        elif kind == "nibp":
            events = []
            for vital, value in zip(("sbp", "dbp"), arg):
                r = reading(now, vital, value, "cuff")
                readings.append(r)
                events += e.on_item(r)
        elif kind == "ack":
            ids = sorted(before)
            events = e.acknowledge(ids[arg % len(ids)], "nurse", now) if ids else e.tick(now)
        elif kind == "pause":
            events = e.pause_audio("nurse", now)
        elif kind == "condition":
            events = e.on_item(Condition(now, "sensor_off", "ox", arg, ("spo2", "pr")))
        else:
            events = e.tick(now)
        yield kind, events, before, e, now, readings


@settings(max_examples=300, deadline=None)
@given(script=steps, which=st.sampled_from(PLANS))
def test_a_latched_alarm_never_clears_without_acknowledgement(script, which):
    for _, events, before, _, _, _ in run(which, script):
        for i, ev in enumerate(events):
            if ev.event == "cleared" and ev.alarm_id in before and before[ev.alarm_id].latching:
                acked_now = any(x.event == "acknowledged" and x.alarm_id == ev.alarm_id for x in events[:i])
                assert before[ev.alarm_id].acknowledged or acked_now, ev


@settings(max_examples=300, deadline=None)
@given(script=steps, which=st.sampled_from(PLANS))
def test_a_condition_delay_is_never_shortened(script, which):
    limits = {p.limit.id: p.limit for p in which.limits}
    for _, events, _, _, _, readings in run(which, script):
        for ev in events:
            limit = limits.get(ev.alarm_id)
            if ev.event != "raised" or limit is None or limit.relative:
                continue
            history = [r for r in readings if r.vital == limit.vital and r.t <= ev.t]
            onset = None
            for r in reversed(history):
                if r.value is None or not violates(limit.comparison, r.value, limit.threshold):
                    break
                onset = r.t
            assert onset is not None and ev.t - onset >= limit.delay_s, (ev, onset)


@settings(max_examples=200, deadline=None)
@given(script=steps, which=st.sampled_from(PLANS))
def test_no_physiological_alarm_from_a_no_value_status(script, which):
    blind = [(kind, None, dt) if kind in ("spo2", "pr") else (kind, arg, dt) for kind, arg, dt in script if kind != "nibp"]
    for _, events, _, _, _, _ in run(which, blind):
        assert [ev for ev in events if ev.kind == PHYSIOLOGICAL] == []


@settings(max_examples=200, deadline=None)
@given(script=steps, which=st.sampled_from(PLANS))
def test_a_physiological_alarm_always_carries_a_measured_value(script, which):
    for _, events, _, _, _, readings in run(which, script):
        for ev in events:
            if ev.kind == PHYSIOLOGICAL and ev.event == "raised":
                assert ev.value is not None
                assert any(r.vital == ev.vital and r.value == ev.value for r in readings)


@settings(max_examples=300, deadline=None)
@given(script=steps, which=st.sampled_from(PLANS))
def test_acknowledging_never_silences_a_new_higher_priority_condition(script, which):
    for _, events, before, e, now, _ in run(which, script):
        active = {a.alarm_id: a for a in e.active()}
        for i, ev in enumerate(events):
            if ev.event not in ("raised", "escalated") or ev.alarm_id not in active:
                continue
            if any(x.event == "acknowledged" and x.alarm_id == ev.alarm_id for x in events[i + 1:]):
                continue  # it happened before the nurse pressed Acknowledge (time had passed it): acknowledged knowingly
            alarm = active[ev.alarm_id]
            if alarm.priority != ev.priority:
                continue
            assert not alarm.acknowledged, ev
            old = before.get(ev.alarm_id)
            if e.audio_paused_until is None and (old is None or PRIORITY_RANK[ev.priority] > PRIORITY_RANK[old.priority]):
                assert PRIORITY_RANK[e.audio_priority(now)] >= PRIORITY_RANK[ev.priority]
