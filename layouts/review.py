"""The review page of one recorded session: the whole trace, the summary, exports and the patient's course.

Every vital is drawn over the whole session on one time axis, T+ minutes since the first dose (the
session start when no dose was recorded), with the clock time under each T+ tick. Above the traces,
an events lane has one lane per alarm priority (IEC 60601-1-8 colours: high red, medium yellow, low
cyan), the phases, notes and doses; the background under the traces is shaded with the highest
priority active at each moment, so shadings never blend into colours the legend lacks. A panel is
drawn only for vitals the session has. Long traces (75 Hz pleth: ~1M points in 4 h) are sent
min/max-downsampled; each zoom or pan re-sends only the visible window, downsampled again
(``monitor.analysis.downsample``), and the T+ ticks for it, as a ``Patch``. Gaps (no-value readings, sensor
off, disconnects) stay gaps.
"""

from __future__ import annotations

import io
import math
import re
import tempfile
import time
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from dash import Dash, Input, Output, Patch, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from devices.errors import RecordingError
from devices.vocabulary import PRIORITIES, PRIORITY_COLOUR, SCALES, WAVEFORMS
from layouts.components import COLOURS, clock_text
from layouts.stacked_figure import StackedFigure, axis_key, template
from monitor.analysis.columns import table_of
from monitor.analysis.course import CourseRow, course
from monitor.analysis.downsample import MIN_GAP_S, gap_threshold, minmax, overview, rate_gap, window, with_gaps
from monitor.analysis.record_view import (
    ENDED,
    EventRow,
    decision_rows,
    dosing_rows,
    event_rows,
    given_text,
    is_ended,
    lifted_text,
    recording_state,
    reference,
    retracted_rows,
    screening_changes,
    screening_rows,
    stagger,
    state_text,
    summary_sections,
    top_spans,
)
from monitor.analysis.summary import SessionRecord, Summary, judged_under, load_record, minutes, plan_for, summarise
from monitor.analysis.timeref import TimeRef, clock_hm, clock_hms, duration_text
from monitor.exports.contents import ExportError
from monitor.exports.rems import for_esketamine
from monitor.exports.writer import FORMATS, export, export_problems
from monitor.rules.protocol import Protocol
from monitor.session.dose_rows import dose_rows
from monitor.session.model import Observation
from monitor.session.store import Store, StoreError

N_OUT = 2000  # points per trace sent to the browser (about two per horizontal pixel)
CACHE_SESSIONS = 4
WINDOW_MARGIN_S = 1.0  # a zoom reads this much (or 5 % of the window) beyond each edge, so lines run to the edges
PHASE_COLOUR = {"baseline": "#455a64", "dosing": "#7e57c2", "recovery": "#26a69a", "discharge": "#66bb6a"}
DOSE_COLOUR = "#ce93d8"
FHIR_INTERVALS = ((0, "every reading"), (10, "one per 10 s"), (60, "one per minute"), (300, "one per 5 min"))
TICK_STEPS_MIN = (0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120)
MAX_TICKS = 12
LABEL_PX, ROW_PX, PLOT_PX = 8.5, 18, 1150  # dose label: px per character, px per row; narrowest plot width


@dataclass(frozen=True, slots=True)
class Trace:
    vital: str
    label: str
    colour: str
    dashed: bool = False
    markers: bool = False


@dataclass(frozen=True, slots=True)
class Panel:
    """One subplot: its title, traces, default y range (widened to fit the data) and height share."""

    title: str
    traces: tuple[Trace, ...]
    y_range: tuple[float, float] | None
    height: float


PANELS = (
    Panel(
        "NIBP mmHg",
        (
            Trace("sbp", "SBP", COLOURS["sbp"], markers=True),
            Trace("dbp", "DBP", COLOURS["dbp"], dashed=True, markers=True),
            Trace("map", "MAP", COLOURS["map"], dashed=True),
        ),
        (40, 220),
        0.28,
    ),
    Panel("HR / PR /min", (Trace("hr", "HR", COLOURS["hr"]), Trace("pr", "PR", "#a5d6a7", dashed=True)), (30, 160), 0.2),
    Panel("SpO2 %", (Trace("spo2", "SpO2", COLOURS["spo2"]),), (75, 101), 0.2),
    Panel("Pleth", (Trace("pleth", "Pleth", "#b3e5fc"),), None, 0.2),
)
TRACES = tuple(tr for panel in PANELS for tr in panel.traces)
EVENTS_HEIGHT = 0.17
# y of each lane in the events row: phases on top, a lane per priority (most urgent highest), notes at the bottom
LANES = {"phase": 4.5, **{p: 3.5 - i for i, p in enumerate(PRIORITIES)}, "notes": 0.5, "charted": -0.5}
CHARTED_COLOUR = {False: "#78909c", True: "#ffb300"}  # a charting round: every level unaffected / one showing an effect


