"""What happened in one recorded session, in the terms a prescriber signs off.

``load_record`` reads a session from the store (every vital except the pleth waveform); every
other function here is pure: the record and the protocol in, numbers out.

Rules (documented here because the report and the review page quote them):

Only trusted readings count (status ``ok``): "no value" and questionable readings never become a
peak, a minimum, a baseline or time below 90 %.

- **Baseline**: the one the alarm engine froze at the first dose (stored as the ``baseline``
  event), so the summary and the rise alarms agree; for older records, the protocol's baseline rule
  (``monitor.rules.baseline``) applied to the readings before the first dose. No dose: no baseline, no rises.
- **Peak** SBP/DBP: the highest valid reading at or after the first dose (the whole session if
  there was no dose); time is measured from the first dose. **Rise** = peak - baseline.
- **Lowest** values and ranges are shown as measured (89.5 stays 89.5): never rounded across a
  threshold.
- **Time below 90 %**: each trusted SpO2 reading below 90 % holds until the next SpO2 reading
  (sample and hold), for as long as the alarm engine would still call it fresh (the protocol's quiet
  time, or its number of the source's usual intervals): at one reading a minute a minute counts; a
  longer gap, or a no-value or questionable reading, is not time below 90 %.
- **Alarm episodes** run from ``raised`` to the first ``latched``, ``cleared`` or ``reset`` (or the
  session end); every new ``raised`` is a new episode, even of an alarm still latched from before;
  an episode counts at the highest priority it reached; time to acknowledge is the first
  ``acknowledged`` transition after ``raised`` minus ``raised``.
- **Discharge**: a recorded ``discharge`` event (or a phase whose text starts with "discharge");
  otherwise the earliest time after the last dose from which the discharge criteria of
  ``monitor.rules.discharge`` (the same advisory the live page shows: the plan's minimum observation since
  the last dose, BP within the protocol's percentage of baseline, SpO2 above its floor, no active
  alarm) held, judged at every reading, until the end of the recording.
- **REMS-style summary**: the last BP before the first dose; the BP closest to the route's ~40 min
  checkpoint (within its window); the last BP of the session; total monitoring time (session
  start to end) and time from the first dose to the end (the REMS form asks for >= 2 h); sedation and
  dissociation answered from the charted MOAA/S and dissociation levels (any level showing an effect: yes;
  charted, never affected: no; never charted: not known).
- **Observations**: per charted scale, the worst level and when it was first charted, the last level, and
  the time affected (``monitor.analysis.charted``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from devices.errors import KapmonError
from devices.io.recording import span_text
from devices.reading import Reading
from devices.vocabulary import OK, PRIORITIES, PRIORITY_RANK, SCALES, WAVEFORMS
from monitor.analysis.charted import ScaleSummary, after_dose, charted_answer, summarise_charted
from monitor.analysis.columns import Columns, LazyReadings, Table, in_record_order, table_of, without
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.alarms import fmt
from monitor.rules.baseline import Baseline, BaselineBuilder, describe_rule
from monitor.rules.discharge import readiness
from monitor.rules.plan import Plan, make_plan
from monitor.rules.protocol import DEFAULT_PROTOCOL, Protocol, ProtocolError, load
from monitor.session.model import Dose, Observation, Session
from monitor.session.store import MANUAL, Store, StoredEvent, StoredReading, in_use

SPO2_QUIET_S = 30.0  # the shipped protocols' quiet time for SpO2: a reading is fresh this long at least
GAP_INTERVALS = 3.0  # the shipped protocols' stale_intervals: or this many of the source's usual intervals
SPO2_LOW = 90.0
REMS_MIN_S = 2 * 3600.0
CLOSING = ("latched", "cleared", "reset")


class SessionNotFound(KapmonError, LookupError):
    """No session with that id in the store."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session as recorded: readings (no pleth) in time order, events, doses, alarm transitions; entries
    marked entered in error are left out of all of these and kept apart in ``retracted``."""

    session: Session
    readings: Sequence[StoredReading]  # a list, or read from the store when first used (LazyReadings)
    events: list[StoredEvent]
    doses: list[Dose]
    alarms: list[AlarmEvent]
    end: float
    retracted: list[StoredEvent] = field(default_factory=list)  # entries marked entered in error (shown struck through)
    corrections: dict[int, StoredEvent] = field(default_factory=dict)  # corrected event id -> the correction
    observations: list[Observation] = field(default_factory=list)  # charted levels in use, in time order

    @property
    def first_dose(self) -> float | None:
        return min((d.t for d in self.doses), default=None)


def load_record(store: Store, session_id: str, vitals: Sequence[str] | None = None) -> SessionRecord:
    """Read a session from the store; ``vitals`` defaults to every vital but the pleth waveform."""
    session = store.session(session_id)
    if session is None:
        raise SessionNotFound(f"no session {session_id!r} in {store.path}")
    wanted = vitals if vitals is not None else ("sbp", "dbp", "map", "hr", "pr", "spo2", "pi", "rr", "etco2", "cuff")
    corrected = store.corrections(session_id)
    every = store.events(session_id)
    retracted = [e for e in every if e.id in corrected]
    events = [e for e in every if e.id not in corrected]
    readings = read_readings(store, session_id, wanted, retracted)
    alarms = [a for _, a in store.alarm_events(session_id)]
    ends = [e.t for e in events if e.kind == "end"]
    newest = [float(c.t.max()) for c in table_of(readings).vitals.values()]
    last = max([session.started] + newest + [e.t for e in events] + [a.t for a in alarms])
    return SessionRecord(
        session,
        readings,
        events,
        store.doses(session_id),
        alarms,
        max(ends) if ends else last,
        retracted,
        corrected,
        store.observations(session_id),
    )


def events_left_out(store: Store, session_id: str) -> list[str]:
    """One line per stored event whose time is not in the session (``Store.impossible_events``): every reader
    leaves it out, and what shows a record says so."""
    return [
        f"stored {kind} event {i}: its time {t!r} is not in the session (from its start to {span_text()} after), left out"
        for i, t, kind in store.impossible_events(session_id)
    ]


def read_readings(
    store: Store, session_id: str, vitals: Sequence[str], retracted: Sequence[StoredEvent]
) -> Sequence[StoredReading]:
    """The in-use readings of ``vitals`` in time order (``in_use``): numerics read as columns, their objects built
    only when asked for (from the rows the columns were read from, no newer); with a waveform, objects at once."""
    if any(v in WAVEFORMS for v in vitals):
        return in_use(store.readings(session_id, vitals=vitals), retracted)
    wrong = [e.t for e in retracted if e.kind == "manual_nibp"]
    found = {}
    for vital in dict.fromkeys(vitals):
        ids, t, value, ok, source = store.numeric_columns(session_id, vital)
        c = Columns(ids, t, value, ok, source, pos=np.zeros(len(t), dtype=np.int64))  # placed by in_record_order
        found[vital] = without(c, (c.source == MANUAL) & np.isin(c.t, wrong)) if wrong else c
    table = in_record_order(found)
    through = max((int(c.id.max()) for c in table.vitals.values()), default=0)
    return LazyReadings(
        load=lambda: in_use(store.readings(session_id, vitals=vitals, through_id=through), retracted), table=table
    )


def protocol_for(session: Session) -> Protocol:
    """The session's protocol if it names a loadable one, else the shipped protocol for its route."""
    return judged_under(session)[0]


