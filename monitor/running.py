"""Starting a monitored session: the session record, its sources, clock, alarm engine and hub."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence

from devices.registry import open_source
from devices.source import Clock, PlaybackClock, ScaledClock, Source, WallClock
from devices.uri import parse_uri
from monitor.alarms import AlarmEngine
from monitor.hub import Hub, Scheduled
from monitor.plan import Plan, make_plan
from monitor.protocol import ProtocolError, load
from monitor.session import Session, new_session_id
from monitor.store import Store

# The shipped protocol used for a route when none is named.
DEFAULT_PROTOCOL = {
    "iv": "kap-iv",
    "im": "kap-im",
    "sublingual": "kap-sublingual",
    "oral": "kap-sublingual",
    "intranasal": "esketamine-intranasal",
}


class StartError(Exception):
    """A session that cannot start; the message says why."""


def session_speed(uris: Sequence[str]) -> float:
    """The pace of a session: 1 for real devices, or the ``speed`` a sim/replay URI asks for."""
    speeds = [parse_uri(u).float_param("speed", 1.0) for u in uris]
    return max(speeds, default=1.0)


def make_clock(start: float, speed: float) -> Clock:
    return WallClock() if speed == 1.0 else ScaledClock(start, speed)


def scheduled_from_metadata(metadata: dict, start: float) -> list[Scheduled]:
    """Doses and notes a scenario or recording scripts, as session events at absolute times."""
    out = [
        Scheduled(start + d["t"], "dose", {"route": d["route"], "drug": d["drug"], "mg": d["mg"],
                                           "end": None if d.get("end") is None else start + d["end"]})
        for d in metadata.get("doses", [])
    ]
    out += [Scheduled(start + e["t"], e.get("kind", "note"), {"text": e.get("text", "")}) for e in metadata.get("events", [])]
    return out


def build_plan(protocol: str | None, route: str, screening: dict) -> Plan:
    """The patient's monitoring plan; raise ``StartError`` (naming file, line and field) if the rules are bad."""
    try:
        rules = load(protocol or DEFAULT_PROTOCOL[route])
    except ProtocolError as exc:
        raise StartError(f"not starting without valid rules: {exc}") from None
    if route not in rules.routes:
        if len(rules.routes) != 1:
            raise StartError(f"protocol {rules.name} has no rules for route {route} (it has {', '.join(rules.routes)})")
        route = next(iter(rules.routes))
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
    playback: bool = False,
) -> Hub:
    """Create the session in the store and start its hub under the protocol's plan for this patient.

    ``scripted`` plays the metadata's doses and notes at their times (simulations); ``playback``
    gives a clock that can be paused, sped up and skipped (training)."""
    started = time.time()
    meta = dict(metadata or {})
    plan = build_plan(protocol, route, screening if screening is not None else meta.get("screening", {}))
    meta["screening"] = dict(plan.screening)
    session = Session(new_session_id(started), patient, started, route, weight_kg, plan.name, kind, meta)
    store.create_session(session)
    clock = PlaybackClock(started, speed) if playback else make_clock(started, speed)
    scheduled = scheduled_from_metadata(meta, started) if scripted else []
    return Hub(store, session, sources, clock, AlarmEngine(plan, started), scheduled).start()


def open_sources(uris: Sequence[str]) -> list[Source]:
    return [open_source(u) for u in uris]


def check_bind(host: str) -> None:
    """Refuse to serve patient data beyond this machine: sign-in is required for that."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise StartError(
            f"refusing to serve on {host}: only loopback addresses (127.0.0.1, ::1, localhost) are allowed "
            "without sign-in, which this version does not provide"
        )