# --------------------------------------------------------------------------------------------- data


def _json(a: np.ndarray, digits: int) -> list[float | None]:
    """Rounded values with NaN as None (null: a gap in the line)."""
    return [None if x != x else x for x in np.round(a, digits).tolist()]


def _points(x: np.ndarray, y: np.ndarray, n_out: int) -> tuple[list, list]:
    x, y = minmax(x, y, n_out)
    return _json(x, 4), _json(y, 2)


@dataclass(frozen=True, slots=True)
class Series:
    """One numeric vital over the session (a few thousand readings, read whole): x in minutes since T+0, y with
    NaN at gaps."""

    x: np.ndarray
    y: np.ndarray

    @property
    def resent(self) -> bool:
        """Whether a zoom re-sends it (it does not fit in one screen at full resolution)."""
        return len(self.x) > N_OUT

    def visible(self, x0: float | None = None, x1: float | None = None, n_out: int = N_OUT) -> tuple[list, list]:
        """The part between x0 and x1 (all if None), min/max-downsampled to about n_out points."""
        x, y = (self.x, self.y) if x0 is None or x1 is None else window(self.x, self.y, x0, x1)
        return _points(x, y, n_out)


@dataclass(frozen=True, slots=True)
class Waveform:
    """One waveform of the session, read from the store's blocks a window at a time, never kept whole."""

    store: Store
    session_id: str
    vital: str
    t0: float  # epoch seconds of T+0

    resent = True

    def visible(self, x0: float | None = None, x1: float | None = None, n_out: int = N_OUT) -> tuple[list, list]:
        """The samples between x0 and x1 minutes (all if None), min/max-downsampled to about n_out points with
        gaps kept. Only the blocks of the window (and a margin for lines to run to its edges) are read; when it
        holds more blocks than there are bins, each block's extremes stand for its samples."""
        bounds = None if x0 is None or x1 is None else (self.t0 + x0 * 60, self.t0 + x1 * 60)
        margin = 0.0 if bounds is None else max(0.05 * (bounds[1] - bounds[0]), WINDOW_MARGIN_S)
        t_from, t_to = (None, None) if bounds is None else (bounds[0] - margin, bounds[1] + margin)
        outline = self.store.waveform_outline(self.session_id, self.vital, t_from, t_to)
        threshold = rate_gap(outline[:, 1])
        if len(outline) > n_out // 2:
            t, v = overview(outline, threshold)
        else:
            t, v = with_gaps(*self.store.waveform(self.session_id, self.vital, t_from, t_to), threshold)
        if bounds is not None:
            t, v = window(t, v, *bounds)
        return _points((t - self.t0) / 60.0, v, n_out)


Traced = Series | Waveform
_cache: OrderedDict[tuple, dict[str, Series]] = OrderedDict()


def every_reading(record: SessionRecord) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """``(t, value)`` of each numeric trace vital in time order (id order at one time; NaN: no value), as
    ``Store.series`` sorted by time would give them, taken from an ended session's record; None when the record
    cannot stand for the store: a session still recording may have more, and a hand-taken BP entered in error is
    left out of the record but still drawn (struck from the summary, not from the trace)."""
    if not is_ended(record) or any(e.kind == "manual_nibp" for e in record.retracted):
        return None
    table = table_of(record.readings)
    return {tr.vital: (table.of(tr.vital).t, table.of(tr.vital).value) for tr in TRACES if tr.vital not in WAVEFORMS}


def stored_series(store: Store, session_id: str, vital: str) -> tuple[np.ndarray, np.ndarray]:
    """``(t, value)`` of one numeric vital read from the store, in time order (id order at one time; NaN: no value)."""
    arr = np.array(store.series(session_id, vital), dtype=float).reshape(-1, 2)  # None -> NaN: a no-value reading is a gap
    order = np.argsort(arr[:, 0], kind="stable")
    return arr[order, 0], arr[order, 1]


def load_series(store: Store, session_id: str, t0: float, record: SessionRecord | None = None) -> dict[str, Traced]:
    """Every trace vital of a session (x in minutes since ``t0``): numerics read whole (from ``record`` when it
    holds them all: see :func:`every_reading`), gaps marked, cached per session until new readings arrive;
    waveforms as handles that read their blocks a window at a time."""
    key = (str(store.path), session_id, store.last_reading_id(session_id), t0)
    if key in _cache:
        _cache.move_to_end(key)
        numerics = _cache[key]
    else:
        known = None if record is None else every_reading(record)
        numerics = {}
        for tr in TRACES:
            if tr.vital in WAVEFORMS:
                continue
            t, v = known[tr.vital] if known else stored_series(store, session_id, tr.vital)
            if not len(t):
                continue
            t, v = with_gaps(t, v, max(gap_threshold(t), MIN_GAP_S))
            numerics[tr.vital] = Series((t - t0) / 60.0, v)
        _cache[key] = numerics
        while len(_cache) > CACHE_SESSIONS:
            _cache.popitem(last=False)
    waves = {vital: Waveform(store, session_id, vital, t0) for vital in store.waveform_vitals(session_id)}
    return {tr.vital: found for tr in TRACES if (found := numerics.get(tr.vital) or waves.get(tr.vital)) is not None}