def judged_under(session: Session) -> tuple[Protocol, str]:
    """The protocol a record is judged under and how to name it: the session's own, or (when its file can no
    longer be loaded) the shipped protocol for its route, named so that nobody takes it for the session's."""
    if session.protocol:
        try:
            protocol = load(session.protocol)
            return protocol, protocol.name
        except (ProtocolError, OSError) as exc:
            fallback = load(DEFAULT_PROTOCOL.get(session.route, "kap-iv"))
            return fallback, f"{fallback.name} (the session's protocol {session.protocol} could not be loaded: {exc})"
    protocol = load(DEFAULT_PROTOCOL.get(session.route, "kap-iv"))
    return protocol, protocol.name


# --------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Point:
    """A value at a time; ``after_dose_s`` is the time since the first dose (None without a dose)."""

    t: float
    value: float
    after_dose_s: float | None


@dataclass(frozen=True, slots=True)
class BP:
    """One cuff measurement: systolic, diastolic and mean taken together."""

    t: float
    sbp: float | None
    dbp: float | None
    map: float | None
    source: str


def bp_readings(readings: Sequence[StoredReading]) -> list[BP]:
    """Cuff measurements: sbp/dbp/map readings grouped by time and source."""
    return bp_of(table_of(readings))


def bp_of(table: Table) -> list[BP]:
    """:func:`bp_readings` of a record's columns."""
    groups: dict[tuple[float, str], dict[str, float | None]] = {}
    for vital in ("sbp", "dbp", "map"):
        c = table.of(vital)
        for t, source, value, ok in zip(c.t.tolist(), c.source.tolist(), c.value.tolist(), c.ok.tolist()):
            groups.setdefault((t, source), {})[vital] = value if ok and value == value else None
    return [BP(t, g.get("sbp"), g.get("dbp"), g.get("map"), src) for (t, src), g in sorted(groups.items())]


