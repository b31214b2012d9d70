"""Starting a monitored session: the session record, its sources, clock, alarm engine and hub."""

from __future__ import annotations

import getpass
import ipaddress
import time
from collections.abc import Callable, Sequence

from devices.errors import KapmonError
from devices.io.recording import Recording
from devices.registry import open_source
from devices.source import Clock, FastClock, PlaybackClock, ScaledClock, Source, WallClock
from devices.uri import parse_uri
from devices.virtual.replay import ReplaySource
from monitor.auth.users import Users
from monitor.rules.plan import Plan, make_plan
from monitor.rules.protocol import DEFAULT_PROTOCOL, ProtocolError, load
from monitor.rules.session_rules import SessionRules
from monitor.session.hub import Hub, Scheduled
from monitor.session.lock import SessionLock, SessionLocked
from monitor.session.model import Session, new_session_id
from monitor.session.resume import is_finished, restore_rules
from monitor.session.store import Store


class StartError(KapmonError):
    """A session that cannot start; the message says why."""


def session_speed(uris: Sequence[str]) -> float:
    """The pace of a session: 1 for real devices, or the ``speed`` a sim/replay URI asks for."""
    speeds = [parse_uri(u).float_param("speed", 1.0) for u in uris]
    return max(speeds, default=1.0)


def make_clock(start: float, speed: float) -> Clock:
    return WallClock() if speed == 1.0 else ScaledClock(start, speed)


def scheduled_from_metadata(metadata: dict, start: float) -> list[Scheduled]:
    """Doses, observations and notes a scenario or recording scripts, as session events at absolute times."""
    out = [
        Scheduled(
            start + d["t"],
            "dose",
            {
                "route": d["route"],
                "drug": d["drug"],
                "mg": d["mg"],
                "end": None if d.get("end") is None else start + d["end"],
                **({"lot": d["lot"]} if d.get("lot") else {}),
            },
        )
        for d in metadata.get("doses", [])
    ]
    out += [
        Scheduled(start + o["t"], "observation", {"scale": o["scale"], "level": o["level"]}, o.get("who") or "scenario")
        for o in metadata.get("observations", [])
    ]
    out += [Scheduled(start + e["t"], e.get("kind", "note"), {"text": e.get("text", "")}) for e in metadata.get("events", [])]
    return out


def session_rules(plan: Plan, start: float, metadata: dict, weight_kg: float | None) -> SessionRules:
    """The rules of a session starting at ``start``, with the sampling intervals its recording states."""
    return SessionRules(plan, start, sampling=metadata.get("sampling_s"), weight_kg=weight_kg)


def record_at_full_speed(store: Store, session: Session, source: Source, plan: Plan) -> None:
    """Record a finite source (simulation, recording) into a stored session as fast as it runs, under
    ``plan``, its scripted doses and notes played at their times. For tests, benchmarks and imports."""
    start = session.started
    metadata = getattr(source, "metadata", {})
    scheduled = scheduled_from_metadata(metadata, start)
    Hub(store, session, [source], FastClock(start), session_rules(plan, start, metadata, session.weight_kg), scheduled).run()


def build_plan(protocol: str | None, route: str, screening: dict) -> Plan:
    """The patient's monitoring plan; raise ``StartError`` (naming file, line and field) if the rules are
    bad, or naming the protocol and the route when the protocol has no rules for this route."""
    try:
        rules = load(protocol or DEFAULT_PROTOCOL[route])
    except ProtocolError as exc:
        raise StartError(f"not starting without valid rules: {exc}") from None
    if route not in rules.routes:
        raise StartError(
            f"protocol {rules.name} has no rules for route {route} (it has {', '.join(rules.routes)}): "
            f"give a protocol for {route} (e.g. {DEFAULT_PROTOCOL[route]})"
        )
    return make_plan(rules, screening, route)


def start_session(
    store: Store,
    sources: Sequence[Source],
    *,
    patient: str,
    route: str,
    weight_kg: float | None,
    speed: float = 1.0,
    kind: str = "clinical",
    protocol: str | None = None,
    screening: dict | None = None,
    metadata: dict | None = None,
    scripted: bool = False,
    who: str | None = None,
    playback: bool = False,
) -> Hub:
    """Create the session in the store and start its hub under the protocol's plan for this patient.

    ``scripted`` plays the metadata's doses and notes at their times (simulations); ``playback``
    gives a clock that can be paused, sped up and skipped (training)."""
    started = time.time()
    meta = dict(metadata or {})
    plan = build_plan(protocol, route, screening if screening is not None else meta.get("screening", {}))
    session_id = new_session_id(started)

    def start() -> Hub:
        session = create_session(
            store, plan, session_id, patient=patient, weight_kg=weight_kg, started=started, kind=kind, metadata=meta, who=who
        )
        clock = PlaybackClock(started, speed) if playback else make_clock(started, speed)
        scheduled = scheduled_from_metadata(meta, started) if scripted else []
        return Hub(store, session, sources, clock, session_rules(plan, started, meta, weight_kg), scheduled).start()

    return run_locked(store, session_id, start)


