"""What the review page and the report both show of a recorded session, in the same words: whether it
has ended, the summary sections on the session's one time reference, the people's entries (and those
marked entered in error), the screening answers and who gave them, the blocks, gates and overrides, the
dosing decision changes, and labels laid out so they do not overprint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from devices.patient import observation_level, observation_problem
from devices.screening import QUESTIONS
from devices.vocabulary import PRIORITY_RANK, SCALES
from monitor.analysis.summary import Episode, SessionRecord, Summary, describe
from monitor.analysis.timeref import TimeRef, clock_hms, duration_text
from monitor.rules.alarm_events import AlarmEvent
from monitor.rules.plan import CHECK, Finding, Plan
from monitor.rules.protocol import Protocol
from monitor.session.dose_rows import INVALID_DRUG, DoseRow, check_dose
from monitor.session.store import StoredEvent

UNVERIFIED = "unverified (typed name, no sign-in)"

RUNNING_WITHIN_S = 10.0  # design proposal: a recorder writes a heartbeat every second (monitor.session.hub.HEARTBEAT_S)
ENDED, RECORDING, STOPPED, UNENDED = "ended", "recording", "stopped", "unended"


def is_ended(record: SessionRecord) -> bool:
    """Whether the session was ended (an ``end`` event in its record)."""
    return any(e.kind == "end" for e in record.events)


def recording_state(record: SessionRecord, heartbeat: float | None, now: float) -> str:
    """``ended``; ``recording`` (no end, and its recorder wrote a heartbeat in the last few seconds);
    ``stopped`` (no end, and its recorder's heartbeat stopped: it crashed or lost power, and can be
    resumed); or ``unended`` (no end and no heartbeat in this store, e.g. a central station's mirror)."""
    if is_ended(record):
        return ENDED
    if heartbeat is None:
        return UNENDED
    return RECORDING if now - heartbeat <= RUNNING_WITHIN_S else STOPPED


def state_text(state: str, record: SessionRecord, ref: TimeRef) -> str:
    """One sentence for a session that has not ended ('' once it has)."""
    if state == RECORDING:
        return (
            f"This session is still being recorded: shown up to {ref.text_with_clock(record.end)}. Reload for "
            "newer data; an export holds what was recorded when you asked for it and says it is in progress."
        )
    if state == STOPPED:
        return (
            f"This session was not ended: its recording stopped at {ref.text_with_clock(record.end)} without an "
            "end (kapmon monitor --resume continues it). Exports say it is in progress."
        )
    if state == UNENDED:
        return (
            f"This session has no end in this record: shown up to {ref.text_with_clock(record.end)}. It may "
            "still be running elsewhere; exports say it is in progress."
        )
    return ""


def reference(record: SessionRecord) -> TimeRef:
    """The session's T+0: its first dose, or its start when no dose was recorded."""
    return TimeRef.of(record.first_dose, record.session.started)


def _alarm_rows(summary: Summary) -> list[tuple[str, str]]:
    rows = []
    for a in summary.alarms:
        ack = (
            f"{a.acknowledged} acknowledged, median {duration_text(a.median_ack_s)}, max {duration_text(a.max_ack_s)}"
            if a.acknowledged
            else "none acknowledged"
            if a.count
            else ""
        )
        rows.append((a.priority.upper(), f"{a.count}" + (f" ({ack})" if ack else "")))
    return rows


def summary_sections(summary: Summary, ref: TimeRef) -> list[tuple[str, list[tuple[str, str]]]]:
    """The summary (``monitor.analysis.summary.describe``) with its times from the session's T+0 (``T-5 min``
    before it) and times to acknowledge in minutes and seconds."""
    out = []
    for title, rows in describe(summary, ref.t0):
        if title.startswith("Alarms"):
            rows = _alarm_rows(summary)
        out.append((title, [(label, text.replace("T+-", "T-")) for label, text in rows]))
    return out


def stagger(positions: Sequence[float], widths: Sequence[float]) -> list[int]:
    """A row for each label (0 = first) so that labels in one row never overlap: each label, taken
    left to right, goes in the lowest row whose last label ends before it starts."""
    ends: list[float] = []
    rows = [0] * len(positions)
    for i in sorted(range(len(positions)), key=lambda k: positions[k]):
        row = next((r for r, end in enumerate(ends) if end <= positions[i]), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = positions[i] + widths[i]
        rows[i] = row
    return rows


def dose_text(row: DoseRow, weight_kg: float | None, ref: TimeRef) -> str:
    """``20 mg ketamine IV (0.286 mg/kg), infusion to T+40 min``; invalid fields said to be invalid."""
    amount = "amount invalid" if row.mg is None else f"{row.mg:g} mg"
    route = "route invalid" if row.route is None else row.route.upper()
    per_kg = row.mg_per_kg(weight_kg)
    text = (
        f"{amount} {row.drug or INVALID_DRUG} {route}"
        + (f" ({per_kg:g} mg/kg)" if per_kg else "")
        + (f", lot {row.lot}" if row.lot else "")
    )
    return text + (f", infusion to {ref.text(row.end)}" if row.end is not None else "")


def bp_text(data: dict) -> str:
    """A hand-taken BP event's values: ``140/90 (MAP 107)``."""

    def num(key: str) -> str:
        value = data.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return f"{value:.0f}" if ok else "?"

    return f"{num('sbp')}/{num('dbp')} mmHg (MAP {num('map')})"


@dataclass(frozen=True, slots=True)
class EventRow:
    """One thing a person did or noted during the session, for the tables of the page and the report."""

    t: float
    kind: str
    what: str
    who: str
    invalid: bool = False
    retracted: str = ""  # for an entry marked entered in error: by whom, when and why


EVENT_KINDS = ("note", "phase", "discharge", "manual_nibp", "protocol")


def entry_row(e: StoredEvent, weight_kg: float | None, ref: TimeRef) -> EventRow:
    """One dose, charted observation, note, phase, discharge, hand-taken BP or protocol choice as a row."""
    if e.kind == "dose":
        r = check_dose(e.t, e.data, e.who)
        problems = f" — stored with invalid fields: {'; '.join(r.problems)}" if r.problems else ""
        return EventRow(e.t, "dose", dose_text(r, weight_kg, ref) + problems, e.who or "", bool(r.problems))
    if e.kind == "observation":
        unknown = observation_problem(e.data.get("scale"), e.data.get("level")) is not None
        return EventRow(e.t, "observation", observation_text(e.data), e.who or "", unknown)
    what = (
        bp_text(e.data)
        if e.kind == "manual_nibp"
        else f"{e.data.get('protocol', '')} {e.data.get('version', '')}, route {e.data.get('route', '')}"
        if e.kind == "protocol"
        else observed_text(e.data)
        if e.kind == "discharge"
        else str(e.data.get("text", ""))
    )
    return EventRow(e.t, "manual BP" if e.kind == "manual_nibp" else e.kind, what, e.who or "")


def observation_text(data: dict) -> str:
    """A charted observation in words: "Sedation: MOAA/S 2 (responds only to mild prodding or shaking)"; a stored
    row whose scale or level kapmon does not know says so."""
    scale, level = data.get("scale"), data.get("level")
    try:
        whole = observation_level(scale, level)
    except ValueError:
        return f"scale {scale!r} level {level!r} (not a level kapmon knows)"
    spec = SCALES[str(scale)]
    text = spec.level_text(whole)
    return text if spec.title == spec.label else f"{spec.title}: {text}"


def observed_text(data: dict) -> str:
    """A discharge's text: its own, or ``after 1 h 15 min of observation since the last dose``."""
    observed = data.get("observed_s")
    if "text" in data:
        return str(data["text"])
    if observed is None:
        return "no dose recorded before it"
    if isinstance(observed, bool) or not isinstance(observed, (int, float)) or not math.isfinite(observed):
        return ""
    return f"after {duration_text(observed)} of observation since the last dose"


def event_rows(record: SessionRecord, ref: TimeRef) -> list[EventRow]:
    """Notes, phases, discharge, hand-taken BPs, doses (with who gave them), charted observations (with who charted
    them), the protocol chosen and every override of a block or gate (with the physician), in time order."""
    kinds = (*EVENT_KINDS, "dose", "observation")
    rows = [entry_row(e, record.session.weight_kg, ref) for e in record.events if e.kind in kinds]
    rows += [EventRow(a.t, "override", a.message, who) for a, who in overrides(record)]
    return sorted(rows, key=lambda r: r.t)


def overrides(record: SessionRecord) -> list[tuple[AlarmEvent, str]]:
    """Every override (its ``overridden`` alarm event) with who made it in words: the physician, marked
    unverified unless an ``override`` event beside it says the name was a signed-in physician's account
    (overrides recorded before sign-in was checked have none: their names were typed)."""
    verified = {
        (e.t, e.data.get("finding"), e.data.get("physician"))
        for e in record.events
        if e.kind == "override" and e.data.get("verified") is True
    }
    return [
        (a, a.who or "?" if (a.t, a.alarm_id, a.who) in verified else f"{a.who or '?'}, {UNVERIFIED}")
        for a in record.alarms
        if a.event == "overridden"
    ]


def retracted_rows(record: SessionRecord, ref: TimeRef) -> list[EventRow]:
    """The entries marked entered in error (or undone), each saying by whom, when and why."""
    rows = []
    for e in record.retracted:
        c = record.corrections[e.id]
        why = f"entered in error by {c.who or '?'} at {ref.text_with_clock(c.t)}: {c.data.get('reason', '')}"
        row = entry_row(e, record.session.weight_kg, ref)
        rows.append(EventRow(row.t, row.kind, row.what, row.who, row.invalid, why))
    return rows


# --------------------------------------------------------------------------------------------- screening and dosing


def answer_text(value: object) -> str:
    """A screening answer in words: ``yes``, ``no``, ``not answered``, ``52``, ``moderate``."""
    return "not answered" if value is None else "yes" if value is True else "no" if value is False else str(value)


def answer_changes(before: dict, after: dict) -> list[str]:
    """``psychosis: not answered → no`` for each answer that differs."""
    return [
        f"{k}: {answer_text(before.get(k))} \u2192 {answer_text(after.get(k))}"
        for k in dict.fromkeys([*after, *before])
        if before.get(k) != after.get(k)
    ]


def question_keys(protocol: Protocol) -> list[str]:
    """The screening keys the protocol asks about, in its order; a key that lifts an item follows the item."""
    keys: list[str] = []
    for item in protocol.screening:
        keys += [k for k in (item.key, item.lifted_by) if k and k not in keys]
    return keys


@dataclass(frozen=True, slots=True)
class ScreeningGiven:
    """One set of screening answers: at the start (``t`` None) or given on the page (when, by whom)."""

    t: float | None
    who: str
    answers: dict


def screening_given(record: SessionRecord) -> list[ScreeningGiven]:
    """The answers the session started with, then each set given on the page, in order."""
    start = ScreeningGiven(None, "", dict(record.session.metadata.get("screening") or {}))
    return [
        start,
        *(ScreeningGiven(e.t, e.who or "", dict(e.data.get("answers") or {})) for e in record.events if e.kind == "screening"),
    ]


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """A screening question, its answer (the last given) and when and by whom that answer was given."""

    question: str
    answer: str
    given: ScreeningGiven


def screening_rows(record: SessionRecord, protocol: Protocol) -> list[AnswerRow]:
    """Each question the protocol asks (then any other answer recorded), with its answer and who gave it."""
    given = screening_given(record)
    by: dict[str, ScreeningGiven] = {k: given[0] for k in given[0].answers}
    for before, after in zip(given, given[1:]):
        for key in dict.fromkeys([*after.answers, *before.answers]):
            if before.answers.get(key) != after.answers.get(key):
                by[key] = after
    final = given[-1].answers
    keys = question_keys(protocol)
    keys += [k for k in final if k not in keys]
    return [AnswerRow(QUESTIONS[k].text if k in QUESTIONS else k, answer_text(final.get(k)), by.get(k, given[0])) for k in keys]


def given_text(given: ScreeningGiven, ref: TimeRef) -> str:
    """``at the start`` or ``T-5 min · 09:55:10 by RN Li``."""
    return "at the start" if given.t is None else f"{ref.text_with_clock(given.t)} by {given.who or '?'}"


def screening_changes(record: SessionRecord) -> list[tuple[ScreeningGiven, list[str]]]:
    """Each time screening was answered on the page, with what it changed."""
    given = screening_given(record)
    return [(after, answer_changes(before.answers, after.answers)) for before, after in zip(given, given[1:])]


def findings(record: SessionRecord, plan: Plan) -> list[Finding]:
    """Blocks and gates from the screening, those the recorded dosing decision had open when the
    first dose was given (or at the end, without a dose), and the checks."""
    first = record.first_dose
    decided = [e for e in record.events if e.kind == "dosing" and (first is None or e.t <= first)]
    found = [*plan.blocks, *plan.gates]
    for reason in decided[-1].data.get("reasons", []) if decided else []:
        action, _, rest = str(reason).partition(" ")
        finding_id, _, text = rest.partition(": ")
        if finding_id not in {f.id for f in found}:
            found.append(Finding(finding_id, action, text, "the recorded dosing decision", True))
    return [*found, *plan.checks]


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """A block, gate or check and the override that lifted it, or an override of something else (a dose
    outside the protocol's bounds, an early discharge: ``finding`` None)."""

    finding: Finding | None
    override: AlarmEvent | None
    who: str = ""  # who overrode, in words (marked unverified for a typed name)

    @property
    def open_block(self) -> bool:
        return self.finding is not None and self.finding.action == "block" and self.override is None


def decision_rows(record: SessionRecord, plan: Plan) -> list[DecisionRow]:
    """What the plan decided before dosing and how each block or gate was lifted, then every other override."""
    lifting = {a.alarm_id: (a, who) for a, who in overrides(record)}
    found = findings(record, plan)
    rows = [DecisionRow(f, *lifting.get(f.id, (None, ""))) if f.action != CHECK else DecisionRow(f, None) for f in found]
    ids = {f.id for f in found}
    return rows + [DecisionRow(None, o, who) for fid, (o, who) in lifting.items() if fid not in ids]


def lifted_text(row: DecisionRow, ref: TimeRef) -> str:
    """How a block or gate was lifted: ``overridden by Dr Rahman at T-2 min · 09:58:00: <the override>``."""
    if row.finding is not None and row.finding.action == CHECK:
        return ""
    o = row.override
    if o is None:
        return "not overridden"
    return (
        f"{'overridden ' if row.finding is not None else ''}by {row.who or o.who or '?'} at {ref.text(o.t)} · "
        f"{clock_hms(o.t)}: {o.message}"
    )


def dosing_rows(record: SessionRecord) -> list[tuple[float, str, str]]:
    """Every change of the dosing decision: (when, state, its reasons)."""
    return [
        (e.t, str(e.data.get("state", "?")).upper(), "; ".join(map(str, e.data.get("reasons") or [])) or "-")
        for e in record.events
        if e.kind == "dosing"
    ]


def top_spans(eps: Sequence[Episode], end: float) -> list[tuple[str, float, float]]:
    """The highest priority active at each moment, as non-overlapping spans (priority, start, stop)."""
    cuts = sorted({t for e in eps for t in (e.start, e.until(end))})
    spans: list[tuple[str, float, float]] = []
    for a, b in zip(cuts, cuts[1:]):
        active = [e.priority for e in eps if e.start <= a and e.until(end) >= b]
        if not active:
            continue
        top = max(active, key=lambda p: PRIORITY_RANK[p])
        if spans and spans[-1][0] == top and spans[-1][2] == a:
            spans[-1] = (top, spans[-1][1], b)
        else:
            spans.append((top, a, b))
    return spans