def baseline(record: SessionRecord, protocol: Protocol) -> dict[str, float]:
    """The baseline the alarm engine froze at the first dose; empty without a dose."""
    first_dose = record.first_dose
    if first_dose is None:
        return {}
    frozen = next((e for e in record.events if e.kind == "baseline"), None)
    if frozen is not None:
        return {k: float(v) for k, v in frozen.data.get("values", {}).items()}
    builder = BaselineBuilder(protocol.baseline)
    readings = record.readings
    for r in readings:
        if r.t <= first_dose and r.status == OK:  # a reading at the dose instant is pre-dose, as for the engine
            builder.add(Reading(r.t, r.vital, r.value, r.unit, r.source, r.status))
    found = builder.baseline()
    return dict(found.values) if found else {}


def peak(readings: Sequence[StoredReading], vital: str, first_dose: float | None) -> Point | None:
    """The highest valid reading after the first dose (whole session without a dose); a reading at the dose
    instant is pre-dose, as for the engine and the baseline."""
    return peak_of(table_of(readings).of(vital), first_dose)


def peak_of(c: Columns, first_dose: float | None) -> Point | None:
    """:func:`peak` of one vital's columns (the earliest of equal highest values)."""
    keep = c.trusted() if first_dose is None else c.trusted() & (c.t > first_dose)
    return _extreme(c.t[keep], c.value[keep], np.max, first_dose)


def _extreme(t: np.ndarray, v: np.ndarray, pick: Callable, first_dose: float | None) -> Point | None:
    """The point of the value ``pick`` chooses (the earliest of equal ones), or None without values."""
    if not len(v):
        return None
    value = pick(v)
    at = float(t[v == value].min())
    return Point(at, float(value), None if first_dose is None else at - first_dose)


def rise(top: Point | None, reference: float | None) -> Point | None:
    """Largest rise from baseline: the peak minus the baseline value."""
    if top is None or reference is None:
        return None
    return Point(top.t, top.value - reference, top.after_dose_s)


def lowest(readings: Sequence[StoredReading], vital: str, first_dose: float | None) -> Point | None:
    """The lowest valid reading of the whole session."""
    return lowest_of(table_of(readings).of(vital), first_dose)


def lowest_of(c: Columns, first_dose: float | None) -> Point | None:
    """:func:`lowest` of one vital's columns (the earliest of equal lowest values)."""
    keep = c.trusted()
    return _extreme(c.t[keep], c.value[keep], np.min, first_dose)


def usual_interval(readings: Sequence[StoredReading], vital: str) -> float | None:
    """The median seconds between consecutive readings of ``vital`` (None with fewer than two)."""
    return usual_interval_of(table_of(readings).of(vital))


def usual_interval_of(c: Columns) -> float | None:
    """:func:`usual_interval` of one vital's columns."""
    steps = np.diff(np.unique(c.t)).tolist()
    return statistics.median(steps) if steps else None


def time_below(
    readings: Sequence[StoredReading], vital: str, limit: float, fresh_s: float = SPO2_QUIET_S, intervals: float = GAP_INTERVALS
) -> float:
    """Seconds below ``limit``: each trusted reading below it holds until the next reading of the vital,
    for as long as the alarm engine would still call it fresh: ``fresh_s`` (the protocol's quiet time) or
    ``intervals`` of the source's usual interval, whichever is longer; a longer gap counts nothing."""
    return time_below_of(table_of(readings).of(vital), limit, fresh_s, intervals)


def time_below_of(c: Columns, limit: float, fresh_s: float = SPO2_QUIET_S, intervals: float = GAP_INTERVALS) -> float:
    """:func:`time_below` of one vital's columns (in record order)."""
    interval = usual_interval_of(c)
    max_step = max(fresh_s, intervals * interval) if interval else fresh_s
    steps = np.diff(c.t)
    counted = c.ok[:-1] & (c.value[:-1] < limit) & (steps <= max_step)  # NaN (no value) is never below
    total = 0.0
    for step in steps[counted].tolist():  # added in order, as a reading at a time would
        total += step
    return total


def value_range(readings: Sequence[StoredReading], vital: str) -> tuple[float, float] | None:
    return value_range_of(table_of(readings).of(vital))


def value_range_of(c: Columns) -> tuple[float, float] | None:
    """The lowest and highest trusted value of one vital's columns."""
    values = c.value[c.trusted()]
    return (float(values.min()), float(values.max())) if len(values) else None


# --------------------------------------------------------------------------------------------- alarms