def shown_traces(series: dict[str, Traced]) -> list[Trace]:
    """The traces drawn, in figure order: those of vitals the session has."""
    return [tr for tr in TRACES if tr.vital in series]


def shown_panels(series: dict[str, Traced]) -> list[Panel]:
    """The panels drawn: those with at least one vital the session has (no empty pleth panel)."""
    return [p for p in PANELS if any(tr.vital in series for tr in p.traces)]


def y_range(panel: Panel, series: dict[str, Traced]) -> list[float] | None:
    """The panel's default range widened to every value it shows, so no value is clipped."""
    if panel.y_range is None:
        return None
    values = [s.y[~np.isnan(s.y)] for tr in panel.traces if isinstance(s := series.get(tr.vital), Series)]
    values = [v for v in values if len(v)]
    lo, hi = panel.y_range
    if not values:
        return [lo, hi]
    pad = (hi - lo) * 0.03
    return [min(lo, float(min(v.min() for v in values)) - pad), max(hi, float(max(v.max() for v in values)) + pad)]


# --------------------------------------------------------------------------------------------- time axis


def time_ticks(ref: TimeRef, x0: float, x1: float) -> tuple[list[float], list[str]]:
    """Tick positions (minutes since T+0) and labels "T+30<br>08:40" for a window of the time axis."""
    span = max(x1 - x0, 1e-6)
    step = next((s for s in TICK_STEPS_MIN if span / s <= MAX_TICKS), TICK_STEPS_MIN[-1])
    vals = [round(v, 4) for v in np.arange(math.ceil(x0 / step) * step, x1 + 1e-9, step)]
    fine = step < 1
    texts = []
    for v in vals:
        sign, m = ("-" if v < 0 else "+"), abs(v)
        label = f"T{sign}{int(m)}:{round((m % 1) * 60):02d}" if fine else f"T{sign}{m:g}"
        at = ref.t0 + v * 60
        texts.append(f"{label}<br>{clock_hms(at) if fine else clock_hm(at)}")
    return vals, texts


def whole_range(record: SessionRecord, ref: TimeRef) -> tuple[float, float]:
    """The time axis of the whole session, in minutes since T+0."""
    return ref.minutes(record.session.started), ref.minutes(record.end)


# --------------------------------------------------------------------------------------------- figure


def phases(record: SessionRecord, summary: Summary) -> list[tuple[str, float, float]]:
    """Phase spans (name, start, end) in epoch seconds: baseline, dosing, recovery, discharge."""
    start, end, first = record.session.started, record.end, summary.first_dose
    if first is None:
        return [("baseline", start, end)]
    dosing_end = max([(d.end or d.t + 60) for d in record.doses])
    leave = summary.discharge.t if summary.discharge.how != "not met" else end
    spans = [
        ("baseline", start, first),
        ("dosing", first, dosing_end),
        ("recovery", dosing_end, max(leave, dosing_end)),
        ("discharge", leave, end),
    ]
    return [(name, a, b) for name, a, b in spans if b > a]


