"""The live page of one session: big numerics, the alarm banner and list, trends fed by deltas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from layouts.components import (
    COLOURS, PRIORITY_MARK, TRENDS, age_text, alarm_banner, clock_text, elapsed_text, trend_figure,
)
from monitor.hub import Hub
from monitor.store import Store, StoredReading

TREND_VITALS = tuple(v for spec in TRENDS.values() for v in spec["vitals"])
MAX_POINTS = 7200  # two hours of 1 Hz data per trace
WINDOW_S = 7200
MAX_ROWS_PER_TICK = 20000
FRESH_S = {"sbp": 1800, "dbp": 1800, "map": 1800, "hr": 10, "pr": 10, "spo2": 10, "pi": 10}


@dataclass(frozen=True)
class TileSpec:
    key: str
    label: str
    vitals: tuple[str, ...]
    unit: str


TILES = (
    TileSpec("nibp", "NIBP", ("sbp", "dbp", "map"), "mmHg"),
    TileSpec("hr", "HR", ("hr", "pr"), "/min"),
    TileSpec("spo2", "SpO2", ("spo2", "pi"), "%"),
)


def layout(session_id: str) -> html.Div:
    """The live page skeleton; the tick callback fills it."""
    return html.Div(
        className="live",
        children=[
            dcc.Store(id="cursor", data={"session": session_id, "id": 0}),
            dcc.Interval(id="tick", interval=1000),
            html.Header(className="topbar", children=[
                html.A("kapmon", href="/", className="brand"),
                html.Span(id="patient", className="patient"),
                html.Span(id="phase-clock", className="phase-clock"),
                html.Span(id="session-clock", className="session-clock"),
                html.Label(["Nurse ", dcc.Input(id="who", value="nurse", debounce=True, className="who")]),
            ]),
            html.Div(id="banner", className="banner banner-none", role="alert", **{"aria-live": "assertive"}),
            html.Div(className="tiles", children=[html.Div(id=f"tile-{t.key}", className="tile") for t in TILES]),
            html.Div(className="trends", children=[
                dcc.Graph(id=f"trend-{key}", figure=trend_figure(key), config={"displayModeBar": False})
                for key in TRENDS
            ]),
            html.H2("Alarms"),
            html.Div(id="alarm-list", className="alarm-list"),
            html.Div(id="ack-result", className="ack-result", **{"aria-live": "polite"}),
        ],
    )


def tile(spec: TileSpec, latest: Mapping[str, StoredReading | None], now: float, alarms: list) -> html.Div:
    """One numeric tile: value, unit, age and source, coloured by its worst alarm."""
    main = latest.get(spec.vitals[0])
    hot = [a for a in alarms if a.vital in spec.vitals]
    worst = max(hot, key=lambda a: ("low", "medium", "high").index(a.priority)) if hot else None
    stale = main is None or now - main.t > FRESH_S[spec.vitals[0]]
    if spec.key == "nibp":
        value = _bp_text(latest)
        sub = f"({_num(latest.get('map'))})"
    else:
        value = _num(main)
        second = latest.get(spec.vitals[1])
        sub = f"{spec.vitals[1].upper()} {_num(second)}" if second is not None else ""
    status = "no reading yet" if main is None else (
        f"{age_text(now - main.t)} · {main.source}" + (" · NO VALUE" if main.value is None else ""))
    classes = ["tile", f"tile-{spec.key}"]
    if worst is not None:
        classes.append(f"tile-alarm-{worst.priority}")
    if stale:
        classes.append("tile-stale")
    return html.Div(className=" ".join(classes), children=[
        html.Div([html.Span(spec.label, className="tile-label"), html.Span(spec.unit, className="tile-unit"),
                  html.Span(f"{PRIORITY_MARK[worst.priority]} {worst.message}" if worst else "", className="tile-alarm")],
                 className="tile-head"),
        html.Div(value, className="tile-value", id=f"value-{spec.key}",
                 style={"color": COLOURS.get(spec.vitals[0])}),
        html.Div(sub, className="tile-sub"),
        html.Div(("STALE · " if stale and main is not None else "") + status, className="tile-age"),
    ])


def _num(r: StoredReading | None) -> str:
    if r is None or r.value is None:
        return "---"
    return f"{r.value:.0f}"


def _bp_text(latest: Mapping[str, StoredReading | None]) -> str:
    return f"{_num(latest.get('sbp'))}/{_num(latest.get('dbp'))}"


def extend_data(rows: list[StoredReading], key: str) -> tuple[dict, list[int], int] | object:
    """``extendData`` for one trend graph from new rows; ``no_update`` if none are for it."""
    vitals = TRENDS[key]["vitals"]
    xs: list[list[str]] = [[] for _ in vitals]
    ys: list[list[float | None]] = [[] for _ in vitals]
    for r in rows:
        if r.vital in vitals:
            i = vitals.index(r.vital)
            xs[i].append(clock_text(r.t))
            ys[i].append(r.value)
    if not any(xs):
        return no_update
    return {"x": xs, "y": ys}, list(range(len(vitals))), MAX_POINTS


def alarm_rows(alarms: list) -> list:
    """The alarm list with one acknowledge button per alarm."""
    if not alarms:
        return [html.P("None", className="muted")]
    order = sorted(alarms, key=lambda a: (("high", "medium", "low").index(a.priority), -a.since))
    return [
        html.Div(className=f"alarm-row alarm-{a.priority}", children=[
            html.Span(PRIORITY_MARK[a.priority], className="mark"),
            html.Span(f"{a.priority.upper()} · {a.kind}", className="alarm-kind"),
            html.Span(a.message, className="alarm-message"),
            html.Span(clock_text(a.since)[11:19], className="alarm-since"),
            html.Span("acknowledged" if a.acknowledged else "", className="alarm-state"),
            html.Button("Acknowledge", id={"type": "ack", "alarm": a.alarm_id}, className="ack",
                        disabled=a.acknowledged, n_clicks=0),
        ])
        for a in order
    ]


def register(app: Dash, store: Store, live: Mapping[str, Hub]) -> None:
    """Register the live page callbacks against one store and the running hubs."""

    @app.callback(
        Output("patient", "children"), Output("phase-clock", "children"), Output("session-clock", "children"),
        Output("banner", "children"), Output("banner", "className"),
        *[Output(f"tile-{t.key}", "children") for t in TILES],
        *[Output(f"tile-{t.key}", "className") for t in TILES],
        *[Output(f"trend-{key}", "extendData") for key in TRENDS],
        Output("alarm-list", "children"), Output("cursor", "data"),
        Input("tick", "n_intervals"), State("cursor", "data"),
    )
    def on_tick(_n: int, cursor: dict) -> tuple:
        session_id = cursor["session"]
        session = store.session(session_id)
        if session is None:
            return ("unknown session", "", "", [], "banner", *([""] * 6), *([no_update] * 3), [], cursor)
        hub = live.get(session_id)
        now = hub.now() if hub is not None and not hub.finished.is_set() else _last_time(store, session_id)
        alarms = hub.active_alarms() if hub is not None else []
        since = now - WINDOW_S if cursor["id"] == 0 else None
        rows = store.readings(session_id, cursor["id"], TREND_VITALS, limit=MAX_ROWS_PER_TICK)
        new_cursor = {"session": session_id, "id": rows[-1].id if rows else cursor["id"]}
        if since is not None:
            rows = [r for r in rows if r.t >= since]
        latest = {v: store.latest(session_id, v) for t in TILES for v in t.vitals}
        tiles = [tile(t, latest, now, alarms) for t in TILES]
        doses = store.doses(session_id)
        phase = elapsed_text(now - doses[0].t) + " since first dose" if doses else "pre-dose"
        weight = f"{session.weight_kg:g} kg" if session.weight_kg else "weight ?"
        banner, banner_class = alarm_banner(alarms)
        return (
            f"{session.patient} · {session.route.upper()} · {weight}", phase, clock_text(now)[11:19],
            banner, banner_class,
            *[t.children for t in tiles], *[t.className for t in tiles],
            *[extend_data(rows, key) for key in TRENDS],
            alarm_rows(alarms), new_cursor,
        )

    @app.callback(
        Output("ack-result", "children"),
        Input({"type": "ack", "alarm": ALL}, "n_clicks"),
        State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_ack(clicks: list[int], cursor: dict, who: str) -> str:
        trigger = callback_context.triggered_id
        if not trigger or not any(clicks):
            return no_update
        hub = live.get(cursor["session"])
        if hub is None:
            return "This session is not live."
        who = (who or "").strip() or "unknown"
        events = hub.acknowledge(trigger["alarm"], who)
        return f"Acknowledged by {who}" if events else "Already acknowledged"


def _last_time(store: Store, session_id: str) -> float:
    times = [r.t for r in (store.latest(session_id, v) for v in TREND_VITALS) if r is not None]
    return max(times) if times else 0.0
