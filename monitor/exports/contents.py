"""What every export of one session reads: its items, its sidecar, what it shows as invalid."""

from __future__ import annotations

from datetime import UTC, datetime

from devices.errors import KapmonError
from devices.io.recording import FORMAT, validate_metadata
from devices.reading import Condition, Item, Reading
from monitor.analysis.record_view import is_ended, reference
from monitor.analysis.summary import SessionRecord
from monitor.session.dose_rows import dose_rows
from monitor.session.store import Store

# "protocol", "resumed" and "override" are audit entries (an override itself is in the alarm events); "dosing" and
# "baseline" are what the rules decided, and decide again when the export is imported (replayed as timeline events,
# a text-only "baseline" would stand in for the frozen one)
SIDECAR_EVENT_KINDS_SKIPPED = ("dose", "condition", "end", "protocol", "resumed", "override", "dosing", "baseline")


class ExportError(KapmonError):
    """An export that cannot be made; the message says why."""


def session_items(store: Store, session_id: str) -> list[Item]:
    """Every reading (pleth included) and device condition of a session, in time order."""
    readings: list[Item] = [Reading(r.t, r.vital, r.value, r.unit, r.source, r.status) for r in store.readings(session_id)]
    conditions: list[Item] = [
        Condition(
            e.t,
            e.data["condition"],
            e.data.get("source", ""),
            bool(e.data.get("active", True)),
            tuple(e.data.get("vitals", ())),
            e.data.get("detail", ""),
        )
        for e in store.events(session_id, kind="condition")
    ]
    return sorted(readings + conditions, key=lambda i: i.t)


def record_problems(record: SessionRecord) -> list[str]:
    """One line per stored value that an export shows as invalid or leaves out (doses written by older code)."""
    ref = reference(record)
    return [
        f"stored dose at {ref.text_with_clock(r.t)}: " + "; ".join(r.problems) + ": shown as invalid, left out"
        for r in dose_rows(record.events)
        if r.problems
    ]


def sidecar(record: SessionRecord, last_t: float | None = None) -> dict:
    """The recording sidecar of a session: patient pseudonym, route, doses and notes (t from start).

    ``duration_s`` runs to the ``end`` event, or for a session still being recorded to ``last_t``, the time
    of the last row exported with it. A stored dose with an invalid field becomes a note saying so."""
    s = record.session
    start = s.started
    last = record.end if is_ended(record) or last_t is None else last_t
    notes = [
        (e.t - start, e.kind, str(e.data.get("text", ""))) for e in record.events if e.kind not in SIDECAR_EVENT_KINDS_SKIPPED
    ]
    notes += [
        (r.t - start, "note", "stored dose with invalid fields: " + "; ".join(r.problems))
        for r in dose_rows(record.events)
        if r.problems
    ]
    meta = {
        "format": FORMAT,
        "description": f"kapmon session {s.id}" + ("" if is_ended(record) else " (still being recorded when exported)"),
        "started": iso(start),
        "duration_s": round(max(last - start, 0.0), 3),
        "patient": {"pseudonym": s.patient, "weight_kg": s.weight_kg},
        "route": s.route,
        "doses": [
            {"t": d.t - start, "route": d.route, "drug": d.drug, "mg": d.mg, "end": None if d.end is None else d.end - start}
            | ({"lot": d.lot} if d.lot else {})
            for d in record.doses
        ],
        "events": [{"t": t, "kind": kind, "text": text} for t, kind, text in sorted(notes, key=lambda n: n[0])],
    }
    drugs = {d.drug for d in record.doses}
    if len(drugs) == 1:
        meta["drug"] = drugs.pop()
    return validate_metadata(meta, f"session {s.id}")


def iso(t: float) -> str:
    """Epoch seconds as an ISO-8601 UTC instant with milliseconds."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
