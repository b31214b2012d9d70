"""The course view: one row per session of a patient (KAP is a series), side by side for dose tailoring."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.analysis.summary import Point, Summary, load_record, summarise
from monitor.session.store import Store


@dataclass(frozen=True, slots=True)
class CourseRow:
    """One session of a course: dose, response and alarms."""

    session_id: str
    started: float
    route: str
    drugs: str
    mg: float
    mg_per_kg: float | None
    baseline_sbp: float | None
    baseline_dbp: float | None
    peak_sbp: float | None
    peak_dbp: float | None
    rise_sbp: float | None
    rise_dbp: float | None
    min_spo2: float | None
    alarms: dict[str, int]


def _value(p: Point | None) -> float | None:
    return None if p is None else p.value


def course(store: Store, patient: str, known: dict[str, Summary] | None = None) -> list[CourseRow]:
    """Every session of ``patient`` (by pseudonym), oldest first; ``known`` holds summaries already made."""
    rows = []
    for s in sorted((s for s in store.sessions() if s.patient == patient), key=lambda s: s.started):
        summary = (known or {}).get(s.id) or summarise(load_record(store, s.id))
        rows.append(
            CourseRow(
                s.id,
                s.started,
                s.route,
                ", ".join(sorted({d.drug for d in store.doses(s.id)})) or "-",
                summary.total_mg,
                summary.mg_per_kg,
                summary.baseline.get("sbp"),
                summary.baseline.get("dbp"),
                _value(summary.peak_sbp),
                _value(summary.peak_dbp),
                _value(summary.rise_sbp),
                _value(summary.rise_dbp),
                _value(summary.min_spo2),
                {a.priority: a.count for a in summary.alarms},
            )
        )
    return rows