def _events_lane(fig: StackedFigure, record: SessionRecord, summary: Summary, ref: TimeRef) -> int:
    """Phases, one lane per alarm priority, notes and doses; returns the rows of dose labels used."""

    def m(t: float) -> float:
        return round(ref.minutes(t), 4)

    for name, a, b in phases(record, summary):
        fig.add_trace(
            dict(
                type="scatter",
                x=[m(a), m(b)],
                y=[LANES["phase"]] * 2,
                mode="lines",
                line={"color": PHASE_COLOUR[name], "width": 16},
                name=f"phase {name}",
                hovertemplate=f"{name}: {ref.text_with_clock(a)} to {ref.text_with_clock(b)}<extra></extra>",
                showlegend=False,
            ),
            1,
        )
        fig.add_annotation(
            x=(m(a) + m(b)) / 2,
            y=LANES["phase"],
            text=name,
            showarrow=False,
            font={"size": 13, "color": "#fff"},
            xref="x",
            yref="y",
        )
    if summary.peak_sbp is not None:
        p = summary.peak_sbp
        fig.add_trace(
            dict(
                type="scatter",
                x=[m(p.t)],
                y=[LANES["phase"]],
                mode="markers",
                marker={"symbol": "star", "size": 16, "color": "#ff8a80", "line": {"color": "#000", "width": 1}},
                name="peak SBP",
                hovertemplate=f"peak SBP {p.value:.0f} at {ref.text_with_clock(p.t)}<extra></extra>",
                showlegend=False,
            ),
            1,
        )
    for priority in PRIORITIES:
        colour = PRIORITY_COLOUR[priority]
        eps = [e for e in summary.episodes if e.priority == priority]
        xs: list[float | None] = []
        text: list[str | None] = []
        for e in eps:
            stop = e.until(record.end)
            words = f"{e.message} · {ref.text_with_clock(e.start)} for {duration_text(stop - e.start)}"
            xs += [m(e.start), max(m(stop), m(e.start) + 0.1), None]
            text += [words, words, None]
        fig.add_trace(
            dict(
                type="scatter",
                x=xs,
                y=[LANES[priority] if x is not None else None for x in xs],
                mode="lines",
                line={"color": colour, "width": 14},
                name=f"alarm {priority.upper()}",
                text=text,
                connectgaps=False,
                hovertemplate=f"{priority.upper()} %{{text}}<extra></extra>",
                showlegend=bool(eps),
            ),
            1,
        )
    for priority, a, b in top_spans(summary.episodes, record.end):
        fig.add_shape(
            type="rect",
            xref="x",
            yref="paper",
            x0=m(a),
            x1=max(m(b), m(a) + 0.1),
            y0=0,
            y1=1 - EVENTS_HEIGHT,
            fillcolor=PRIORITY_COLOUR[priority],
            opacity=0.16,
            line={"width": 0},
            layer="below",
        )
    rows = event_rows(record, ref)
    notes = [r for r in rows if r.kind not in ("dose", "observation")]  # observations have a lane of their own
    fig.add_trace(
        dict(
            type="scatter",
            x=[m(r.t) for r in notes],
            y=[LANES["notes"]] * len(notes),
            mode="markers",
            marker={"symbol": ["circle" if r.kind == "note" else "diamond" for r in notes], "size": 11, "color": "#e0e0e0"},
            text=[_hover(r, ref) for r in notes],
            name="notes",
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
        ),
        1,
    )
    _observations_lane(fig, record, ref)
    return _doses(fig, record, ref)


def charted_groups(observations: Sequence[Observation]) -> list[tuple[float, list[Observation]]]:
    """The chartings grouped by time (a nurse charts several scales at one round), in time order."""
    groups: dict[float, list[Observation]] = {}
    for o in sorted(observations, key=lambda o: o.t):
        groups.setdefault(o.t, []).append(o)
    return list(groups.items())


def _observations_lane(fig: StackedFigure, record: SessionRecord, ref: TimeRef) -> None:
    """Charted observations on their own lane: a marker per charting round, amber when a level showed an effect (the
    affected levels written beside it), every level with its words and who charted it in the hover; an entry marked
    entered in error a grey cross saying so."""
    groups = charted_groups(record.observations)
    affected = [[o for o in group if SCALES[o.scale].affected(o.level)] for _t, group in groups]
    fig.add_trace(
        dict(
            type="scatter",
            x=[round(ref.minutes(t), 4) for t, _group in groups],
            y=[LANES["charted"]] * len(groups),
            mode="markers+text",
            marker={"symbol": "square", "size": 12, "color": [CHARTED_COLOUR[bool(a)] for a in affected]},
            text=[" ".join(f"{SCALES[o.scale].label} {o.level}" for o in a) for a in affected],
            textposition="middle right",
            textfont={"size": 12, "color": CHARTED_COLOUR[True]},
            hovertext=[
                "<br>".join(SCALES[o.scale].level_text(o.level) + (f" by {o.who}" if o.who else "") for o in group)
                + f"<br>charted {ref.text_with_clock(t)}"
                for t, group in groups
            ],
            name="charted",
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
        ),
        1,
    )
    wrong = [r for r in retracted_rows(record, ref) if r.kind == "observation"]
    if wrong:
        fig.add_trace(
            dict(
                type="scatter",
                x=[round(ref.minutes(r.t), 4) for r in wrong],
                y=[LANES["charted"]] * len(wrong),
                mode="markers",
                marker={"symbol": "x-thin-open", "size": 12, "color": "#9e9e9e", "line": {"width": 2, "color": "#9e9e9e"}},
                hovertext=[f"<s>{r.what}</s>" + (f" by {r.who}" if r.who else "") + f"<br>{r.retracted}" for r in wrong],
                name="charted in error",
                hovertemplate="%{hovertext}<extra></extra>",
                showlegend=False,
            ),
            1,
        )


def _hover(r: EventRow, ref: TimeRef) -> str:
    return f"{r.kind}: {r.what[:120]}" + (f" ({r.who})" if r.who else "") + f"<br>{ref.text_with_clock(r.t)}"