@dataclass(frozen=True, slots=True)
class Episode:
    """One alarm from raised to cleared/reset (``end`` None: still active when the recording ended)."""

    alarm_id: str
    priority: str
    kind: str
    vital: str | None
    message: str
    start: float
    end: float | None
    acknowledged_at: float | None
    acknowledged_by: str | None
    transitions: tuple[AlarmEvent, ...]

    def until(self, session_end: float) -> float:
        return self.end if self.end is not None else session_end


def episodes(alarms: Sequence[AlarmEvent]) -> list[Episode]:
    """Alarm transitions grouped into episodes, in order of raising: each ``raised`` starts one, and
    the transitions of that alarm up to its next ``raised`` (an acknowledgement of a latched alarm
    included) belong to it."""
    latest: dict[str, list[AlarmEvent]] = {}
    every: list[list[AlarmEvent]] = []
    for a in sorted(alarms, key=lambda a: a.t):
        if a.event == "raised":
            latest[a.alarm_id] = [a]
            every.append(latest[a.alarm_id])
        elif a.alarm_id in latest:
            latest[a.alarm_id].append(a)
    return sorted((_episode(tr) for tr in every), key=lambda e: e.start)


def _episode(tr: list[AlarmEvent]) -> Episode:
    first = tr[0]
    closing = next((a for a in tr if a.event in CLOSING), None)
    during = tr if closing is None else tr[: tr.index(closing) + 1]
    top = max(during, key=lambda a: PRIORITY_RANK.get(a.priority, 0))
    ack = next((a for a in tr if a.event == "acknowledged"), None)
    end = None if closing is None else closing.t
    return Episode(
        first.alarm_id,
        top.priority,
        first.kind,
        first.vital,
        first.message,
        first.t,
        end,
        None if ack is None else ack.t,
        None if ack is None else ack.who,
        tuple(tr),
    )


@dataclass(frozen=True, slots=True)
class AlarmStats:
    """Alarm episodes of one priority and how fast they were acknowledged."""

    priority: str
    count: int
    acknowledged: int
    median_ack_s: float | None
    max_ack_s: float | None


def alarm_stats(eps: Sequence[Episode]) -> list[AlarmStats]:
    """Counts and time to acknowledge, one row per priority (high first)."""
    rows = []
    for priority in PRIORITIES:
        mine = [e for e in eps if e.priority == priority]
        waits = [e.acknowledged_at - e.start for e in mine if e.acknowledged_at is not None]
        rows.append(
            AlarmStats(
                priority, len(mine), len(waits), statistics.median(waits) if waits else None, max(waits) if waits else None
            )
        )
    return rows


# --------------------------------------------------------------------------------------------- discharge


@dataclass(frozen=True, slots=True)
class Criterion:
    text: str
    met: bool


@dataclass(frozen=True, slots=True)
class Discharge:
    """When the patient was (or could have been) discharged, and the criteria at that time.

    ``how``: "recorded" (a discharge event), "criteria" (earliest time all criteria held to the
    end) or "not met" (criteria evaluated at the end of the recording). ``could_leave``: from when the
    criteria held to the end of the record (None: never), whatever was recorded.
    """

    t: float
    how: str
    criteria: tuple[Criterion, ...]
    could_leave: float | None = None


def recorded_discharge(events: Sequence[StoredEvent]) -> float | None:
    """Time of a recorded discharge: a ``discharge`` event or a phase whose text starts with it."""
    for e in events:
        text = str(e.data.get("text", "")).strip().lower()
        if e.kind == "discharge" or (e.kind == "phase" and text.startswith("discharge")):
            return e.t
    return None


def screening_of(record: SessionRecord) -> dict:
    """The session's screening answers: the last given on the page, else those it started with."""
    given = [e for e in record.events if e.kind == "screening"]
    return dict(given[-1].data.get("answers", {})) if given else dict(record.session.metadata.get("screening") or {})


def plan_for(record: SessionRecord, protocol: Protocol) -> Plan:
    """The monitoring plan of the session: its screening answers (if recorded) on its route."""
    route = record.session.route if record.session.route in protocol.routes else None
    try:
        return make_plan(protocol, screening_of(record), route)
    except ValueError:
        return make_plan(protocol, {}, route or next(iter(protocol.routes)))


def criteria_at(
    t: float, latest: dict[str, float], active_alarms: int, last_dose_end: float | None, base: dict[str, float], plan: Plan
) -> tuple[Criterion, ...]:
    """The discharge criteria (``monitor.rules.discharge``) judged with the latest values known at ``t``."""
    ref = Baseline(dict(base), {v: 0 for v in base}, "") if base else None
    r = readiness(plan, ref, latest.get, last_dose_end, active_alarms, t)
    return tuple(Criterion(m, True) for m in r.met) + tuple(Criterion(m, False) for m in r.missing)


