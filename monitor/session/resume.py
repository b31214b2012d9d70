"""Continuing a session after the recorder stopped without ending it (a crash, a power cut).

A session is unfinished while it has no ``end`` event. Its rules are rebuilt by replaying what the
store holds, in time order, through the same path as live: readings (pleth excepted, as live), device
conditions, charted observations, doses, acknowledgements and overrides. The transitions that replay produces were recorded
the first time and are dropped; the rules come out with the same baseline, doses, checkpoints, active
alarms and dosing decision they had.
"""

from __future__ import annotations

from collections.abc import Sequence

from devices.reading import Condition, Reading
from devices.vocabulary import VITALS
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.session_rules import SessionRules
from monitor.session.model import Session
from monitor.session.store import Store, StoredEvent, in_use

REPLAYED_VITALS = tuple(v for v in VITALS if v != "pleth")


def is_finished(store: Store, session_id: str) -> bool:
    return bool(store.events(session_id, kind="end"))


def find_unfinished(store: Store, patient: str, route: str, devices: Sequence[str] | None = None) -> Session | None:
    """The newest unfinished session of ``patient`` on ``route`` (and, if given, the same device URIs)."""
    for session in store.sessions():
        if session.patient != patient or session.route != route or session.kind != "clinical":
            continue
        if devices is not None and sorted(session.metadata.get("devices", [])) != sorted(devices):
            continue
        if not is_finished(store, session.id):
            return session
    return None


def _condition(t: float, data: dict) -> Condition:
    return Condition(
        t,
        data["condition"],
        data["source"],
        bool(data.get("active", True)),
        tuple(data.get("vitals", ())),
        data.get("detail", ""),
    )


def restore_rules(store: Store, session: Session, rules: SessionRules) -> tuple[SessionRules, float]:
    """``rules`` brought to the state the stored history leaves them in, and the last time seen.

    Readings keep the status they were stored with (they were judged when they arrived); entries marked
    entered in error are left out; the transitions and dosing changes the replay produces were recorded
    the first time and are dropped.
    """
    corrected = store.corrections(session.id)
    events = [e for e in store.events(session.id) if e.id not in corrected]
    retracted = [e for e in store.events(session.id) if e.id in corrected]
    readings = [
        Reading(r.t, r.vital, r.value, r.unit, r.source, r.status)
        for r in in_use(store.readings(session.id, vitals=REPLAYED_VITALS), retracted)
    ]
    rules.add(readings)
    rules.add(_condition(e.t, e.data) for e in events if e.kind == "condition")
    rules.add(store.doses(session.id))  # only doses whose stored fields are valid
    rules.add(store.observations(session.id))
    last_t = max(
        [session.started, *(r.t for r in readings), *(e.t for e in events if e.kind in ("condition", "dose", "observation"))]
    )
    actions: list[tuple[float, int, AlarmEvent | StoredEvent]] = [
        (a.t, 0, a) for _, a in store.alarm_events(session.id) if a.event in ("acknowledged", "overridden")
    ]
    actions += [(e.t, 1, e) for e in events if e.kind == "screening"]
    for _t, _order, x in sorted(actions, key=lambda x: x[:2]):
        if isinstance(x, AlarmEvent) and x.event == "acknowledged":
            _reacknowledge(rules, x)
        elif isinstance(x, AlarmEvent) and x.who:
            _reoverride(rules, x)
        elif not isinstance(x, AlarmEvent):
            rules.rescreen(x.data.get("answers", {}), x.t)
    rules.act(last_t, lambda _engine: [])  # everything up to and including the last instant, as live judged it
    pleth = store.latest(session.id, "pleth")
    return rules, max(last_t, pleth.t if pleth else last_t)


def _reacknowledge(rules: SessionRules, a: AlarmEvent) -> None:
    """Apply a recorded acknowledgement again."""
    rules.act(a.t, lambda engine: engine.acknowledge(a.alarm_id, a.who or "", a.t))


def _reoverride(rules: SessionRules, a: AlarmEvent) -> None:
    """Apply a recorded override again (the reason is the text after the physician's name)."""
    reason = a.message.split(": ", 1)[1] if ": " in a.message else a.message
    try:
        rules.override(a.alarm_id, a.who or "", reason, a.t)
    except ValueError:
        pass  # the finding it lifted is no longer open at that point of the replay
