"""The review page of one recorded session: the whole trace, the summary, exports and the patient's course.

Every vital is drawn over the whole session (x: minutes from session start) with dose markers,
alarm spans coloured by priority (IEC 60601-1-8 colours: high red, medium yellow, low cyan), notes
and phases. Long traces (75 Hz pleth: ~1M points in 4 h) are sent min/max-downsampled; each zoom
or pan re-sends only the visible window, downsampled again (``monitor.downsample``), as a ``Patch``.
Gaps (no-value readings, sensor off, disconnects) stay gaps.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, Patch, State, ctx, dcc, html, no_update
from plotly.subplots import make_subplots

from layouts.components import COLOURS, clock_text
from monitor.course import CourseRow, course
from monitor.downsample import gap_threshold, minmax, window, with_gaps
from monitor.export import FORMATS, export
from monitor.store import Store
from monitor.summary import SessionRecord, Summary, describe, load_record, minutes, summarise

N_OUT = 2000  # points per trace sent to the browser (about two per horizontal pixel)
CACHE_SESSIONS = 4
PRIORITY_COLOUR = {"high": "#e0191b", "medium": "#f5c400", "low": "#00bcd4"}
PHASE_COLOUR = {"baseline": "#455a64", "dosing": "#7e57c2", "recovery": "#26a69a", "discharge": "#66bb6a"}
DOSE_COLOUR = "#ce93d8"


@dataclass(frozen=True, slots=True)
class Trace:
    vital: str
    label: str
    row: int
    colour: str
    dashed: bool = False
    markers: bool = False


TRACES = (
    Trace("sbp", "SBP", 2, COLOURS["sbp"], markers=True),
    Trace("dbp", "DBP", 2, COLOURS["dbp"], dashed=True, markers=True),
    Trace("map", "MAP", 2, COLOURS["map"], dashed=True),
    Trace("hr", "HR", 3, COLOURS["hr"]),
    Trace("pr", "PR", 3, "#a5d6a7", dashed=True),
    Trace("spo2", "SpO2", 4, COLOURS["spo2"]),
    Trace("pleth", "Pleth", 5, "#b3e5fc"),
)
ROW_TITLES = ("Events · alarms · phases", "NIBP mmHg", "HR / PR /min", "SpO2 %", "Pleth")
ROW_HEIGHTS = (0.12, 0.28, 0.2, 0.2, 0.2)


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Series:
    """One vital over the session: x in minutes from start, y with NaN at gaps."""

    x: np.ndarray
    y: np.ndarray


_cache: OrderedDict[tuple, dict[str, Series]] = OrderedDict()


def load_series(store: Store, session_id: str, started: float) -> dict[str, Series]:
    """Every trace vital of a session, gaps marked; cached per session until new readings arrive."""
    key = (str(store.path), session_id, store.last_reading_id(session_id))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    out = {}
    for tr in TRACES:
        rows = store.series(session_id, tr.vital)
        if not rows:
            continue
        arr = np.array(rows, dtype=float)  # None -> NaN: a no-value reading is a gap
        t, v = arr[:, 0], arr[:, 1]
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        t, v = with_gaps(t, v, max(gap_threshold(t), 0.05))
        out[tr.vital] = Series((t - started) / 60.0, v)
    _cache[key] = out
    while len(_cache) > CACHE_SESSIONS:
        _cache.popitem(last=False)
    return out


def _json(a: np.ndarray, digits: int) -> list[float | None]:
    """Rounded values with NaN as None (null: a gap in the line)."""
    return [None if x != x else x for x in np.round(a, digits).tolist()]


def visible(s: Series, x0: float | None = None, x1: float | None = None, n_out: int = N_OUT) -> tuple[list, list]:
    """The part of a series between x0 and x1 (all if None), min/max-downsampled to about n_out points."""
    x, y = (s.x, s.y) if x0 is None or x1 is None else window(s.x, s.y, x0, x1)
    x, y = minmax(x, y, n_out)
    return _json(x, 4), _json(y, 2)


# --------------------------------------------------------------------------------------------- figure


def phases(record: SessionRecord, summary: Summary) -> list[tuple[str, float, float]]:
    """Phase spans (name, start, end) in epoch seconds: baseline, dosing, recovery, discharge."""
    start, end, first = record.session.started, record.end, summary.first_dose
    if first is None:
        return [("baseline", start, end)]
    dosing_end = max([(d.end or d.t + 60) for d in record.doses])
    leave = summary.discharge.t if summary.discharge.how != "not met" else end
    spans = [("baseline", start, first), ("dosing", first, dosing_end), ("recovery", dosing_end, max(leave, dosing_end)),
             ("discharge", leave, end)]
    return [(name, a, b) for name, a, b in spans if b > a]


def _events_lane(fig: go.Figure, record: SessionRecord, summary: Summary) -> None:
    start = record.session.started

    def m(t: float) -> float:
        return round((t - start) / 60, 4)

    for name, a, b in phases(record, summary):
        fig.add_trace(go.Scatter(x=[m(a), m(b)], y=[2.5, 2.5], mode="lines", line={"color": PHASE_COLOUR[name], "width": 16},
                                 name=f"phase {name}", hovertemplate=f"{name}: T+%{{x:.0f}} min<extra></extra>",
                                 showlegend=False), row=1, col=1)
        fig.add_annotation(x=(m(a) + m(b)) / 2, y=2.5, text=name, showarrow=False, font={"size": 13, "color": "#fff"},
                           xref="x", yref="y")
    if summary.peak_sbp is not None:
        fig.add_trace(go.Scatter(x=[m(summary.peak_sbp.t)], y=[2.5], mode="markers+text", text=["peak"],
                                 textposition="top center", marker={"symbol": "star", "size": 16, "color": "#ff8a80"},
                                 name="peak SBP", showlegend=False, textfont={"color": "#ff8a80"}), row=1, col=1)
    for priority, colour in PRIORITY_COLOUR.items():
        eps = [e for e in summary.episodes if e.priority == priority]
        xs: list[float | None] = []
        text: list[str | None] = []
        for e in eps:
            xs += [m(e.start), m(e.until(record.end)), None]
            text += [e.message, e.message, None]
        fig.add_trace(go.Scatter(x=xs, y=[1.5 if x is not None else None for x in xs], mode="lines+markers",
                                 line={"color": colour, "width": 12}, marker={"size": 8, "color": colour},
                                 name=f"alarm {priority.upper()}", text=text, connectgaps=False,
                                 hovertemplate=f"{priority.upper()} %{{text}}<extra></extra>", showlegend=bool(eps)),
                      row=1, col=1)
        for e in eps:
            fig.add_shape(type="rect", xref="x", yref="paper", x0=m(e.start), y0=0, y1=1, fillcolor=colour,
                          x1=max(m(e.until(record.end)), m(e.start) + 0.2), opacity=0.16, line_width=0, layer="below")
    notes = [e for e in record.events if e.kind in ("note", "phase", "discharge")]
    fig.add_trace(go.Scatter(x=[m(e.t) for e in notes], y=[0.5] * len(notes), mode="markers",
                             marker={"symbol": ["diamond" if e.kind != "note" else "circle" for e in notes],
                                     "size": 11, "color": "#e0e0e0"},
                             text=[f"{e.kind}: {e.data.get('text', '')}" for e in notes], name="notes",
                             hovertemplate="%{text}<extra>T+%{x:.0f} min</extra>", showlegend=False), row=1, col=1)
    for d in record.doses:
        fig.add_shape(type="line", xref="x", yref="paper", x0=m(d.t), x1=m(d.t), y0=0, y1=1,
                      line={"color": DOSE_COLOUR, "width": 2, "dash": "dash"})
        fig.add_annotation(x=m(d.t), y=1, yref="paper", text=f"{d.mg:g} mg {d.drug}", showarrow=False, yanchor="bottom",
                           font={"color": DOSE_COLOUR, "size": 14}, xanchor="left")


def review_figure(record: SessionRecord, summary: Summary, series: dict[str, Series]) -> go.Figure:
    """The full-session figure: events lane, NIBP, HR/PR, SpO2 and pleth sharing one time axis."""
    fig = make_subplots(rows=5, cols=1, shared_xaxes=True, vertical_spacing=0.035, row_heights=list(ROW_HEIGHTS),
                        subplot_titles=ROW_TITLES)
    for tr in TRACES:
        s = series.get(tr.vital)
        x, y = visible(s) if s is not None else ([], [])
        fig.add_trace(go.Scattergl(
            x=x, y=y, name=tr.label, mode="lines+markers" if tr.markers else "lines", connectgaps=False,
            line={"color": tr.colour, "width": 1.2 if tr.vital == "pleth" else 2, "dash": "dot" if tr.dashed else "solid"},
            marker={"size": 6}, hovertemplate=f"{tr.label} %{{y}}<extra>T+%{{x:.1f}} min</extra>",
        ), row=tr.row, col=1)
    _events_lane(fig, record, summary)
    low = summary.min_spo2.value if summary.min_spo2 else 90
    fig.update_yaxes(fixedrange=True, gridcolor="#263238", zeroline=False)
    fig.update_yaxes(range=[0, 3.2], showticklabels=False, showgrid=False, row=1, col=1)
    fig.update_yaxes(range=[40, 220], row=2, col=1)
    fig.update_yaxes(range=[30, 160], row=3, col=1)
    fig.update_yaxes(range=[min(75, low - 3), 101], row=4, col=1)
    fig.update_xaxes(gridcolor="#263238", showspikes=True, spikemode="across", spikecolor="#90a4ae", spikethickness=1)
    fig.update_xaxes(title_text="minutes from session start", row=5, col=1)
    for title in ROW_TITLES:
        fig.update_annotations(font={"size": 16, "color": "#cfd8dc"}, selector={"text": title})
    fig.update_layout(
        template="plotly_dark", paper_bgcolor="#000", plot_bgcolor="#0b0f12", height=980, uirevision=record.session.id,
        margin={"l": 60, "r": 20, "t": 40, "b": 90}, hovermode="x", dragmode="zoom", font={"size": 14},
        legend={"orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.06, "yanchor": "top", "font": {"size": 15}},
    )
    return fig


# --------------------------------------------------------------------------------------------- panels


def summary_panel(summary: Summary, started: float) -> html.Div:
    cards = []
    for title, rows in describe(summary, started):
        cards.append(html.Div(className="review-card", children=[
            html.H3(title),
            html.Table([html.Tr([html.Td(label), html.Td(text)], className="not-met" if label.startswith("NOT") else "")
                        for label, text in rows]),
        ]))
    return html.Div(id="review-summary", className="review-summary", children=cards)


def notes_table(record: SessionRecord) -> html.Table:
    start = record.session.started
    rows = [html.Tr([html.Td(f"T+{minutes(e.t - start)}"), html.Td(clock_text(e.t)[11:19]), html.Td(e.kind),
                     html.Td(_dose_text(e.data) if e.kind == "dose" else str(e.data.get("text", ""))),
                     html.Td(e.who or "")])
            for e in record.events if e.kind in ("note", "phase", "dose", "discharge")]
    head = html.Tr([html.Th(h) for h in ("Time", "Clock", "Kind", "What", "Who")])
    return html.Table([html.Thead(head), html.Tbody(rows)], className="review-table")


def _dose_text(data: dict) -> str:
    return f"{data.get('mg', 0):g} mg {data.get('drug', '')} {str(data.get('route', '')).upper()}"


def course_table(rows: list[CourseRow], current: str) -> html.Table:
    def num(x: float | None, fmt: str = ".0f") -> str:
        return "-" if x is None else format(x, fmt)

    head = html.Tr([html.Th(h) for h in ("Session", "Date", "Route", "Drug", "Dose mg", "mg/kg", "Baseline BP",
                                         "Peak BP", "Rise", "Min SpO2", "Alarms H/M/L")])
    body = [html.Tr(className="current" if r.session_id == current else "", children=[
        html.Td(html.A(r.session_id, href=f"/review/{r.session_id}")), html.Td(clock_text(r.started)[:10]),
        html.Td(r.route.upper()), html.Td(r.drugs), html.Td(num(r.mg, "g")), html.Td(num(r.mg_per_kg, "g")),
        html.Td(f"{num(r.baseline_sbp)}/{num(r.baseline_dbp)}"), html.Td(f"{num(r.peak_sbp)}/{num(r.peak_dbp)}"),
        html.Td(f"{num(r.rise_sbp, '+.0f')}/{num(r.rise_dbp, '+.0f')}"), html.Td(num(r.min_spo2)),
        html.Td("/".join(str(r.alarms.get(p, 0)) for p in ("high", "medium", "low"))),
    ]) for r in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], id="review-course", className="review-table")


EXPORTS = (("csv", "CSV (zip)"), ("parquet", "Parquet"), ("fhir", "FHIR R4"), ("report", "Report (HTML)"))


def layout(store: Store, session_id: str) -> html.Div:
    """The review page of one session (or a clear message if there is no such session)."""
    if store.session(session_id) is None:
        return html.Div(className="review", children=[
            html.H1("No such session"), html.P(f"There is no session {session_id!r} in this store."),
            html.A("All sessions", href="/")])
    record = load_record(store, session_id)
    summary = summarise(record)
    s = record.session
    fig = review_figure(record, summary, load_series(store, session_id, s.started))
    return html.Div(className="review", children=[
        dcc.Store(id="review-session", data=session_id),
        dcc.Download(id="review-download"),
        html.Header(className="topbar", children=[
            html.A("kapmon", href="/", className="brand"),
            html.Span(f"Review · {s.patient}", className="patient", id="review-patient"),
            html.Span(f"{s.route.upper()} · {'' if s.weight_kg is None else f'{s.weight_kg:g} kg · '}"
                      f"started {clock_text(s.started)[:16]} · {minutes(record.end - s.started)}", className="session-clock"),
            html.Span(s.id, className="session-clock"),
        ]),
        html.Div(className="review-exports", children=[html.Span("Export:", className="muted")] + [
            html.Button(label, id=f"export-{fmt}", className="ack", n_clicks=0) for fmt, label in EXPORTS]),
        html.P("Drag across a trace to zoom in time; double-click to see the whole session. "
               "Shaded spans are alarms (red high, yellow medium, cyan low); dashed lines are doses.",
               className="muted review-help"),
        dcc.Loading(dcc.Graph(id="review-graph", figure=fig, config={"displaylogo": False, "scrollZoom": True}),
                    type="dot"),
        html.H2("Summary"),
        summary_panel(summary, s.started),
        html.P(f"Baseline rule: {summary.baseline_rule}", className="muted review-help"),
        html.H2("Notes, phases and doses"),
        notes_table(record),
        html.H2(f"Course: every session of {s.patient}"),
        course_table(course(store, s.patient, {s.id: summary}), s.id),
    ])


# --------------------------------------------------------------------------------------------- callbacks

_RANGE = re.compile(r"^xaxis\d*\.range\[([01])\]$")


def x_range(relayout: dict | None) -> tuple[float, float] | None | str:
    """The new x range of a relayout event; "all" after autorange; None when x did not change."""
    if not relayout:
        return None
    if any(k.startswith("xaxis") and k.endswith("autorange") for k in relayout):
        return "all"
    ends: dict[str, float] = {}
    for key, value in relayout.items():
        match = _RANGE.match(key)
        if match:
            ends[match.group(1)] = float(value)
        elif re.match(r"^xaxis\d*\.range$", key) and isinstance(value, list) and len(value) == 2:
            ends = {"0": float(value[0]), "1": float(value[1])}
    if len(ends) != 2:
        return None
    return ends["0"], ends["1"]


def zoom_patch(series: dict[str, Series], rng: tuple[float, float] | str) -> Patch | object:
    """A Patch re-sending the downsampled traces that do not fit in one screen at full resolution."""
    patch = Patch()
    changed = False
    for i, tr in enumerate(TRACES):
        s = series.get(tr.vital)
        if s is None or len(s.x) <= N_OUT:
            continue
        x, y = visible(s) if rng == "all" else visible(s, *rng)
        patch["data"][i]["x"] = x
        patch["data"][i]["y"] = y
        changed = True
    return patch if changed else no_update


def register(app: Dash, store: Store) -> None:
    """Register the review page callbacks against one store."""

    @app.callback(Output("review-graph", "figure"), Input("review-graph", "relayoutData"),
                  State("review-session", "data"), prevent_initial_call=True)
    def zoom(relayout: dict | None, session_id: str):
        rng = x_range(relayout)
        session = store.session(session_id)
        if rng is None or session is None:
            return no_update
        return zoom_patch(load_series(store, session_id, session.started), rng)

    @app.callback(Output("review-download", "data"), *[Input(f"export-{fmt}", "n_clicks") for fmt, _ in EXPORTS],
                  State("review-session", "data"), prevent_initial_call=True)
    def download(*args):
        session_id = args[-1]
        fmt = (ctx.triggered_id or "").removeprefix("export-")
        if fmt not in FORMATS:
            return no_update
        return dcc.send_bytes(export_bytes(store, session_id, fmt), download_name(session_id, fmt))


def download_name(session_id: str, fmt: str) -> str:
    return f"kapmon-{session_id}." + {"csv": "zip", "parquet": "parquet", "fhir": "fhir.json", "report": "html"}[fmt]


def export_bytes(store: Store, session_id: str, fmt: str) -> bytes:
    """One export as bytes; CSV comes zipped with its JSON sidecar."""
    with tempfile.TemporaryDirectory() as tmp:
        name = f"kapmon-{session_id}"
        path = export(store, session_id, fmt, Path(tmp) / (name + (".csv" if fmt == "csv" else ".out")))
        if fmt != "csv":
            return path.read_bytes()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, f"{name}.csv")
            z.write(path.with_suffix(".json"), f"{name}.json")
        return buf.getvalue()