def _doses(fig: StackedFigure, record: SessionRecord, ref: TimeRef) -> int:
    """Dashed lines at each dose, labels above the figure in rows that do not overprint; returns the rows."""
    doses = dose_rows(record.events)
    if not doses:
        return 0
    labels = [f"{d.mg:g} mg {d.drug or ''}".strip() if d.mg is not None else "dose (amount invalid)" for d in doses]
    span = max(ref.minutes(record.end) - ref.minutes(record.session.started), 1.0)
    xs = [ref.minutes(d.t) for d in doses]
    rows = stagger(xs, [(len(text) + 2) * LABEL_PX / PLOT_PX * span for text in labels])
    for d, x, text, row in zip(doses, xs, labels, rows):
        fig.add_shape(
            type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line={"color": DOSE_COLOUR, "width": 2, "dash": "dash"}
        )
        fig.add_annotation(
            x=x,
            y=1,
            yref="paper",
            text=text,
            showarrow=False,
            yanchor="bottom",
            xanchor="left",
            yshift=2 + row * ROW_PX,
            font={"color": DOSE_COLOUR, "size": 14},
            hovertext=f"{text} {d.route or ''} at {ref.text_with_clock(d.t)}" + (f" by {d.who}" if d.who else ""),
        )
    return max(rows) + 1


def review_figure(record: SessionRecord, summary: Summary, series: dict[str, Traced], ref: TimeRef) -> dict:
    """The full-session figure (as plotly JSON): events lane, then NIBP, HR/PR, SpO2 and pleth (those the
    session has) sharing one time axis in T+ minutes."""
    panels = shown_panels(series)
    n_rows = 1 + len(panels)
    heights = [EVENTS_HEIGHT] + [p.height for p in panels]
    fig = StackedFigure(
        [h / sum(heights) for h in heights], [""] + [p.title for p in panels], 0.035, {"size": 16, "color": "#cfd8dc"}
    )
    for row, panel in enumerate(panels, start=2):
        for tr in panel.traces:
            s = series.get(tr.vital)
            if s is None:
                continue
            x, y = s.visible()
            fig.add_trace(
                dict(
                    type="scattergl",
                    x=np.array(x, dtype=float),  # arrays go to JSON in one piece (NaN as null), lists a value at a time
                    y=np.array(y, dtype=float),
                    name=tr.label,
                    mode="lines+markers" if tr.markers else "lines",
                    connectgaps=False,
                    line={
                        "color": tr.colour,
                        "width": 1.2 if tr.vital == "pleth" else 2,
                        "dash": "dot" if tr.dashed else "solid",
                    },
                    marker={"size": 6},
                    hovertemplate=f"{tr.label} %{{y}}<extra>T%{{x:+.1f}} min</extra>",
                ),
                row,
            )
        fig.update_axes("y", [row], range=y_range(panel, series))
    label_rows = _events_lane(fig, record, summary, ref)
    fig.update_axes("y", fixedrange=True, gridcolor="#263238", zeroline=False)
    fig.update_axes(
        "y",
        [1],
        range=[min(LANES.values()) - 0.5, 5.1],
        tickvals=list(LANES.values()),
        ticktext=[k.upper() if k in PRIORITIES else k for k in LANES],
        showgrid=False,
        tickfont={"size": 12},
    )
    vals, texts = time_ticks(ref, *whole_range(record, ref))
    fig.update_axes("x", gridcolor="#263238", showspikes=True, spikemode="across", spikecolor="#90a4ae", spikethickness=1)
    fig.update_axes("x", [n_rows], title={"text": ref.axis_title()}, tickmode="array", tickvals=vals, ticktext=texts)
    height, top, bottom = 260 + 180 * len(panels), 16 + ROW_PX * max(label_rows, 1), 130
    fig.layout.update(
        template=template("plotly_dark"),
        paper_bgcolor="#000",
        plot_bgcolor="#0b0f12",
        height=height,
        uirevision=record.session.id,
        margin={"l": 80, "r": 20, "t": top, "b": bottom},
        hovermode="x",
        dragmode="zoom",
        font={"size": 14},
        legend={
            "orientation": "h",
            "x": 0.5,
            "xanchor": "center",
            "y": -92 / (height - top - bottom),
            "yanchor": "top",
            "font": {"size": 15},
        },
    )
    return fig.json()


# --------------------------------------------------------------------------------------------- panels


def summary_panel(summary: Summary, ref: TimeRef) -> html.Div:
    cards = []
    for title, rows in summary_sections(summary, ref):
        cards.append(
            html.Div(
                className="review-card",
                children=[
                    html.H3(title),
                    html.Table(
                        [
                            html.Tr([html.Td(label), html.Td(text)], className="not-met" if label.startswith("NOT") else "")
                            for label, text in rows
                        ]
                    ),
                ],
            )
        )
    return html.Div(id="review-summary", className="review-summary", children=cards)


def _what(r: EventRow) -> str | list[Component]:
    """An entry's text; struck through, with by whom, when and why, when it was entered in error."""
    if not r.retracted:
        return r.what
    return [html.S(r.what), html.Div(r.retracted, className="retracted-why")]