def discharge(record: SessionRecord, base: dict[str, float], eps: Sequence[Episode], plan: Plan) -> Discharge:
    """The recorded discharge, else the earliest time the criteria held until the end; either way, when
    the patient could have left (the criteria held from then to the end of the record)."""
    ready_since, ready, at_end = _criteria_scan(record, base, eps, plan, record.end)
    could_leave = ready_since if ready_since is not None and all(c.met for c in at_end) else None
    recorded = recorded_discharge(record.events)
    if recorded is not None:
        return Discharge(recorded, "recorded", _criteria_scan(record, base, eps, plan, recorded)[2], could_leave)
    if could_leave is not None:
        return Discharge(could_leave, "criteria", ready, could_leave)
    return Discharge(record.end, "not met", at_end, None)


def _deciding_readings(
    table: Table, marks: Sequence[float], last_end: float | None, observation_s: float
) -> tuple[dict[int, float], dict[int, tuple[str, float]]]:
    """The readings (by place in the record) at which the discharge outcome can change: {place: time} of each
    first reading at or after an alarm starts or ends, the last dose ends and the observation time is done
    (every reading when the record is not in time order), and {place: (vital, value)} of every trusted SBP, DBP
    and SpO2 reading with a value other than the one before; at any other reading the criteria are judged on the
    same values as at the one before."""
    t = table.times()
    if np.any(np.diff(t) < 0):
        at = np.arange(len(t))
    else:
        edges = [*marks] + ([] if last_end is None else [last_end])
        done: np.ndarray = np.array([], np.int64) if last_end is None else np.flatnonzero(t - last_end >= observation_s)[:1]
        at = np.unique(np.concatenate([np.searchsorted(t, edges, side="left"), done]).astype(np.int64))
        at = at[at < len(t)]
    updates: dict[int, tuple[str, float]] = {}
    for vital in ("sbp", "dbp", "spo2"):
        c = table.of(vital)
        pos, value = c.pos[c.trusted()], c.value[c.trusted()]
        new = np.ones(len(value), dtype=bool)
        new[1:] = value[1:] != value[:-1]  # the same value again changes nothing
        updates.update((p, (vital, v)) for p, v in zip(pos[new].tolist(), value[new].tolist()))
    every = t.tolist()
    return {p: every[p] for p in (*at.tolist(), *updates)}, updates


def _criteria_scan(
    record: SessionRecord, base: dict[str, float], eps: Sequence[Episode], plan: Plan, limit: float
) -> tuple[float | None, tuple[Criterion, ...], tuple[Criterion, ...]]:
    """Judge the criteria at every reading up to ``limit``: (since when they have held, the criteria
    then, the criteria at ``limit``)."""
    last_end = max((d.end if d.end is not None else d.t for d in record.doses), default=None)
    marks = sorted([(e.start, 1) for e in eps] + [(e.end, -1) for e in eps if e.end is not None])
    latest: dict[str, float] = {}
    active = 0
    k = 0
    ready_since: float | None = None
    ready: tuple[Criterion, ...] = ()
    judged: tuple | None = None
    met: dict[tuple, bool] = {}  # whether every criterion holds depends on the key alone; only the texts on the time
    times, updates = _deciding_readings(table_of(record.readings), [m for m, _ in marks], last_end, plan.observation_s)
    for at in sorted(times):  # the readings at which the outcome can change, in record order
        t = times[at]
        if t > limit:
            break
        while k < len(marks) and marks[k][0] <= t:
            active += marks[k][1]
            k += 1
        if at in updates:
            vital, value = updates[at]
            latest[vital] = value
        if last_end is None or t < last_end:
            continue
        key = (latest.get("sbp"), latest.get("dbp"), latest.get("spo2"), active, t - last_end >= plan.observation_s)
        if key == judged:  # only these decide the outcome: judge again when one changes
            continue
        judged = key
        if key not in met:
            met[key] = all(c.met for c in criteria_at(t, latest, active, last_end, base, plan))
        if not met[key]:
            ready_since = None
        elif ready_since is None:
            ready_since, ready = t, criteria_at(t, latest, active, last_end, base, plan)
    while k < len(marks) and marks[k][0] <= limit:
        active += marks[k][1]
        k += 1
    return ready_since, ready, criteria_at(limit, latest, active, last_end, base, plan)


# --------------------------------------------------------------------------------------------- REMS


@dataclass(frozen=True, slots=True)
class Rems:
    """The REMS-style monitoring summary: BP pre-dose, at ~40 min and at the end; monitoring time."""

    pre_dose: BP | None
    checkpoint: BP | None
    checkpoint_min: float
    end: BP | None
    monitoring_s: float
    after_dose_s: float | None
    pre_discharge: BP | None = None  # the last BP before the recorded discharge (or the end of the record)
    sedated: bool | None = None  # from the MOAA/S charted after the dose: None when it was not
    dissociated: bool | None = None  # from the dissociation levels charted after the dose: None when they were not
    charted: tuple[ScaleSummary, ...] = ()  # each scale as charted after the first dose, which answers both

    @property
    def two_hours(self) -> bool:
        return self.after_dose_s is not None and self.after_dose_s >= REMS_MIN_S


