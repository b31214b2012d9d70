"""What every export of one session reads: its items, its sidecar, what it shows as invalid."""

from __future__ import annotations

from datetime import UTC, datetime

from devices.errors import KapmonError
from devices.io.recording import FORMAT, RecordingError, validate_metadata
from devices.patient import WHO_MAX
from devices.reading import Condition, Item, Reading
from monitor.analysis.record_view import is_ended, reference
from monitor.analysis.summary import SessionRecord, screening_of
from monitor.session.dose_rows import dose_rows
from monitor.session.store import Store

# "protocol", "resumed" and "override" are audit entries (an override itself is in the alarm events); "dosing" and
# "baseline" are what the rules decided, and decide again when the export is imported (replayed as timeline events,
# a text-only "baseline" would stand in for the frozen one); doses and observations have their own lists
SIDECAR_EVENT_KINDS_SKIPPED = (
    "dose",
    "observation",
    "condition",
    "end",
    "protocol",
    "resumed",
    "override",
    "dosing",
    "baseline",
)


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
    """The recording sidecar of a session: patient pseudonym, route, screening answers, doses, charted observations and
    notes (t from start); doses and observations marked entered in error are left out.

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
        "observations": [
            {"t": o.t - start, "scale": o.scale, "level": o.level} | ({"who": who_text(o.who)} if o.who else {})
            for o in record.observations
        ],
        "events": [{"t": t, "kind": kind, "text": text} for t, kind, text in sorted(notes, key=lambda n: n[0])],
    }
    drugs = {d.drug for d in record.doses}
    if len(drugs) == 1:
        meta["drug"] = drugs.pop()
    if answers := valid_screening(screening_of(record)):
        meta["screening"] = answers  # so that an import or ``kapmon alarms`` judges the export under the same plan
    return validate_metadata(meta, f"session {s.id}")


def valid_screening(answers: dict) -> dict:
    """The session's screening answers if a sidecar can hold them, else none (answers stored by older code)."""
    try:
        validate_metadata({"format": FORMAT, "screening": answers})
    except RecordingError:
        return {}
    return answers


def who_text(who: str) -> str:
    """Who charted, as a sidecar holds it: a longer name (the central station adds its own words to one) is cut
    to ``WHO_MAX`` characters, ending in an ellipsis."""
    return who if len(who) <= WHO_MAX else who[: WHO_MAX - 1] + "\u2026"


def iso(t: float) -> str:
    """Epoch seconds as an ISO-8601 UTC instant with milliseconds."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