def events_table(record: SessionRecord, ref: TimeRef) -> html.Table:
    """Notes, phases, doses, hand-taken BPs, the protocol and overrides, with who and the clock time; entries
    marked entered in error struck through."""
    rows = [
        html.Tr(
            [html.Td(ref.text(r.t)), html.Td(clock_hms(r.t)), html.Td(r.kind), html.Td(_what(r)), html.Td(r.who)],
            className="retracted" if r.retracted else "invalid" if r.invalid else "",
        )
        for r in sorted(event_rows(record, ref) + retracted_rows(record, ref), key=lambda r: r.t)
    ]
    head = html.Tr([html.Th(h) for h in ("Time", "Clock", "Kind", "What", "Who")])
    return html.Table([html.Thead(head), html.Tbody(rows)], id="review-events", className="review-table")


def table(head: tuple[str, ...], rows: list[tuple], table_id: str, empty: str, classes: list[str] | None = None) -> html.Table:
    """A review table of text cells (a row of ``empty`` when there are none)."""
    body = [html.Tr([html.Td(c) for c in row], className=(classes or [""] * len(rows))[i]) for i, row in enumerate(rows)]
    if not body:
        body = [html.Tr(html.Td(empty, colSpan=len(head), className="muted"))]
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)], id=table_id, className="review-table")


def dosing_section(record: SessionRecord, protocol: Protocol, ref: TimeRef) -> html.Div:
    """Screening answers (and who gave them on the page), the blocks, gates and checks they decided with every
    override (who, when, why), and every change of the dosing decision."""
    plan = plan_for(record, protocol)
    answers = [(r.question, r.answer, given_text(r.given, ref)) for r in screening_rows(record, protocol)]
    changes = [
        (ref.text_with_clock(g.t), g.who or "-", "; ".join(c) or "no change")
        for g, c in screening_changes(record)
        if g.t is not None
    ]
    decisions = decision_rows(record, plan)
    lifted = [
        (r.finding.action.upper(), r.finding.text, lifted_text(r, ref))
        if r.finding is not None
        else ("OVERRIDE", r.override.alarm_id if r.override else "", lifted_text(r, ref))
        for r in decisions
    ]
    dosing = [(ref.text_with_clock(t), state, reasons) for t, state, reasons in dosing_rows(record)]
    return html.Div(
        id="review-dosing",
        className="review-dosing",
        children=[
            html.H3("Screening answers"),
            table(("Question", "Answer", "Given"), answers, "review-screening", "no screening recorded"),
            *(
                [
                    html.H3("Screening answered on the page"),
                    table(("When", "By", "Changed"), changes, "review-screening-changes", ""),
                ]
                if changes
                else []
            ),
            html.H3("Blocks, gates, checks and overrides"),
            table(
                ("Decision", "Why", "Lifted"),
                lifted,
                "review-decisions",
                "no blocks, gates or checks: clear to dose",
                ["not-met" if r.open_block else "" for r in decisions],
            ),
            html.H3("Dosing decision changes"),
            table(("When", "Dosing", "Reasons"), dosing, "review-dosing-changes", "no dosing decision recorded"),
        ],
    )


def course_table(rows: list[CourseRow], current: str) -> html.Table:
    def num(x: float | None, fmt: str = ".0f") -> str:
        return "-" if x is None else format(x, fmt)

    head = html.Tr(
        [
            html.Th(h)
            for h in (
                "Session",
                "Date",
                "Route",
                "Drug",
                "Dose mg",
                "mg/kg",
                "Baseline BP",
                "Peak BP",
                "Rise",
                "Min SpO2",
                "Alarms H/M/L",
            )
        ]
    )
    body = [
        html.Tr(
            className="current" if r.session_id == current else "",
            children=[
                html.Td(html.A(r.session_id, href=f"/review/{r.session_id}")),
                html.Td(clock_text(r.started)[:10]),
                html.Td(r.route.upper()),
                html.Td(r.drugs),
                html.Td(num(r.mg, "g")),
                html.Td(num(r.mg_per_kg, "g")),
                html.Td(f"{num(r.baseline_sbp)}/{num(r.baseline_dbp)}"),
                html.Td(f"{num(r.peak_sbp)}/{num(r.peak_dbp)}"),
                html.Td(f"{num(r.rise_sbp, '+.0f')}/{num(r.rise_dbp, '+.0f')}"),
                html.Td(num(r.min_spo2)),
                html.Td("/".join(str(r.alarms.get(p, 0)) for p in PRIORITIES)),
            ],
        )
        for r in rows
    ]
    return html.Table([html.Thead(head), html.Tbody(body)], id="review-course", className="review-table")


EXPORTS = (
    ("csv", "CSV (zip)"),
    ("parquet", "Parquet"),
    ("fhir", "FHIR R4"),
    ("report", "Report (HTML)"),
    ("vital", "VitalDB (.vital)"),
    ("rems", "REMS form"),
)