def rems(record: SessionRecord, protocol: Protocol) -> Rems:
    """Pre-dose, ~40 min, pre-discharge and end-of-session BP; total monitoring time; sedation and dissociation
    as charted after the first dose."""
    bps = [b for b in bp_of(table_of(record.readings)) if b.sbp is not None]
    first = record.first_dose
    charted = summarise_charted(after_dose(record.observations, first), record.end, protocol.observations)
    route = protocol.routes.get(record.session.route)
    cp = next(iter(route.checkpoints), None) if route else None
    at_min, window_min = (cp.after_dose_min, cp.window_min) if cp else (40.0, 10.0)
    pre = [b for b in bps if first is not None and b.t <= first]  # at the dose instant is pre-dose
    near: BP | None = None
    if first is not None:
        target = first + at_min * 60
        close = [b for b in bps if abs(b.t - target) <= window_min * 60]
        near = min(close, key=lambda b: abs(b.t - target)) if close else None
    leaving = recorded_discharge(record.events) or record.end
    before_leaving = [b for b in bps if b.t <= leaving]
    return Rems(
        pre[-1] if pre else None,
        near,
        at_min,
        bps[-1] if bps else None,
        record.end - record.session.started,
        None if first is None else record.end - first,
        before_leaving[-1] if before_leaving else None,
        charted_answer(charted, "moaas"),
        charted_answer(charted, "dissociation"),
        tuple(charted),
    )


# --------------------------------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything on the review page's summary panel and in the report."""

    baseline: dict[str, float]
    baseline_rule: str
    first_dose: float | None
    total_mg: float
    mg_per_kg: float | None
    peak_sbp: Point | None
    peak_dbp: Point | None
    rise_sbp: Point | None
    rise_dbp: Point | None
    min_spo2: Point | None
    below_90_s: float
    hr_range: tuple[float, float] | None
    hr_vital: str
    alarms: list[AlarmStats]
    episodes: list[Episode]
    discharge: Discharge
    rems: Rems
    protocol: str = field(default="")
    observations: list[ScaleSummary] = field(default_factory=list)


def summarise(record: SessionRecord, protocol: Protocol | None = None, named: str | None = None) -> Summary:
    """The summary of one recorded session under ``protocol`` (default: :func:`protocol_for`), named ``named``
    (default: its name; as :func:`judged_under` gives it)."""
    protocol, named = (protocol, named or protocol.name) if protocol else judged_under(record.session)
    first = record.first_dose
    table = table_of(record.readings)
    base = baseline(record, protocol)
    p_sbp, p_dbp = peak_of(table.of("sbp"), first), peak_of(table.of("dbp"), first)
    eps = episodes(record.alarms)
    hr_vital = "hr" if table.of("hr").trusted().any() else "pr"
    total = sum(d.mg for d in record.doses)
    weight = record.session.weight_kg
    charted = summarise_charted(record.observations, record.end, protocol.observations)
    return Summary(
        baseline=base,
        baseline_rule=describe_rule(protocol.baseline) if first is not None else "no dose recorded: no baseline",
        first_dose=first,
        total_mg=total,
        mg_per_kg=round(total / weight, 3) if weight and total else None,
        peak_sbp=p_sbp,
        peak_dbp=p_dbp,
        rise_sbp=rise(p_sbp, base.get("sbp")),
        rise_dbp=rise(p_dbp, base.get("dbp")),
        min_spo2=lowest_of(table.of("spo2"), first),
        below_90_s=time_below_of(
            table.of("spo2"),
            SPO2_LOW,
            protocol.technical.max_quiet_s.get("spo2", SPO2_QUIET_S),
            protocol.technical.stale_intervals,
        ),
        hr_range=value_range_of(table.of(hr_vital)),
        hr_vital=hr_vital,
        alarms=alarm_stats(eps),
        episodes=eps,
        discharge=discharge(record, base, eps, plan_for(record, protocol)),
        rems=rems(record, protocol),
        protocol=named,
        observations=charted,
    )


# --------------------------------------------------------------------------------------------- text


def minutes(seconds: float | None) -> str:
    """``42 min`` / ``2 h 05 min``; ``-`` for None."""
    if seconds is None:
        return "-"
    m = round(seconds / 60)
    return f"{m} min" if abs(m) < 60 else f"{m // 60} h {m % 60:02d} min"


