"""The printable session report: one self-contained HTML file (inline CSS and SVG, no scripts).

Trends of BP, pulse and SpO2 over the whole session with dose markers, alarm spans coloured by
priority and gaps left as gaps; the summary (``monitor.summary.describe``); the notes and the
alarm list. Print it from a browser (A4 or Letter, portrait) or file it as is.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.downsample import gap_threshold, minmax, with_gaps
from monitor.store import Store
from monitor.summary import Episode, SessionRecord, Summary, describe, load_record, minutes, summarise

PRIORITY_FILL = {"high": "#e0191b", "medium": "#f5c400", "low": "#00bcd4"}
W, H, LEFT, RIGHT, TOP, BOTTOM = 960, 200, 52, 12, 14, 26
MAX_POINTS = 1500


@dataclass(frozen=True, slots=True)
class Line:
    vital: str
    label: str
    colour: str
    dashed: bool = False
    markers: bool = False


CHARTS: tuple[tuple[str, tuple[float, float], tuple[Line, ...]], ...] = (
    ("Blood pressure (mmHg)", (40, 220), (Line("sbp", "SBP", "#c62828", markers=True),
                                          Line("dbp", "DBP", "#c62828", dashed=True, markers=True),
                                          Line("map", "MAP", "#ef6c00", dashed=True))),
    ("Pulse (/min)", (30, 160), (Line("hr", "HR", "#2e7d32"), Line("pr", "PR", "#81c784", dashed=True))),
    ("SpO2 (%)", (75, 101), (Line("spo2", "SpO2", "#0277bd"),)),
)


def clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


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


def chart_svg(record: SessionRecord, title: str, yrange: tuple[float, float], lines: Sequence[Line],
              summary: Summary) -> str:
    """One trend chart as inline SVG (x: minutes from session start)."""
    t0, span = record.session.started, max(record.end - record.session.started, 60.0)
    y0, y1 = yrange

    def sx(t: float) -> float:
        return LEFT + (t - t0) / span * (W - LEFT - RIGHT)

    def sy(v: float) -> float:
        return TOP + (y1 - min(max(v, y0), y1)) / (y1 - y0) * (H - TOP - BOTTOM)

    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{html.escape(title)}">']
    for ep in summary.episodes:
        x0, x1 = sx(ep.start), sx(ep.until(record.end))
        parts.append(f'<rect class="alarm-{ep.priority}" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1.5):.1f}" '
                     f'height="{H - TOP - BOTTOM}" fill="{PRIORITY_FILL[ep.priority]}" fill-opacity="0.22">'
                     f'<title>{html.escape(ep.priority.upper() + " " + ep.message)}</title></rect>')
    step = 10 ** np.floor(np.log10(y1 - y0)) / 2
    for v in np.arange(np.ceil(y0 / step) * step, y1 + 1e-9, step):
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    tick = 15 if span <= 3 * 3600 else 30
    for m in range(0, int(span / 60) + 1, tick):
        x = sx(t0 + m * 60)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#eee"/>'
                     f'<text x="{x:.1f}" y="{H - 8}" text-anchor="middle">{m}</text>')
    for d in record.doses:
        x = sx(d.t)
        parts.append(f'<line class="dose" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#6a1b9a" '
                     f'stroke-width="2"/><text x="{x + 3:.1f}" y="{TOP + 10}" fill="#6a1b9a">{d.mg:g} mg</text>')
    for line in lines:
        rows = [(r.t, np.nan if r.value is None else r.value) for r in record.readings if r.vital == line.vital]
        if not rows:
            continue
        t, v = np.array(rows).T
        t, v = minmax(*with_gaps(t, v, max(gap_threshold(t), 3.0)), MAX_POINTS)
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        parts.append(f'<path d="{_path(t, v, sx, sy)}" fill="none" stroke="{line.colour}" stroke-width="1.6"{dash}/>')
        if line.markers:
            parts += [f'<circle cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="2.2" fill="{line.colour}"/>'
                      for a, b in zip(t, v) if not np.isnan(b)]
    legend = " · ".join(f'<tspan fill="{ln.colour}">{ln.label}</tspan>' for ln in lines)
    parts.append(f'<text x="{LEFT}" y="10" class="title">{html.escape(title)}: {legend}</text></svg>')
    return "".join(parts)


CSS = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 18px 0 6px; }
.meta { color: #444; margin-bottom: 10px; } .disclaimer { font-size: 12px; color: #555; }
.chart { width: 100%; height: auto; display: block; margin: 6px 0; font-size: 11px; }
.chart .title { font-size: 12px; font-weight: bold; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 18px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #ddd; vertical-align: top; }
th { font-size: 13px; } .not-met { color: #b00020; font-weight: bold; }
.legend span { display: inline-block; padding: 0 8px; margin-right: 6px; }
@media print { body { margin: 10mm; } .chart, table { break-inside: avoid; } }
"""


