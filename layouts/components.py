"""Shared pieces of the pages: numeric tiles, the alarm banner, trend figures, time formatting."""

from __future__ import annotations

import time
from collections.abc import Sequence

import plotly.graph_objects as go
from dash import html

from monitor.alarm_events import PRIORITY_RANK

# Dark theme colours; vitals keep the colours bedside monitors use.
COLOURS = {"hr": "#3ddc84", "pr": "#3ddc84", "spo2": "#4fc3f7", "sbp": "#ff8a80", "dbp": "#ff8a80", "map": "#ffcc80"}
PRIORITY_MARK = {"high": "!!!", "medium": "!!", "low": "!"}

TRENDS = {
    "bp": {"title": "NIBP mmHg", "vitals": ("sbp", "dbp", "map"), "range": (40, 220)},
    "hr": {"title": "HR / PR /min", "vitals": ("hr", "pr"), "range": (30, 160)},
    "spo2": {"title": "SpO2 %", "vitals": ("spo2",), "range": (75, 101)},
}


def clock_text(t: float) -> str:
    """Local wall-clock time of an epoch timestamp, as plotly reads it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f".{int((t % 1) * 1000):03d}"


def age_text(seconds: float) -> str:
    """How old a value is, the way a nurse reads it: "8 s", "3 min"."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def elapsed_text(seconds: float) -> str:
    """A phase clock: ``T+1:05:09``."""
    seconds = int(max(0, seconds))
    return f"T+{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def since_dose_text(seconds: float) -> str:
    """Time from the first dose in minutes and seconds: ``T+35:10``, ``T-04:30`` before it, ``T+125:00``."""
    whole = round(seconds)
    sign = "-" if whole < 0 else "+"
    minutes, secs = divmod(abs(whole), 60)
    return f"T{sign}{minutes:02d}:{secs:02d}"


SYMBOLS = {"below": "<", "at_most": "\u2264", "above": ">", "at_least": "\u2265"}
LIMIT_COLOURS = {"high": "#e0191b", "medium": "#f5c400", "low": "#00bcd4"}


def limit_lines(fig: go.Figure, key: str, limits: Sequence) -> None:
    """Dashed lines at the plan's absolute limits for the vitals of one trend graph."""
    vitals = TRENDS[key]["vitals"]
    for planned in limits:
        limit = planned.limit
        if limit.vital in vitals and not limit.relative:
            fig.add_hline(
                y=limit.threshold, line={"color": LIMIT_COLOURS[limit.priority], "width": 1, "dash": "dash"},
                annotation_text=f"{limit.vital.upper()} {SYMBOLS[limit.comparison]} {limit.threshold:g}",
                annotation_font={"size": 11, "color": LIMIT_COLOURS[limit.priority]},
                annotation_position="top right" if limit.low_side else "bottom right",
            )


def trend_figure(key: str, limits: Sequence = ()) -> go.Figure:
    """An empty trend graph for one group of vitals, with the plan's limits; data arrives by ``extendData``.

    The last trace holds dose and note markers (vertical lines)."""
    spec = TRENDS[key]
    fig = go.Figure()
    for vital in spec["vitals"]:
        dashed = vital == "dbp"
        fig.add_trace(
            go.Scatter(
                x=[], y=[], text=[], name=vital.upper(), hovertemplate="%{y}<extra>" + vital.upper() + "</extra>", mode="lines+markers" if key == "bp" else "lines",
                line={"color": COLOURS[vital], "width": 2, "dash": "dot" if dashed else "solid"},
                marker={"size": 7}, connectgaps=False,
            )
        )
    fig.add_trace(go.Scatter(x=[], y=[], text=[], name="events", mode="lines+text", showlegend=False,
                             textposition="top right", textfont={"size": 13, "color": "#fff"},
                             line={"color": "#bbb", "width": 1, "dash": "dot"}, hoverinfo="text"))
    limit_lines(fig, key, limits)
    fig.update_layout(
        template="plotly_dark", paper_bgcolor="#000", plot_bgcolor="#0b0b0b",
        margin={"l": 48, "r": 12, "t": 28, "b": 28}, height=210, uirevision=key,
        title={"text": spec["title"], "font": {"size": 16}, "x": 0.01, "y": 0.97},
        legend={"orientation": "h", "x": 0.3, "xanchor": "left", "y": 1.17, "font": {"size": 13}},
        yaxis={"range": list(spec["range"]), "fixedrange": True, "gridcolor": "#222"},
        xaxis={"type": "date", "gridcolor": "#222"},
    )
    return fig


def pleth_figure() -> go.Figure:
    """The pleth strip: the last ten seconds of waveform."""
    fig = go.Figure(go.Scatter(x=[], y=[], mode="lines", line={"color": COLOURS["spo2"], "width": 2}))
    fig.update_layout(
        template="plotly_dark", paper_bgcolor="#000", plot_bgcolor="#000", height=110,
        margin={"l": 10, "r": 10, "t": 4, "b": 4}, showlegend=False,
        xaxis={"visible": False}, yaxis={"visible": False},
    )
    return fig


def highest(alarms: list) -> object | None:
    """The alarm that wins the banner: highest priority, then newest."""
    if not alarms:
        return None
    return max(alarms, key=lambda a: (PRIORITY_RANK[a.priority], a.since))


def alarm_banner(alarms: list) -> tuple[list, str]:
    """Children and class of the banner over the tiles."""
    top = highest(alarms)
    if top is None:
        return [html.Span("No active alarms")], "banner banner-none"
    more = f"  (+{len(alarms) - 1} more)" if len(alarms) > 1 else ""
    state = " — acknowledged" if getattr(top, "acknowledged", False) else ""
    return (
        [html.Span(PRIORITY_MARK[top.priority], className="mark"),
         html.Span(f"{top.priority.upper()} {top.message}{state}{more}")],
        f"banner banner-{top.priority}",
    )
