"""Shared pieces of the pages: numeric tiles, the alarm banner, trend figures, time formatting."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import plotly.graph_objects as go
from dash import ClientsideFunction, Dash, Input, Output, html

from devices.vocabulary import PRIORITY_COLOUR, PRIORITY_MARK
from monitor.rules.alarm_groups import most_urgent

# Dark theme colours; vitals keep the colours bedside monitors use.
COLOURS = {"hr": "#3ddc84", "pr": "#d49cff", "spo2": "#4fc3f7", "sbp": "#ff8a80", "dbp": "#ff8a80", "map": "#ffcc80"}
DASHES = {"dbp": "dot", "pr": "dot"}  # the second vital of a trend is dotted too: never colour alone


class Trend(TypedDict):
    """One trend graph: its title, the vitals it draws and its fixed y range."""

    title: str
    vitals: tuple[str, ...]
    range: tuple[int, int]


TRENDS: dict[str, Trend] = {
    "bp": {"title": "NIBP mmHg", "vitals": ("sbp", "dbp", "map"), "range": (40, 220)},
    "hr": {"title": "HR / PR /min", "vitals": ("hr", "pr"), "range": (30, 160)},
    "spo2": {"title": "SpO2 %", "vitals": ("spo2",), "range": (75, 101)},
}


def wildcards(props: Mapping[str, str]) -> dict[str, Any]:
    """``data-*`` and ``aria-*`` attributes to pass as a component's ``**kwargs``: Dash takes them there, but
    its generated signatures type each named prop, so a plain ``dict[str, str]`` would be checked against those."""
    return dict(props)


def relay_presses(app: Dash, buttons: Mapping[str, object], store_id: str) -> None:
    """Hand presses of the ``buttons`` (a pattern-matching id) on through the ``dcc.Store`` ``store_id``, as
    ``{"id": the button's id, "at": ms}``. Server callbacks for buttons in a list the server redraws listen
    on that store: a redraw fires a callback on the buttons themselves again, and the answer still on its
    way is dropped (kapmon.js: ``pressed``)."""
    app.clientside_callback(
        ClientsideFunction("kapmon", "pressed"),
        Output(store_id, "data"),
        Input(dict(buttons), "n_clicks"),
        prevent_initial_call=True,
    )


def pressed_button(data: object) -> dict[str, Any] | None:
    """The id of the button whose press ``relay_presses`` handed on, or None for anything else."""
    button = data.get("id") if isinstance(data, dict) else None
    return button if isinstance(button, dict) else None


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
# Limit labels sit in the right margin, at least a label's height apart on the smallest plot the page draws
# (a trend is at least TREND_MIN_PX tall; its plot area is that minus the margins).
TREND_MIN_PX = 170
TREND_MARGIN = {"l": 44, "r": 92, "t": 30, "b": 44, "autoexpand": False}  # fixed, so the plot area is known
LABEL_PX = 16


def spread(values: Sequence[float], gap: float) -> list[float]:
    """Label positions near ``values``, each at least ``gap`` from the next, in the same order as ``values``.

    Labels that would overlap are set ``gap`` apart around the mean of what they label."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    clusters: list[tuple[float, list[int]]] = []  # (position of the lowest label, members from low to high)
    for i in order:
        clusters.append((values[i], [i]))
        while len(clusters) > 1 and clusters[-2][0] + len(clusters[-2][1]) * gap > clusters[-1][0]:
            members = clusters[-2][1] + clusters[-1][1]
            mean = sum(values[m] for m in members) / len(members)
            clusters[-2:] = [(mean - (len(members) - 1) * gap / 2, members)]
    out = [0.0] * len(values)
    for low, members in clusters:
        for k, m in enumerate(members):
            out[m] = low + k * gap
    return out


def limit_labels(key: str, limits: Sequence) -> list[tuple[float, str, str]]:
    """``(threshold, text, colour)`` per drawn limit line of one trend; limits shared by its vitals (HR and PR
    alike) are one line labelled ``HR/PR > 150``."""
    vitals = TRENDS[key]["vitals"]
    merged: dict[tuple, list[str]] = {}
    for planned in limits:
        limit = planned.limit
        if limit.vital in vitals and not limit.relative:
            merged.setdefault((limit.threshold, limit.comparison, limit.priority), []).append(limit.vital)
    return [
        (
            threshold,
            f"{'/'.join(sorted(names, key=vitals.index))} {SYMBOLS[comparison]} {threshold:g}".upper(),
            PRIORITY_COLOUR[priority],
        )
        for (threshold, comparison, priority), names in merged.items()
    ]


def limit_lines(fig: go.Figure, key: str, limits: Sequence) -> None:
    """Dashed lines at the plan's absolute limits, labelled in the right margin; labels that would overprint
    are moved apart and joined to their line by a leader."""
    labels = limit_labels(key, limits)
    lo, hi = TRENDS[key]["range"]
    plot_px = TREND_MIN_PX - TREND_MARGIN["t"] - TREND_MARGIN["b"]
    at = spread([threshold for threshold, _, _ in labels], LABEL_PX * (hi - lo) / plot_px)
    for (threshold, text, colour), y in zip(labels, at):
        fig.add_hline(y=threshold, line={"color": colour, "width": 1, "dash": "dash"})
        leader = (
            {"showarrow": True, "ax": 10, "ay": y, "ayref": "y", "arrowhead": 0, "arrowwidth": 1, "arrowcolor": colour}
            if y != threshold
            else {"showarrow": False, "xshift": 10}  # beside its line: plotly measures every leader at every redraw
        )
        fig.add_annotation(
            x=1, xref="paper", y=threshold, yref="y", text=text, xanchor="left", font={"size": 12, "color": colour}, **leader
        )


def trend_figure(key: str, limits: Sequence = ()) -> go.Figure:
    """An empty trend graph for one group of vitals, with the plan's limits; data arrives by ``extendData``.

    The last trace holds dose and note markers (vertical lines). The page sizes the graph; the time axis
    shows hours and minutes (the page puts T+ ticks on it once there is a dose)."""
    spec = TRENDS[key]
    fig = go.Figure()
    for vital in spec["vitals"]:
        fig.add_trace(
            go.Scatter(
                x=[],
                y=[],
                text=[],
                hovertext=[],
                name=vital.upper(),
                hovertemplate="%{y}<extra>" + vital.upper() + "</extra>",
                mode="lines+markers" if key == "bp" else "lines",
                line={"color": COLOURS[vital], "width": 2, "dash": DASHES.get(vital, "solid")},
                marker={"size": 7},
                connectgaps=False,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            text=[],
            hovertext=[],
            name="events",
            mode="lines+text",
            showlegend=False,
            textposition="middle right",
            textfont={"size": 13, "color": "#fff"},
            line={"color": "#bbb", "width": 1, "dash": "dot"},
            hoverinfo="text",
        )
    )
    limit_lines(fig, key, limits)
    fig.update_layout(
        template="plotly_dark",
        paper_bgcolor="#000",
        plot_bgcolor="#0b0b0b",
        autosize=True,
        margin=TREND_MARGIN,
        uirevision=key,
        title={"text": spec["title"], "font": {"size": 16}, "x": 0.01, "y": 0.97, "yanchor": "top"},
        legend={"orientation": "h", "x": 0.3, "xanchor": "left", "y": 1.02, "yanchor": "bottom", "font": {"size": 13}},
        yaxis={"range": list(spec["range"]), "fixedrange": True, "gridcolor": "#222"},
        xaxis={"type": "date", "gridcolor": "#222", "tickformat": "%H:%M", "hoverformat": "%H:%M:%S"},
        hovermode="x",
    )
    return fig


def pleth_figure() -> go.Figure:
    """The pleth strip: the last ten seconds of waveform."""
    fig = go.Figure(go.Scatter(x=[], y=[], mode="lines", line={"color": COLOURS["spo2"], "width": 2}))
    fig.update_layout(
        template="plotly_dark",
        paper_bgcolor="#000",
        plot_bgcolor="#000",
        height=110,
        margin={"l": 10, "r": 10, "t": 4, "b": 4},
        showlegend=False,
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return fig


def alarm_banner(alarms: list) -> tuple[list, str]:
    """Children and class of the banner over the tiles: the most urgent alarm (the highest one not yet
    acknowledged), and how many more there are."""
    top = most_urgent(alarms)
    if top is None:
        return [html.Span("No active alarms")], "banner banner-none"
    more = f"  (+{len(alarms) - 1} more)" if len(alarms) > 1 else ""
    state = " \u2014 acknowledged" if top.acknowledged else ""
    return (
        [
            html.Span(PRIORITY_MARK[top.priority], className="mark"),
            html.Span(f"{top.priority.upper()} {top.message}{state}{more}"),
        ],
        f"banner banner-{top.priority}",
    )