def export_bar(rems: bool = False) -> html.Div:
    """The export buttons (the REMS form's only for an esketamine session: ``rems``), the FHIR reading interval
    (as ``kapmon export --interval``) and the message line."""
    buttons = [
        html.Button(label, id=f"export-{fmt}", className="ack", n_clicks=0, hidden=fmt == "rems" and not rems)
        for fmt, label in EXPORTS
    ]
    interval = html.Label(
        className="review-interval",
        children=[
            "FHIR readings: ",
            dcc.Dropdown(
                id="export-fhir-interval",
                options=[{"label": text, "value": s} for s, text in FHIR_INTERVALS],
                value=0,
                clearable=False,
                searchable=False,
                style={"width": "190px", "color": "#000"},
            ),
        ],
    )
    return html.Div(
        className="review-exports",
        children=[
            html.Span("Export:", className="muted"),
            *buttons,
            interval,
            html.Span(id="review-export-message", className="review-export-message"),
        ],
    )


def layout(store: Store, session_id: str) -> html.Div:
    """The review page of one session (or a clear message if there is no such session)."""
    if store.session(session_id) is None:
        return html.Div(
            className="review",
            children=[
                html.H1("No such session"),
                html.P(f"There is no session {session_id!r} in this store."),
                html.A("All sessions", href="/"),
            ],
        )
    record = load_record(store, session_id)
    s = record.session
    protocol, named = judged_under(s)  # parsed once for the summary and the dosing section
    summary = summarise(record, protocol, named)
    ref = reference(record)
    series = load_series(store, session_id, ref.t0, record)
    fig = review_figure(record, summary, series, ref)
    state = recording_state(record, store.heartbeats().get(session_id), time.time())
    banner = (
        [html.Div(state_text(state, record, ref), id="review-running", className=f"review-banner {state}")]
        if state != ENDED
        else []
    )
    return html.Div(
        className="review",
        children=[
            dcc.Store(id="review-session", data=session_id),
            dcc.Store(
                id="review-traces",
                data={
                    "vitals": [tr.vital for tr in shown_traces(series)],
                    "t0": ref.t0,
                    "rows": 1 + len(shown_panels(series)),
                    "whole": whole_range(record, ref),
                },
            ),
            dcc.Download(id="review-download"),
            html.Header(
                className="topbar",
                children=[
                    html.A("kapmon", href="/", className="brand"),
                    html.Span(f"Review · {s.patient}", className="patient", id="review-patient"),
                    html.Span(
                        f"{s.route.upper()} · {'' if s.weight_kg is None else f'{s.weight_kg:g} kg · '}"
                        f"started {clock_text(s.started)[:16]} · {minutes(record.end - s.started)}"
                        + ("" if state == ENDED else " so far"),
                        className="session-clock",
                    ),
                    html.Span(s.id, className="session-clock"),
                ],
            ),
            *banner,
            export_bar(rems=for_esketamine(record, plan_for(record, protocol))),
            html.P(
                f"T+ minutes since the {ref.what} ({clock_hms(ref.t0)}). Drag to zoom, double-click for the whole "
                "session. Top lanes: alarms by priority, phases, notes, charted observations (amber: a level showing an "
                "effect; a cross: entered in error); shading: the highest alarm active; dashed lines: doses.",
                className="muted review-help",
            ),
            dcc.Loading(dcc.Graph(id="review-graph", figure=fig, config={"displaylogo": False, "scrollZoom": True}), type="dot"),
            html.H2("Summary"),
            summary_panel(summary, ref),
            html.P(f"Baseline rule: {summary.baseline_rule}", className="muted review-help"),
            html.H2("Doses, notes and decisions"),
            events_table(record, ref),
            html.H2("Screening and dosing"),
            dosing_section(record, protocol, ref),
            html.H2(f"Course: every session of {s.patient}"),
            course_table(course(store, s.patient, {s.id: summary}), s.id),
        ],
    )


# --------------------------------------------------------------------------------------------- callbacks

_RANGE = re.compile(r"^xaxis\d*\.range\[([01])\]$")


def _number(value: object) -> float | None:
    """A relayout value as a number (plotly sends numbers, or strings for date axes), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):  # text that is no number; an integer too large for a float
        return None


def x_range(relayout: dict | None) -> tuple[float, float] | None | str:
    """The new x range of a relayout event; "all" after autorange; None when x did not change."""
    if not relayout:
        return None
    if any(k.startswith("xaxis") and k.endswith("autorange") for k in relayout):
        return "all"
    ends: dict[str, float] = {}
    for key, value in relayout.items():
        match, number = _RANGE.match(key), _number(value)
        if match and number is not None:
            ends[match.group(1)] = number
        elif re.match(r"^xaxis\d*\.range$", key) and isinstance(value, list) and len(value) == 2:
            ends = {str(i): v for i, v in enumerate(map(_number, value)) if v is not None}
    if len(ends) != 2 or not all(map(math.isfinite, ends.values())) or ends["0"] >= ends["1"]:
        return None
    return ends["0"], ends["1"]


def within_reach(rng: tuple[float, float], whole: tuple[float, float]) -> tuple[float, float] | None:
    """The part of a zoom window within the session's length either side of the session (None: nothing)."""
    pad = max(whole[1] - whole[0], 1.0)
    lo, hi = max(rng[0], whole[0] - pad), min(rng[1], whole[1] + pad)
    return (lo, hi) if lo < hi else None


