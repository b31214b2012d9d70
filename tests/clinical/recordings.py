"""Building a clinical case's recording, and running it through every path that records a session.

A case describes a session as a clinician would (minutes, cuff readings, SpO2 and pulse segments,
doses, device conditions); :func:`build` turns it into a recording (CSV + sidecar) that
``kapmon alarms``, ``kapmon import`` and a paced replay on the live pipeline all read.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from devices.reading import Condition, Item, Reading, no_value, reading
from devices.io.recording import FORMAT, read_recording, write_recording
from devices.virtual.replay import ReplaySource
from devices.virtual.scenarios import screening as full_screening
from monitor.cli.main import main
from monitor.rules.protocol import load
from monitor.session.start import start_session
from monitor.session.store import Store

GAP = "gap"  # no rows at all (the monitor sent nothing)
Value = float | None | str


@dataclass(frozen=True)
class Expect:
    """What the clinic expects: the dosing state at given minutes, alarms raised (id, priority,
    minute, tolerance in seconds), alarm ids or kinds never raised, episode counts, summary figures."""

    decisions: tuple[tuple[float, str], ...] = ()
    raised: tuple[tuple[str, str, float, float], ...] = ()
    absent: tuple[str, ...] = ()
    episodes: dict[str, int] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    max_technical: int | None = None


@dataclass(frozen=True)
class Case:
    """One clinical case, in words first, then as a session."""

    id: str
    words: str
    rule: str
    expect: Expect
    protocol: str = "kap-iv"
    age: int | None = 45
    screening: dict = field(default_factory=dict)
    weight_kg: float = 70.0
    minutes: float = 30.0
    every_s: float = 1.0
    base_bp: tuple[float, float] = (120.0, 78.0)
    cuff_every_min: float | None = 5.0
    bp: dict[float, tuple[float, float] | None] = field(default_factory=dict)
    spo2: tuple[tuple[float, float, Value], ...] = ()
    pr: tuple[tuple[float, float, Value], ...] = ()
    hr: tuple[tuple[float, float, Value], ...] = ()
    conditions: tuple[tuple[float, str, bool, tuple[str, ...]], ...] = ()
    doses: tuple[tuple[float, float, float | None], ...] = ()
    observations: tuple[tuple[float, str, int], ...] = ()  # (minute, scale, level) charted by the nurse
    items: Callable[[], list[Item]] | None = None  # a ready-made stream (e.g. ICU-style numerics from the simulator)

    @property
    def route(self) -> str:
        return next(iter(load(self.protocol).routes))


def ramp(at_min: float, values: Sequence[Value], every_s: float = 1.0) -> tuple[tuple[float, float, Value], ...]:
    """Segments that give ``values`` one sample each, starting at minute ``at_min`` (a change that a
    real sensor reports over a few seconds, not in one jump)."""
    step = every_s / 60
    return tuple((at_min + i * step, at_min + (i + 1) * step, v) for i, v in enumerate(values))


def _value_at(segments: Sequence[tuple[float, float, Value]], minute: float, default: float) -> Value:
    for start, end, value in segments:
        if start <= minute < end:
            return value
    return default


def _continuous(case: Case) -> list[Item]:
    out: list[Item] = []
    n = int(case.minutes * 60 / case.every_s)
    for k in range(n):
        t = k * case.every_s
        for vital, segments, default, source in (("spo2", case.spo2, 97.0, "ox"), ("pr", case.pr, 72.0, "ox"), ("hr", case.hr, 72.0, "ecg")):
            value = _value_at(segments, t / 60, default)
            if value == GAP:
                continue
            out.append(no_value(t, vital, source) if value is None else reading(t, vital, float(value), source))
    return out


def _cuffs(case: Case) -> list[Item]:
    times: dict[float, tuple[float, float] | None] = {}
    if case.cuff_every_min:
        k = 0
        while k * case.cuff_every_min < case.minutes:
            times[round(k * case.cuff_every_min * 60, 3)] = case.base_bp
            k += 1
    for minute, bp in case.bp.items():
        times[round(minute * 60, 3)] = bp
    out: list[Item] = []
    for t, bp in sorted(times.items()):
        if bp is None:
            continue
        sbp, dbp = bp
        out += [reading(t, "sbp", sbp, "cuff"), reading(t, "dbp", dbp, "cuff"), reading(t, "map", round((sbp + 2 * dbp) / 3), "cuff")]
    return out


def items_of(case: Case) -> list[Item]:
    """The recording's readings and conditions, in time order (cuff readings first at one instant)."""
    if case.items is not None:
        body = case.items()
    else:
        body = _continuous(case) + [Condition(m * 60, name, "ox", active, vitals) for m, name, active, vitals in case.conditions]
    cuffs = _cuffs(case)
    return sorted(cuffs + body, key=lambda i: (i.t, 0 if i in cuffs else 1))