def lock_session(store: Store, session_id: str) -> SessionLock:
    """The session's recorder lock (``monitor.session.lock``); ``StartError`` naming the holder if it is taken."""
    try:
        return SessionLock(store.path, session_id)
    except SessionLocked as exc:
        raise StartError(str(exc)) from None


def run_locked(store: Store, session_id: str, start: Callable[[], Hub]) -> Hub:
    """Start a session's hub under its recorder lock, taken first (before the session is created or
    resumed, so no second recorder can attach meanwhile) and released when the hub finishes."""
    lock = lock_session(store, session_id)
    try:
        hub = start()
    except BaseException:
        lock.release()
        raise
    lock.release_when_finished(hub.finished)
    return hub


def create_session(
    store: Store,
    plan: Plan,
    session_id: str,
    *,
    patient: str,
    weight_kg: float | None,
    started: float,
    kind: str,
    metadata: dict,
    who: str | None,
) -> Session:
    """Store a new session under ``plan`` and audit the rules it runs under."""
    meta = {**metadata, "screening": dict(plan.screening)}
    session = Session(session_id, patient, started, plan.route.name, weight_kg, plan.name, kind, meta)
    store.create_session(session)
    store.write(session.id, events=[(started, "protocol", plan_audit(plan), who)])
    return session


def import_recording(
    store: Store,
    recording: Recording,
    plan: Plan,
    *,
    patient: str,
    started: float,
    who: str | None,
) -> Session:
    """Store a recording as a reviewable session, judged by ``plan`` through the same path as live."""
    meta = dict(recording.metadata)
    meta.setdefault("sampling_s", recording.sampling_s())
    weight = (meta.get("patient") or {}).get("weight_kg")
    session_id = new_session_id(started)
    with lock_session(store, session_id):
        session = create_session(
            store, plan, session_id, patient=patient, weight_kg=weight, started=started, kind="clinical", metadata=meta, who=who
        )
        record_at_full_speed(store, session, ReplaySource(recording), plan)
    return session


def end_session(store: Store, hub: Hub, who: str, detail: dict | None = None) -> float:
    """End a running session on someone's explicit request: the audit log records who and when (and
    ``detail``, such as the client address) before the hub stops. Returns the wall time of the entry."""
    if not who.strip():
        raise ValueError("ending a session needs the name of who ends it")
    now = time.time()
    store.write_audit(
        now, "session_ended", who, {"session": hub.session.id, "kind": hub.session.kind, "session_t": hub.now(), **(detail or {})}
    )
    hub.stop()
    return now


def plan_audit(plan: Plan) -> dict:
    """What the audit log keeps of the rules a session runs under."""
    meta = plan.protocol.meta
    return {"protocol": plan.name, "version": meta.version, "route": plan.route.name, "screening": dict(plan.screening)}


def resume_session(
    store: Store,
    session: Session,
    sources: Sequence[Source],
    *,
    speed: float = 1.0,
    protocol: str | None = None,
    who: str | None = None,
) -> Hub:
    """Continue an unfinished session (after a crash) in the same record: the alarm engine is rebuilt
    from what the store holds (baseline, doses, conditions, acknowledgements), then the hub starts.
    ``StartError`` if another recorder holds the session or it has ended meanwhile."""
    plan = build_plan(protocol, session.route, session.metadata.get("screening", {}))
    if plan.name != session.protocol:
        raise StartError(f"session {session.id} runs under protocol {session.protocol}, not {plan.name}")

    def start() -> Hub:
        if is_finished(store, session.id):  # its recorder ended it between the lookup and the lock
            raise StartError(f"session {session.id} has ended: nothing to resume")
        rules, last_t = restore_rules(store, session, session_rules(plan, session.started, session.metadata, session.weight_kg))
        now = time.time()
        begin = max(now, last_t) if speed != 1.0 else now
        store.write(session.id, events=[(begin, "resumed", {"last_t": last_t, "gap_s": round(begin - last_t, 3)}, who)])
        return Hub(store, session, sources, make_clock(begin, speed), rules).start()

    return run_locked(store, session.id, start)


def open_sources(uris: Sequence[str]) -> list[Source]:
    return [open_source(u) for u in uris]


def check_bind(host: str, users: Users | None = None) -> None:
    """Refuse to serve patient data beyond this machine without sign-in (a users file with a user in it)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and (users is None or not users.hashes):
        raise StartError(
            f"refusing to serve on {host} without sign-in: only loopback addresses (127.0.0.1, ::1, localhost) "
            "are allowed without --users FILE (create it with: kapmon user add NAME --users FILE)"
        )


def operator() -> str | None:
    """Who started the recorder: the operating-system account (for the audit log)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