def zoom_patch(
    series: dict[str, Traced],
    drawn: list[str],
    rng: tuple[float, float] | str,
    ref: TimeRef,
    whole: tuple[float, float],
    n_rows: int,
) -> Patch:
    """A Patch with the T+ ticks of the new window and the downsampled traces (of the ``drawn`` vitals, in
    figure order) that do not fit in one screen at full resolution. Only the part of the window within the
    session's length either side of it is read and ticked (a window of a billion minutes from a browser is
    not a billion ticks); a window wholly beyond that changes nothing."""
    patch = Patch()
    if not isinstance(rng, str):  # a window, not "all"
        shown = within_reach(rng, whole)
        if shown is None:
            return patch
        rng = shown
    for i, vital in enumerate(drawn):
        s = series.get(vital)
        if s is None or not s.resent:
            continue
        x, y = s.visible() if rng == "all" else s.visible(*rng)
        patch["data"][i]["x"] = x
        patch["data"][i]["y"] = y
    vals, texts = time_ticks(ref, *(whole if rng == "all" else rng))
    patch["layout"][axis_key("x", n_rows)]["tickvals"] = vals
    patch["layout"][axis_key("x", n_rows)]["ticktext"] = texts
    return patch


def register(app: Dash, store: Store) -> None:
    """Register the review page callbacks against one store."""

    @app.callback(
        Output("review-graph", "figure"),
        Input("review-graph", "relayoutData"),
        State("review-session", "data"),
        State("review-traces", "data"),
        prevent_initial_call=True,
    )
    def zoom(relayout: dict | None, session_id: str, drawn: dict):
        rng = x_range(relayout)
        session = store.session(session_id)
        if rng is None or session is None or not drawn:
            return no_update
        ref = TimeRef(drawn["t0"], "")
        series = load_series(store, session_id, ref.t0)
        return zoom_patch(series, drawn["vitals"], rng, ref, tuple(drawn["whole"]), drawn["rows"])

    @app.callback(
        Output("review-download", "data"),
        Output("review-export-message", "children"),
        *[Input(f"export-{fmt}", "n_clicks") for fmt, _ in EXPORTS],
        State("review-session", "data"),
        State("export-fhir-interval", "value"),
        prevent_initial_call=True,
    )
    def download(*args):
        session_id, interval = args[-2], args[-1]
        fmt = (ctx.triggered_id or "").removeprefix("export-")
        if fmt not in FORMATS:
            return no_update, no_update
        if interval not in {s for s, _ in FHIR_INTERVALS}:
            return no_update, html.Span(f"Unknown FHIR reading interval {interval!r}.", className="error")
        try:
            data = export_bytes(store, session_id, fmt, float(interval))
            problems = export_problems(store, session_id)
        except (ExportError, StoreError, RecordingError, OSError) as exc:
            return no_update, html.Span(f"Export failed: {exc}", className="error")
        note = (
            [
                html.Span(f"Exported with {len(problems)} warning{'s' if len(problems) != 1 else ''}: ", className="warn"),
                *[html.Span(p, className="warn-line") for p in problems],
            ]
            if problems
            else [html.Span(f"Exported {download_name(session_id, fmt)}.", className="ok")]
        )
        return dcc.send_bytes(data, download_name(session_id, fmt)), note


def download_name(session_id: str, fmt: str) -> str:
    return (
        f"kapmon-{session_id}."
        + {"csv": "zip", "parquet": "parquet", "fhir": "fhir.json", "report": "html", "vital": "vital", "rems": "rems.md"}[fmt]
    )


def export_bytes(store: Store, session_id: str, fmt: str, interval_s: float = 0.0) -> bytes:
    """One export as bytes; CSV comes zipped with its JSON sidecar; ``interval_s`` thins FHIR readings."""
    with tempfile.TemporaryDirectory() as tmp:
        name = f"kapmon-{session_id}"
        path = export(store, session_id, fmt, Path(tmp) / (name + (".csv" if fmt == "csv" else ".out")), interval_s=interval_s)
        if fmt != "csv":
            return path.read_bytes()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, f"{name}.csv")
            z.write(path.with_suffix(".json"), f"{name}.json")
        return buf.getvalue()
