"""The printable session report: one self-contained HTML file (inline CSS and SVG, no scripts) that a
clinician can file.

In order: who, when and under which protocol; the screening answers (who gave each, and every change made
on the page) and what they decided (blocks, gates, checks) with every override, who made it and when, and
every change of the dosing decision; each dose (route, mg, mg/kg, start and end,
who gave it); hand-taken blood pressures with who took them; the charted observations (MOAA/S, dissociation, ...)
with who charted each; trends of BP, pulse and SpO2 over the
whole session on one time axis (T+ minutes since the first dose, clock time under each tick), dose
markers, the highest alarm active shaded and gaps left as gaps, every value inside the axes; the
summary; the alarm list with time to acknowledge; the notes. Every time is given as T+ with the clock
time beside it. Print it from a browser (A4 or Letter, portrait) or file it as is.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.vocabulary import PRIORITY_COLOUR
from monitor.analysis.downsample import gap_threshold, minmax, with_gaps
from monitor.analysis.record_view import (
    ENDED,
    bp_text,
    decision_rows,
    dosing_rows,
    event_rows,
    given_text,
    lifted_text,
    recording_state,
    reference,
    screening_changes,
    screening_rows,
    stagger,
    state_text,
    summary_sections,
    top_spans,
)
from monitor.analysis.summary import SessionRecord, Summary, load_record, minutes, plan_for, protocol_for, summarise
from monitor.analysis.timeref import TimeRef, clock_hm, clock_hms, duration_text
from monitor.rules.plan import Plan
from monitor.rules.protocol import Protocol
from monitor.session.dose_rows import DoseRow, dose_rows
from monitor.session.store import Store

W, H, LEFT, RIGHT, BOTTOM = 960, 210, 48, 30, 34
TITLE_H, LABEL_ROW_H, CHAR_W = 16, 12, 6.4  # px: chart title, one row of dose labels, one character at 11 px
MAX_POINTS = 1500
TICK_STEPS_MIN = (5, 10, 15, 30, 60)


@dataclass(frozen=True, slots=True)
class Line:
    vital: str
    label: str
    colour: str
    dashed: bool = False
    markers: bool = False


CHARTS: tuple[tuple[str, tuple[float, float], tuple[Line, ...]], ...] = (
    (
        "Blood pressure (mmHg)",
        (40, 220),
        (
            Line("sbp", "SBP", "#c62828", markers=True),
            Line("dbp", "DBP", "#c62828", dashed=True, markers=True),
            Line("map", "MAP", "#ef6c00", dashed=True),
        ),
    ),
    ("Pulse (/min)", (30, 160), (Line("hr", "HR", "#2e7d32"), Line("pr", "PR", "#81c784", dashed=True))),
    ("SpO2 (%)", (75, 100), (Line("spo2", "SpO2", "#0277bd"),)),
)


def clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


# --------------------------------------------------------------------------------------------- charts


def _path(xs: np.ndarray, ys: np.ndarray, sx, sy) -> str:
    """SVG path data; NaN breaks the line."""
    out, pen = [], "M"
    for x, y in zip(xs, ys):
        if np.isnan(y):
            pen = "M"
            continue
        out.append(f"{pen}{sx(x):.1f},{sy(y):.1f}")
        pen = "L"
    return " ".join(out)


def fitted_range(default: tuple[float, float], values: Sequence[float]) -> tuple[float, float, float]:
    """The chart's default y range widened to every value (so none is clipped), and a grid step."""
    lo, hi = default
    data_lo, data_hi = (min(values), max(values)) if len(values) else default
    step = float(10 ** np.floor(np.log10(max(hi, data_hi) - min(lo, data_lo))) / 2)
    if data_lo < lo:
        lo = math.floor(data_lo / step) * step
    if data_hi > hi:
        hi = math.ceil(data_hi / step) * step
    return lo, hi, step


def _series(record: SessionRecord, vital: str) -> tuple[np.ndarray, np.ndarray] | None:
    rows = [(r.t, np.nan if r.value is None else r.value) for r in record.readings if r.vital == vital]
    if not rows:
        return None
    t, v = np.array(rows).T
    return minmax(*with_gaps(t, v, max(gap_threshold(t), 3.0)), MAX_POINTS)