def sidecar(case: Case) -> dict:
    answers = full_screening(case.age or 45, **case.screening)
    if case.age is None:
        del answers["age"]
    return {
        "format": FORMAT,
        "description": case.words,
        "started": "2025-06-02T09:00:00+00:00",
        "duration_s": case.minutes * 60,
        "patient": {"pseudonym": case.id, "weight_kg": case.weight_kg},
        "route": case.route,
        "screening": answers,
        "doses": [{"t": m * 60, "route": case.route, "drug": "ketamine", "mg": mg, "end": None if inf is None else (m + inf) * 60}
                  for m, mg, inf in case.doses],
        "observations": [{"t": m * 60, "scale": scale, "level": level, "who": "RN Test"} for m, scale, level in case.observations],
    }


def build(case: Case, folder: Path) -> Path:
    """Write the case as a recording; returns the CSV path."""
    return write_recording(folder / f"{case.id}.csv", items_of(case), sidecar(case))


# ------------------------------------------------------------------------------------------------ paths


@dataclass
class Outcome:
    """What one path decided: alarm transitions and dosing changes (t in seconds from session start)."""

    transitions: list[tuple[float, str, str, str, str]]  # (t, event, alarm id, priority, kind)
    dosing: list[tuple[float, str]]
    messages: dict[str, list[str]] = field(default_factory=dict)


def _cli(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    assert code == 0, (args, out.getvalue())
    return out.getvalue()


def by_alarms_command(csv: Path, case: Case) -> Outcome:
    """``kapmon alarms RECORDING --protocol P --json``."""
    lines = [json.loads(x) for x in _cli("alarms", str(csv), "--protocol", case.protocol, "--json").splitlines()]
    return _outcome([x for x in lines if x["event"] != "dosing"], [x for x in lines if x["event"] == "dosing"], 0.0)


def _outcome(alarms: list[dict], dosing: list[dict], start: float) -> Outcome:
    out = Outcome([(round(a["t"] - start, 3), a["event"], a["alarm_id"], a["priority"], a["kind"]) for a in alarms],
                  [(round(d["t"] - start, 3), d["state"]) for d in dosing])
    for a in alarms:
        out.messages.setdefault(a["alarm_id"], []).append(a["message"])
    return out


def _from_store(store: Store, session_id: str) -> Outcome:
    start = store.session(session_id).started
    alarms = [a.as_dict() for _, a in store.alarm_events(session_id)]
    dosing = [{"t": e.t, "state": e.data["state"]} for e in store.events(session_id, kind="dosing")]
    return _outcome(alarms, dosing, start)


def by_import(csv: Path, case: Case, db: Path) -> tuple[Outcome, dict]:
    """``kapmon import`` (a full-speed record through the hub), then ``kapmon summary --json``."""
    session_id = _cli("import", str(csv), "--db", str(db), "--protocol", case.protocol).splitlines()[-1]
    summary = json.loads(_cli("summary", session_id, "--db", str(db), "--json"))
    return _from_store(Store(db), session_id), summary


def by_paced_replay(csv: Path, case: Case, db: Path, seconds: float = 1.5) -> Outcome:
    """A replay on the live pipeline (hub, scaled clock, store), as a trainer or the demo runs it."""
    source = ReplaySource(read_recording(csv))
    store = Store(db)
    speed = max(200.0, source.recording.end / seconds)
    hub = start_session(store, [source], patient=case.id, route=case.route, weight_kg=case.weight_kg,
                        speed=speed, protocol=case.protocol, screening=source.metadata["screening"],
                        metadata=dict(source.metadata), scripted=True)
    deadline = time.monotonic() + 60
    while not hub.finished.wait(0.1):
        assert time.monotonic() < deadline, f"{case.id}: the replay did not finish"
    return _from_store(store, hub.session.id)