def _bp(b: BP | None, started: float) -> str:
    if b is None:
        return "none"
    dia = "-" if b.dbp is None else f"{b.dbp:.0f}"
    return f"{b.sbp:.0f}/{dia} mmHg at T+{minutes(b.t - started)}"


def _at(p: Point | None, unit: str, sign: bool = False) -> str:
    if p is None:
        return "-"
    value = ("+" if sign and p.value > 0 else "") + fmt(p.value)
    when = f", {minutes(p.after_dose_s)} after the first dose" if p.after_dose_s is not None else ""
    return f"{value} {unit}{when}"


def yes_no(answer: bool | None, scale: str, dosed: bool) -> str:
    """A REMS-style yes/no answered from a charted scale (after the first dose, when ``dosed``)."""
    if answer is None:
        return f"not known ({scale} not charted{' after the dose' if dosed else ''})"
    return ("yes" if answer else "no") + f" (charted {scale})"


def observation_rows(charted: Sequence[ScaleSummary], started: float, first_dose: float | None) -> list[tuple[str, str]]:
    """One row per charted scale: worst level with its words and when, time affected, how often charted."""
    rows = []
    for c in charted:
        spec = SCALES[c.scale]
        last = f"last {c.last} at T+{minutes(c.last_t - started)}; charted {c.count} time{'s' if c.count > 1 else ''}"
        if not c.affected:
            rows.append((spec.name_text, f"never affected ({c.worst}, {spec.words(c.worst)}); {last}"))
            continue
        worst = "deepest" if spec.worse == "low" else "worst"
        text = f"{worst} {c.worst} ({spec.words(c.worst)}) at T+{minutes(c.worst_t - started)}"
        if first_dose is not None:
            after = c.worst_t - first_dose
            text += f", {minutes(after)} after the first dose" if after >= 0 else ", before the first dose"
        rows.append((spec.name_text, f"{text}; affected for {minutes(c.affected_s)}; {last}"))
    return rows or [("Charted", "none")]


def describe(s: Summary, started: float) -> list[tuple[str, list[tuple[str, str]]]]:
    """The summary as titled sections of (label, text) rows: the review page and the report show these."""
    base = s.baseline
    bp_base = f"{base['sbp']:.0f}/{base['dbp']:.0f} mmHg" if "sbp" in base and "dbp" in base else "none"
    pulse = base.get("hr", base.get("pr"))
    spo2 = base.get("spo2")
    hr = s.hr_range
    alarm_rows = []
    for a in s.alarms:
        ack = (
            f"{a.acknowledged} acknowledged, median {a.median_ack_s:.0f} s, max {a.max_ack_s:.0f} s"
            if a.acknowledged
            else "none acknowledged"
            if a.count
            else ""
        )
        alarm_rows.append((a.priority.upper(), f"{a.count}" + (f" ({ack})" if ack else "")))
    d = s.discharge
    how = {"recorded": "recorded", "criteria": "criteria met from", "not met": "criteria not met by the end"}[d.how]
    r = s.rems
    return [
        (
            "Dose and baseline",
            [
                (
                    "Dose",
                    f"{s.total_mg:g} mg" + (f" ({s.mg_per_kg:g} mg/kg)" if s.mg_per_kg else "")
                    if s.total_mg
                    else "none recorded",
                ),
                ("First dose", "-" if s.first_dose is None else f"T+{minutes(s.first_dose - started)}"),
                ("Baseline BP", bp_base),
                (
                    "Baseline pulse / SpO2",
                    f"{'-' if pulse is None else f'{pulse:.0f} /min'} / {'-' if spo2 is None else f'{spo2:.0f} %'}",
                ),
            ],
        ),
        (
            "Blood pressure",
            [
                ("Peak SBP", _at(s.peak_sbp, "mmHg")),
                ("Peak DBP", _at(s.peak_dbp, "mmHg")),
                ("Largest SBP rise", _at(s.rise_sbp, "mmHg", sign=True)),
                ("Largest DBP rise", _at(s.rise_dbp, "mmHg", sign=True)),
            ],
        ),
        (
            "SpO2 and heart rate",
            [
                ("Lowest SpO2", _at(s.min_spo2, "%")),
                ("Time SpO2 < 90 %", minutes(s.below_90_s) if s.below_90_s >= 60 else f"{s.below_90_s:.0f} s"),
                (f"{s.hr_vital.upper()} range", "-" if hr is None else f"{fmt(hr[0])}-{fmt(hr[1])} /min"),
            ],
        ),
        ("Observations", observation_rows(s.observations, started, s.first_dose)),
        ("Alarms (episodes)", alarm_rows),
        (
            "Discharge",
            [
                ("Time", f"T+{minutes(d.t - started)} ({how})"),
                ("Could have left", "criteria not met" if d.could_leave is None else f"T+{minutes(d.could_leave - started)}"),
            ]
            + [("met" if c.met else "NOT met", c.text) for c in d.criteria],
        ),
        (
            "Monitoring (REMS-style)",
            [
                ("Pre-dose BP", _bp(r.pre_dose, started)),
                (f"~{r.checkpoint_min:g} min BP", _bp(r.checkpoint, started)),
                ("Pre-discharge BP", _bp(r.pre_discharge, started)),
                ("End-of-session BP", _bp(r.end, started)),
                ("Total monitoring", minutes(r.monitoring_s)),
                (
                    "First dose to end",
                    minutes(r.after_dose_s) + ("" if r.after_dose_s is None else " (>= 2 h)" if r.two_hours else " (< 2 h)"),
                ),
                ("Sedation", yes_no(r.sedated, "MOAA/S", s.first_dose is not None)),
                ("Dissociation", yes_no(r.dissociated, "dissociation", s.first_dose is not None)),
            ],
        ),
    ]