def _dose_labels(doses: Sequence[DoseRow], sx) -> tuple[list[tuple[float, str, int]], int]:
    """Each dose's x, label and row (labels in one row never overlap), and the number of rows."""
    labels = ["? mg" if d.mg is None else f"{d.mg:g} mg" for d in doses]
    xs = [sx(d.t) for d in doses]
    rows = stagger(xs, [len(text) * CHAR_W + 6 for text in labels])
    return list(zip(xs, labels, rows)), max(rows, default=-1) + 1


def chart_svg(
    record: SessionRecord, title: str, yrange: tuple[float, float], lines: Sequence[Line], summary: Summary, ref: TimeRef
) -> str:
    """One trend chart as inline SVG: x in T+ minutes (clock time under each tick), y fitted to the data."""
    t_start, t_end = record.session.started, max(record.end, record.session.started + 60.0)
    series = {ln.vital: s for ln in lines if (s := _series(record, ln.vital)) is not None}
    values = [float(v) for _, ys in series.values() for v in ys if not np.isnan(v)]
    y0, y1, step = fitted_range(yrange, values)
    doses = dose_rows(record.events)

    def sx(t: float) -> float:
        return LEFT + (t - t_start) / (t_end - t_start) * (W - LEFT - RIGHT)

    labels, n_rows = _dose_labels(doses, sx)
    top = TITLE_H + 4 + LABEL_ROW_H * n_rows

    def sy(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (H - top - BOTTOM)

    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{html.escape(title)}">']
    for priority, a, b in top_spans(summary.episodes, record.end):
        x0, x1 = sx(a), sx(b)
        parts.append(
            f'<rect class="alarm-{priority}" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1.5):.1f}" '
            f'height="{H - top - BOTTOM}" fill="{PRIORITY_COLOUR[priority]}" fill-opacity="0.22"/>'
        )
    for v in np.arange(math.ceil(y0 / step) * step, y1 + 1e-9, step):
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>'
        )
    span_min = (t_end - t_start) / 60
    tick = next((s for s in TICK_STEPS_MIN if span_min / s <= 10), TICK_STEPS_MIN[-1])
    first = math.ceil(ref.minutes(t_start) / tick) * tick
    for m in np.arange(first, ref.minutes(t_end) + 1e-9, tick):
        at = ref.t0 + m * 60
        x = sx(at)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{H - BOTTOM}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{H - BOTTOM + 13}" text-anchor="middle">T{m:+g}</text>'
            f'<text x="{x:.1f}" y="{H - BOTTOM + 26}" text-anchor="middle" class="clock">{clock_hm(at)}</text>'
        )
    for x, text, row in labels:
        parts.append(
            f'<line class="dose" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{H - BOTTOM}" stroke="#6a1b9a" '
            f'stroke-width="2"/><text class="dose-label" x="{x + 2:.1f}" y="{TITLE_H + 12 + row * LABEL_ROW_H}" '
            f'fill="#6a1b9a">{html.escape(text)}</text>'
        )
    for line in lines:
        if line.vital not in series:
            continue
        t, v = series[line.vital]
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        parts.append(f'<path d="{_path(t, v, sx, sy)}" fill="none" stroke="{line.colour}" stroke-width="1.6"{dash}/>')
        if line.markers:
            parts += [
                f'<circle cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="2.2" fill="{line.colour}"/>'
                for a, b in zip(t, v)
                if not np.isnan(b)
            ]
    legend = " · ".join(f'<tspan fill="{ln.colour}">{ln.label}</tspan>' for ln in lines)
    parts.append(f'<text x="{LEFT}" y="12" class="title">{html.escape(title)}: {legend}</text></svg>')
    return "".join(parts)


# --------------------------------------------------------------------------------------------- tables


