"""Shared pieces of the pages: numeric tiles, the alarm banner, trend figures, time formatting."""

from __future__ import annotations

import time

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


def trend_figure(key: str) -> go.Figure:
    """An empty trend graph for one group of vitals; data arrives by ``extendData``."""
    spec = TRENDS[key]
    fig = go.Figure()
    for vital in spec["vitals"]:
        dashed = vital == "dbp"
        fig.add_trace(
            go.Scatter(
                x=[], y=[], name=vital.upper(), mode="lines+markers" if key == "bp" else "lines",
                line={"color": COLOURS[vital], "width": 2, "dash": "dot" if dashed else "solid"},
                marker={"size": 7}, connectgaps=False,
            )
        )
    fig.update_layout(
        template="plotly_dark", paper_bgcolor="#000", plot_bgcolor="#0b0b0b",
        margin={"l": 48, "r": 12, "t": 28, "b": 28}, height=210, uirevision=key,
        title={"text": spec["title"], "font": {"size": 16}, "x": 0.01, "y": 0.97},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.15, "font": {"size": 13}},
        yaxis={"range": list(spec["range"]), "fixedrange": True, "gridcolor": "#222"},
        xaxis={"type": "date", "gridcolor": "#222"},
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