# --------------------------------------------------------------------------------------------- JSON


def summary_json(record: SessionRecord, s: Summary) -> dict:
    """The summary as one JSON object: numbers as measured (unrounded), times in seconds from session start."""
    start = record.session.started

    def at(t: float | None) -> float | None:
        return None if t is None else t - start

    def point(p: Point | None) -> tuple[float | None, float | None]:
        return (None, None) if p is None else (p.value, p.t - start)

    def bp(b: BP | None) -> dict | None:
        return None if b is None else {"t": b.t - start, "sbp": b.sbp, "dbp": b.dbp, "map": b.map}

    peak_sbp, peak_sbp_t = point(s.peak_sbp)
    peak_dbp, peak_dbp_t = point(s.peak_dbp)
    lowest, lowest_t = point(s.min_spo2)
    return {
        "session": record.session.id,
        "protocol": s.protocol,
        "route": record.session.route,
        "duration_s": record.end - start,
        "first_dose_s": at(s.first_dose),
        "total_mg": s.total_mg,
        "mg_per_kg": s.mg_per_kg,
        "baseline": s.baseline,
        "peak_sbp": peak_sbp,
        "peak_sbp_t": peak_sbp_t,
        "peak_dbp": peak_dbp,
        "peak_dbp_t": peak_dbp_t,
        "rise_sbp": None if s.rise_sbp is None else s.rise_sbp.value,
        "rise_dbp": None if s.rise_dbp is None else s.rise_dbp.value,
        "lowest_spo2": lowest,
        "lowest_spo2_t": lowest_t,
        "time_spo2_below_90_s": s.below_90_s,
        "hr_vital": s.hr_vital,
        "hr_range": None if s.hr_range is None else list(s.hr_range),
        "alarm_episodes": {a.priority: a.count for a in s.alarms},
        "alarm_transitions": [
            {
                "t": a.t - start,
                "event": a.event,
                "alarm_id": a.alarm_id,
                "vital": a.vital,
                "priority": a.priority,
                "kind": a.kind,
                "value": a.value,
                "limit": a.limit,
                "message": a.message,
                "who": a.who,
            }
            for a in sorted(record.alarms, key=lambda a: a.t)
        ],
        "dosing": [
            {"t": e.t - start, "state": e.data.get("state"), "reasons": e.data.get("reasons", [])}
            for e in record.events
            if e.kind == "dosing"
        ],
        "discharge": {
            "t": s.discharge.t - start,
            "how": s.discharge.how,
            "could_leave": at(s.discharge.could_leave),
            "criteria": [{"text": c.text, "met": c.met} for c in s.discharge.criteria],
        },
        "rems": {
            "pre_dose_bp": bp(s.rems.pre_dose),
            "checkpoint_bp": bp(s.rems.checkpoint),
            "checkpoint_min": s.rems.checkpoint_min,
            "pre_discharge_bp": bp(s.rems.pre_discharge),
            "end_bp": bp(s.rems.end),
            "monitoring_s": s.rems.monitoring_s,
            "after_dose_s": s.rems.after_dose_s,
            "two_hours": s.rems.two_hours,
            "sedated": s.rems.sedated,
            "dissociated": s.rems.dissociated,
        },
        "observations": {
            c.scale: {
                "count": c.count,
                "worst": c.worst,
                "worst_t": c.worst_t - start,
                "last": c.last,
                "last_t": c.last_t - start,
                "affected_s": c.affected_s,
                "first_affected_t": at(c.first_affected_t),
            }
            for c in s.observations
        },
    }