def _acknowledged(ep: Episode) -> str:
    if ep.acknowledged_at is None:
        return "-"
    return f"{ep.acknowledged_at - ep.start:.0f} s" + (f" by {ep.acknowledged_by}" if ep.acknowledged_by else "")


def render(record: SessionRecord, summary: Summary) -> str:
    """The report as an HTML document."""
    s, start = record.session, record.session.started
    esc = html.escape
    sections = "".join(
        f"<table><tr><th colspan=2>{esc(title)}</th></tr>"
        + "".join(f'<tr class="{"not-met" if label.startswith("NOT met") else ""}"><td>{esc(label)}</td>'
                  f"<td>{esc(text)}</td></tr>" for label, text in rows)
        + "</table>"
        for title, rows in describe(summary, start)
    )
    notes = "".join(
        f"<tr><td>T+{minutes(e.t - start)}</td><td>{esc(e.kind)}</td><td>{esc(str(e.data.get('text', '')))}</td></tr>"
        for e in record.events if e.kind in ("note", "phase", "discharge")
    )
    alarms = "".join(
        f"<tr><td>T+{minutes(ep.start - start)}</td><td>{minutes(ep.until(record.end) - ep.start)}</td>"
        f"<td>{ep.priority.upper()}</td><td>{esc(ep.message)}</td>"
        f"<td>{esc(_acknowledged(ep))}</td></tr>"
        for ep in summary.episodes
    )
    charts = "".join(chart_svg(record, title, yr, lines, summary) for title, yr, lines in CHARTS)
    legend = "".join(f'<span style="background:{c}55">{p.upper()} alarm</span>' for p, c in PRIORITY_FILL.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kapmon session {esc(s.id)}</title><style>{CSS}</style></head>
<body>
<h1>Session report: {esc(s.id)}</h1>
<div class="meta">Patient {esc(s.patient)} · {esc(s.route.upper())} · {'' if s.weight_kg is None else f'{s.weight_kg:g} kg · '}
started {clock(start)} · {minutes(record.end - start)} recorded · protocol {esc(summary.protocol)}</div>
<p class="disclaimer">Not a medical device: for research, education, simulation and secondary display.
Generated by kapmon from the session record.</p>
<h2>Trends</h2>
<div class="legend">Minutes from session start. Purple line: dose. {legend}</div>
{charts}
<h2>Summary</h2>
<div class="grid">{sections}</div>
<p class="disclaimer">Baseline rule: {esc(summary.baseline_rule)}</p>
<h2>Alarms</h2>
<table><tr><th>Raised</th><th>Lasted</th><th>Priority</th><th>Message</th><th>Acknowledged</th></tr>{alarms or '<tr><td colspan=5>none</td></tr>'}</table>
<h2>Notes and phases</h2>
<table><tr><th>Time</th><th>Kind</th><th>Text</th></tr>{notes or '<tr><td colspan=3>none</td></tr>'}</table>
<p>Reviewed by: ______________________ &nbsp; Date: ____________ &nbsp; Signature: ______________________</p>
</body></html>
"""


def write_report(store: Store, session_id: str, path: Path) -> Path:
    record = load_record(store, session_id)
    path.write_text(render(record, summarise(record)), encoding="utf-8")
    return path
