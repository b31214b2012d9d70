"""Continuing a session after the recorder stopped without ending it (a crash, a power cut).

A session is unfinished while it has no ``end`` event. Its alarm engine is rebuilt by replaying what
the store holds, in time order: valid and no-value readings (pleth excepted, as live), device conditions,
doses and acknowledgements. The transitions that replay produces were recorded the first time and are
dropped; the engine comes out with the same baseline, doses, checkpoints and active alarms it had.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from devices.reading import VITALS, Condition, Reading
from monitor.alarms import AlarmEngine
from monitor.plan import Plan
from monitor.session import Session
from monitor.store import Store, dose_from_data

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
    return Condition(t, data["condition"], data["source"], bool(data.get("active", True)),
                     tuple(data.get("vitals", ())), data.get("detail", ""))


def _history(store: Store, session: Session) -> Iterator[tuple[float, int, object]]:
    """Everything the engine was given, merged by time (readings before events at the same instant)."""
    readings = ((r.t, 0, r) for r in store.readings(session.id, vitals=REPLAYED_VITALS))
    events = []
    for e in store.events(session.id):
        if e.kind == "condition":
            events.append((e.t, 1, _condition(e.t, e.data)))
        elif e.kind == "dose":
            events.append((e.t, 1, dose_from_data(e.t, e.data)))
    acks = [(a.t, 2, a) for _, a in store.alarm_events(session.id) if a.event == "acknowledged"]
    return heapq.merge(readings, sorted(events, key=lambda x: x[:2]), acks, key=lambda x: x[:2])


def restore_engine(store: Store, session: Session, plan: Plan) -> tuple[AlarmEngine, float]:
    """A fresh engine brought to the state the stored history leaves it in, and the last time seen."""
    engine = AlarmEngine(plan, session.started)
    last_t = session.started
    for t, order, item in _history(store, session):
        if order == 0 or isinstance(item, Condition):
            stored = item
            if order == 0:
                stored = Reading(item.t, item.vital, item.value, item.unit, item.source, item.status)
            engine.on_item(stored)
        elif order == 1:
            engine.on_dose(item.t, mg=item.mg, end=item.end, route=item.route, drug=item.drug)
        else:
            engine.acknowledge(item.alarm_id, item.who or "", t)
        last_t = max(last_t, t)
    pleth = store.latest(session.id, "pleth")
    return engine, max(last_t, pleth.t if pleth else last_t)
