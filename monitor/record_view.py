"""What the review page and the report both show of a recorded session, in the same words: whether it
has ended, the summary sections on the session's one time reference, and labels laid out so they do
not overprint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.alarm_events import PRIORITY_RANK, AlarmEvent
from monitor.dose_rows import INVALID_DRUG, DoseRow, dose_rows
from monitor.summary import Episode, SessionRecord, Summary, describe
from monitor.timeref import TimeRef, duration_text

UNVERIFIED = "unverified (typed name, no sign-in)"
RUNNING_WITHIN_S = 10.0  # design proposal: a recorder writes a heartbeat every second (monitor.hub.HEARTBEAT_S)
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
        return (f"This session is still being recorded: shown up to {ref.text_with_clock(record.end)}. Reload for "
                "newer data; an export holds what was recorded when you asked for it and says it is in progress.")
    if state == STOPPED:
        return (f"This session was not ended: its recording stopped at {ref.text_with_clock(record.end)} without an "
                "end (kapmon monitor --resume continues it). Exports say it is in progress.")
    if state == UNENDED:
        return (f"This session has no end in this record: shown up to {ref.text_with_clock(record.end)}. It may "
                "still be running elsewhere; exports say it is in progress.")
    return ""


def reference(record: SessionRecord) -> TimeRef:
    """The session's T+0: its first dose, or its start when no dose was recorded."""
    return TimeRef.of(record.first_dose, record.session.started)


def _alarm_rows(summary: Summary) -> list[tuple[str, str]]:
    rows = []
    for a in summary.alarms:
        ack = (f"{a.acknowledged} acknowledged, median {duration_text(a.median_ack_s)}, "
               f"max {duration_text(a.max_ack_s)}" if a.acknowledged else "none acknowledged" if a.count else "")
        rows.append((a.priority.upper(), f"{a.count}" + (f" ({ack})" if ack else "")))
    return rows


def summary_sections(summary: Summary, ref: TimeRef) -> list[tuple[str, list[tuple[str, str]]]]:
    """The summary (``monitor.summary.describe``) with its times from the session's T+0 (``T-5 min``
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
    text = f"{amount} {row.drug or INVALID_DRUG} {route}" + (f" ({per_kg:g} mg/kg)" if per_kg else "")
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


EVENT_KINDS = ("note", "phase", "discharge", "manual_nibp", "protocol")


def event_rows(record: SessionRecord, ref: TimeRef) -> list[EventRow]:
    """Notes, phases, discharge, hand-taken BPs, doses (with who gave them), the protocol chosen and
    every override of a block or gate (with the physician), in time order."""
    rows = [EventRow(r.t, "dose", dose_text(r, record.session.weight_kg, ref)
                     + (f" — stored with invalid fields: {'; '.join(r.problems)}" if r.problems else ""),
                     r.who or "", bool(r.problems))
            for r in dose_rows(record.events)]
    for e in record.events:
        if e.kind not in EVENT_KINDS:
            continue
        what = (bp_text(e.data) if e.kind == "manual_nibp" else
                f"{e.data.get('protocol', '')} {e.data.get('version', '')}, route {e.data.get('route', '')}"
                if e.kind == "protocol" else str(e.data.get("text", "")))
        rows.append(EventRow(e.t, "manual BP" if e.kind == "manual_nibp" else e.kind, what, e.who or ""))
    rows += [EventRow(a.t, "override", a.message, who) for a, who in overrides(record)]
    return sorted(rows, key=lambda r: r.t)


def overrides(record: SessionRecord) -> list[tuple[AlarmEvent, str]]:
    """Every override of a block or gate (its ``overridden`` alarm event) with who made it in words: the
    physician, marked unverified unless an ``override`` event beside it says the name was a signed-in
    physician's account (overrides recorded before sign-in was checked have none: their names were typed)."""
    verified = {(e.t, e.data.get("finding"), e.data.get("physician")) for e in record.events
                if e.kind == "override" and e.data.get("verified") is True}
    return [(a, a.who if (a.t, a.alarm_id, a.who) in verified else f"{a.who or '?'}, {UNVERIFIED}")
            for a in record.alarms if a.event == "overridden"]


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