CSS = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 18px 0 6px; }
.meta { color: #444; margin-bottom: 10px; line-height: 1.5; } .disclaimer { font-size: 12px; color: #555; }
.banner { border: 2px solid #b00020; color: #b00020; font-weight: bold; padding: 6px 10px; margin: 8px 0; }
.chart { width: 100%; height: auto; display: block; margin: 6px 0; font-size: 11px; }
.chart .title { font-size: 12px; font-weight: bold; } .chart .clock { fill: #555; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 18px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin-bottom: 6px; }
td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #ddd; vertical-align: top; }
th { font-size: 12px; background: #f3f3f3; } .not-met, .invalid { color: #b00020; font-weight: bold; }
.num { text-align: right; white-space: nowrap; } .when { white-space: nowrap; }
.legend { font-size: 13px; } .legend span { display: inline-block; padding: 0 8px; margin-right: 6px; }
@media print { body { margin: 10mm; } .chart, table { break-inside: avoid; } }
"""


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str = "none", classes: Sequence[str] = ()) -> str:
    """An HTML table of already escaped cells; ``classes`` per row."""
    if not rows:
        return f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr><tr><td colspan={len(head)}>{empty}</td></tr></table>"
    body = "".join(
        f'<tr class="{classes[i] if i < len(classes) else ""}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{body}</table>"


def _when(ref: TimeRef, t: float) -> str:
    return f'<span class="when">{ref.text(t)} · {clock_hms(t)}</span>'


def screening_table(record: SessionRecord, protocol: Protocol, ref: TimeRef) -> str:
    """Each screening question the protocol asks, with the answer recorded for this session and who gave it;
    then each time screening was answered on the page and what that changed."""
    esc = html.escape
    answers = _table(
        ("Screening question", "Answer", "Given"),
        [(esc(r.question), esc(r.answer), esc(given_text(r.given, ref))) for r in screening_rows(record, protocol)],
        "no screening recorded",
    )
    changes = [
        (_when(ref, g.t), esc(g.who or "-"), esc("; ".join(c) or "no change"))
        for g, c in screening_changes(record)
        if g.t is not None
    ]
    return answers + (_table(("Answered on the page", "By", "Changed"), changes) if changes else "")


def decisions_table(record: SessionRecord, plan: Plan, ref: TimeRef) -> str:
    """What the plan decided before dosing and how each block or gate was lifted (who, when, why), and
    every other override (a dose outside the protocol's bounds, an early discharge)."""
    rows, classes = [], []
    for r in decision_rows(record, plan):
        f = r.finding
        what = (
            (f.action.upper(), f.text, f.source) if f is not None else ("OVERRIDE", r.override.alarm_id if r.override else "", "")
        )
        rows.append(tuple(html.escape(cell) for cell in (*what, lifted_text(r, ref))))
        classes.append("not-met" if r.open_block else "")
    return _table(("Decision", "Why", "Source", "Lifted"), rows, "no blocks, gates or checks: clear to dose", classes)


def dosing_table(record: SessionRecord, ref: TimeRef) -> str:
    """Every change of the dosing decision, with its reasons."""
    return _table(
        ("Time", "Dosing", "Reasons"),
        [(_when(ref, t), html.escape(state), html.escape(reasons)) for t, state, reasons in dosing_rows(record)],
        "no dosing decision recorded",
    )


def doses_table(record: SessionRecord, ref: TimeRef) -> str:
    """Every stored dose with route, mg, mg/kg, start, end and who gave it; invalid fields said to be invalid."""
    weight = record.session.weight_kg
    rows, classes = [], []
    for n, d in enumerate(dose_rows(record.events), start=1):
        per_kg = d.mg_per_kg(weight)
        rows.append(
            (
                str(n),
                html.escape(d.drug or "invalid"),
                html.escape((d.route or "invalid").upper()),
                "invalid" if d.mg is None else f"{d.mg:g}",
                "-" if per_kg is None else f"{per_kg:g}",
                _when(ref, d.t),
                "bolus" if d.end is None else _when(ref, d.end),
                html.escape(d.who or "-"),
                html.escape("; ".join(d.problems)),
            )
        )
        classes.append("invalid" if d.problems else "")
    head = (
        "#",
        "Drug",
        "Route",
        "mg",
        "mg/kg" + ("" if weight else " (weight unknown)"),
        "Start",
        "End",
        "Given by",
        "Stored value problems",
    )
    return _table(head, rows, "no dose recorded", classes)


def manual_bp_table(record: SessionRecord, ref: TimeRef) -> str:
    rows = [
        (_when(ref, e.t), html.escape(bp_text(e.data)), html.escape(e.who or "-"))
        for e in record.events
        if e.kind == "manual_nibp"
    ]
    return _table(("Time", "Blood pressure", "Taken by"), rows, "no hand-taken blood pressure")


def _acknowledged(ep, ref: TimeRef) -> str:
    if ep.acknowledged_at is None:
        return "-"
    return f"after {duration_text(ep.acknowledged_at - ep.start)}" + (
        f" by {html.escape(ep.acknowledged_by)}" if ep.acknowledged_by else ""
    )


# --------------------------------------------------------------------------------------------- document


def _protocol_line(record: SessionRecord, summary: Summary) -> str:
    """The protocol the summary was judged under, with the version and who chose it when that is the one
    the session recorded (a protocol file that can no longer be loaded is named as such by the summary)."""
    chosen = next((e for e in record.events if e.kind == "protocol"), None)
    line = f"protocol {html.escape(summary.protocol)}"
    if chosen is None or str(chosen.data.get("protocol")) != summary.protocol:
        return line
    who = f", chosen by {html.escape(chosen.who)}" if chosen.who else ""
    return f"{line} {html.escape(str(chosen.data.get('version', '')))}{who}"


def render(record: SessionRecord, summary: Summary, state: str = ENDED) -> str:
    """The report as an HTML document; ``state`` is the session's recording state (``record_view``)."""
    s, ref = record.session, reference(record)
    esc = html.escape
    protocol = protocol_for(s)
    plan = plan_for(record, protocol)
    sections = "".join(
        "<table><tr><th colspan=2>"
        + esc(title)
        + "</th></tr>"
        + "".join(
            f'<tr class="{"not-met" if label.startswith("NOT met") else ""}"><td>{esc(label)}</td><td>{esc(text)}</td></tr>'
            for label, text in rows
        )
        + "</table>"
        for title, rows in summary_sections(summary, ref)
    )
    notes = [
        (_when(ref, r.t), esc(r.kind), esc(r.what), esc(r.who or "-"))
        for r in event_rows(record, ref)
        if r.kind in ("note", "phase", "discharge")
    ]
    charted = [(_when(ref, r.t), esc(r.what), esc(r.who or "-")) for r in event_rows(record, ref) if r.kind == "observation"]
    alarms = [
        (
            _when(ref, ep.start),
            duration_text(ep.until(record.end) - ep.start),
            ep.priority.upper(),
            esc(ep.message),
            _acknowledged(ep, ref),
        )
        for ep in summary.episodes
    ]
    charts = "".join(chart_svg(record, title, yr, lines, summary, ref) for title, yr, lines in CHARTS)
    legend = "".join(f'<span style="background:{c}55">{p.upper()} alarm</span>' for p, c in PRIORITY_COLOUR.items())
    banner = f'<p class="banner">{esc(state_text(state, record, ref))}</p>' if state != ENDED else ""
    ended = f"ended {clock_hms(record.end)}" if state == ENDED else f"data up to {clock_hms(record.end)}"
    weight = "weight unknown" if s.weight_kg is None else f"{s.weight_kg:g} kg"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kapmon session {esc(s.id)}</title><style>{CSS}</style></head>
<body>
<h1>Session report: {esc(s.patient)}</h1>
<div class="meta">Session {esc(s.id)} · {esc(s.route.upper())} · {weight}
· started {clock(s.started)}, {ended} · {minutes(record.end - s.started)} recorded<br>
{_protocol_line(record, summary)} · times are T+ minutes since the {ref.what} ({clock_hms(ref.t0)}), clock time beside them</div>
{banner}
<p class="disclaimer">Not a medical device: for research, education, simulation and secondary display.
Generated by kapmon from the session record.</p>
<h2>Screening and pre-dose decisions</h2>
{screening_table(record, protocol, ref)}
{decisions_table(record, plan, ref)}
<h2>Dosing decision changes</h2>
{dosing_table(record, ref)}
<h2>Doses</h2>
{doses_table(record, ref)}
<h2>Hand-taken blood pressures</h2>
{manual_bp_table(record, ref)}
<h2>Charted observations</h2>
{_table(("Time", "Observation", "Who charted it"), charted)}
<h2>Trends</h2>
<div class="legend">T+ minutes since the {ref.what}, clock time under each tick. Purple line: dose.
Shading: the highest alarm active. {legend}</div>
{charts}
<h2>Summary</h2>
<div class="grid">{sections}</div>
<p class="disclaimer">Baseline rule: {esc(summary.baseline_rule)}</p>
<h2>Alarms</h2>
{_table(("Raised", "Lasted", "Priority", "Message", "Acknowledged"), alarms)}
<h2>Notes and phases</h2>
{_table(("Time", "Kind", "Text", "Who"), notes)}
<p>Reviewed by: ______________________ &nbsp; Date: ____________ &nbsp; Signature: ______________________</p>
</body></html>
"""


def write_report(store: Store, session_id: str, path: Path) -> Path:
    record = load_record(store, session_id)
    state = recording_state(record, store.heartbeats().get(session_id), time.time())
    path.write_text(render(record, summarise(record), state), encoding="utf-8")
    return path
