"""The live page of one session: big numerics, alarms, pleth, trends fed by deltas, the session panel.

Each tick (1 s) sends only what is new since the client's cursor: trend points and events as
``extendData``, pleth samples likewise, and small fixed-size tiles, banner and panel.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from layouts import controls
from layouts import training as training_page
from layouts.components import (
    COLOURS, PRIORITY_MARK, TRENDS, age_text, alarm_banner, clock_text, elapsed_text, pleth_figure, trend_figure,
)
from monitor.bedside import due_checks, next_nibp_due
from monitor.hub import Hub
from monitor.store import Store, StoredEvent, StoredReading

TREND_VITALS = tuple(v for spec in TRENDS.values() for v in spec["vitals"])
MAX_POINTS = 7200  # two hours of 1 Hz data per trace
PLETH_POINTS = 750  # ten seconds at 75 Hz
WINDOW_S = 7200
MAX_ROWS_PER_TICK = 20000
FRESH_S = {"sbp": 1800, "hr": 10, "spo2": 10}
MARKED_EVENTS = ("dose", "note")


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


def layout(session_id: str, hub: Hub | None, store: Store) -> html.Div:
    """The live page skeleton; the tick callback fills it."""
    session = store.session(session_id)
    limits = hub.engine.plan.limits if hub is not None else ()
    return html.Div(id="live-root", className="live", children=[
        dcc.Store(id="cursor", data={"session": session_id, "id": 0, "pleth": 0, "event": 0}),
        dcc.Store(id="audio"),
        dcc.Interval(id="tick", interval=1000),
        dcc.Interval(id="watch", interval=1000),
        html.Div(id="tick-sink", hidden=True),
        html.Div(id="nodata", className="nodata nodata-hidden", role="alert", **{"aria-live": "assertive"}),
        html.Header(className="topbar", children=[
            html.A("kapmon", href="/", className="brand"),
            html.Span(id="patient", className="patient"),
            html.Span(id="phase-clock", className="phase-clock"),
            html.Span(id="session-clock", className="session-clock"),
            html.Button("Start monitoring", id="start-audio", className="start-audio", n_clicks=0),
            html.Span("AUDIO OFF: press Start monitoring", id="audio-state", className="audio-state audio-off",
                      role="status"),
            html.Label(["Nurse ", dcc.Input(id="who", value="", placeholder="initials", className="who")]),
        ]),
        training_page.bar(session) if session is not None and session.kind == "training" else html.Div(),
        html.Div(id="banner", className="banner banner-none", role="alert", **{"aria-live": "assertive"}),
        html.Div(className="tiles", children=[html.Div(id=f"tile-{t.key}", className="tile") for t in TILES]),
        html.Div(id="pleth-box", className="pleth-box", hidden=True, children=[
            dcc.Graph(id="pleth", figure=pleth_figure(), config={"displayModeBar": False, "staticPlot": True}),
        ]),
        html.Div(className="main-grid", children=[
            html.Div(className="trends", children=[
                dcc.RadioItems(id="window", options=[{"label": f"{m} min", "value": m} for m in (30, 60, 120)],
                               value=30, inline=True, className="window-select"),
                *[html.Div(dcc.Graph(id=f"trend-{key}", figure=trend_figure(key, limits),
                                     config={"displayModeBar": False}), className="trend") for key in TRENDS],
            ]),
            html.Div(className="side", children=[
                html.Div(className="alarm-head", children=[
                    html.H2("Alarms"),
                    html.Button("Pause audio 2 min", id="pause-audio", className="ack", n_clicks=0),
                ]),
                html.Div(id="alarm-list", className="alarm-list"),
                html.Div(id="ack-result", className="feedback", **{"aria-live": "polite"}),
                controls.panel(session, hub),
            ]),
        ]),
    ])


def tile(spec: TileSpec, latest: Mapping[str, StoredReading | None], now: float, alarms: list,
         speed: float = 1.0) -> html.Div:
    """One numeric tile: value, unit, age and source, coloured (and labelled) by its worst alarm.

    A value is stale when older than its freshness limit in real seconds (a replay at 60x ages 60x faster)."""
    main = latest.get(spec.vitals[0])
    hot = [a for a in alarms if a.vital in spec.vitals and not getattr(a, "acknowledged", False)] or [
        a for a in alarms if a.vital in spec.vitals]
    worst = max(hot, key=lambda a: ("low", "medium", "high").index(a.priority)) if hot else None
    stale = main is None or (now - main.t) / speed > FRESH_S[spec.vitals[0]]
    if spec.key == "nibp":
        value = f"{_num(latest.get('sbp'))}/{_num(latest.get('dbp'))}"
        sub = f"({_num(latest.get('map'))})"
    else:
        value = _num(main)
        second = latest.get(spec.vitals[1])
        sub = f"{spec.vitals[1].upper()} {_num(second)}" if second is not None else ""
    if main is None:
        status = "no reading yet"
    else:
        status = f"{age_text(now - main.t)} · {main.source}" + (" · NO VALUE" if main.value is None else "")
    classes = ["tile", f"tile-{spec.key}"]
    if worst is not None:
        classes.append(f"tile-alarm-{worst.priority}")
    if stale:
        classes.append("tile-stale")
    return html.Div(className=" ".join(classes), children=[
        html.Div([html.Span(spec.label, className="tile-label"), html.Span(spec.unit, className="tile-unit"),
                  html.Span(f"{PRIORITY_MARK[worst.priority]} {worst.message}" if worst else "", className="tile-alarm")],
                 className="tile-head"),
        html.Div(value, className="tile-value", id=f"value-{spec.key}", style={"color": COLOURS.get(spec.vitals[0])}),
        html.Div(sub, className="tile-sub"),
        html.Div(("STALE · " if stale and main is not None else "") + status, className="tile-age"),
    ])


def _num(r: StoredReading | None) -> str:
    if r is None or r.value is None:
        return "---"
    return f"{r.value:.0f}"


def event_label(e: StoredEvent) -> str:
    if e.kind == "dose":
        return f"{e.data.get('drug', 'dose')} {e.data.get('mg', 0):g} mg"
    return str(e.data.get("text", e.kind))


def extend_trend(rows: list[StoredReading], events: list[StoredEvent], key: str) -> tuple | object:
    """``extendData`` for one trend graph: new points per vital plus a marker line per dose or note."""
    spec = TRENDS[key]
    vitals = spec["vitals"]
    xs: list[list] = [[] for _ in range(len(vitals) + 1)]
    ys: list[list] = [[] for _ in range(len(vitals) + 1)]
    texts: list[list] = [[] for _ in range(len(vitals) + 1)]
    for r in rows:
        if r.vital in vitals:
            i = vitals.index(r.vital)
            xs[i].append(clock_text(r.t))
            ys[i].append(r.value)
            texts[i].append("")
    lo, hi = spec["range"]
    for e in events:
        x = clock_text(e.t)
        xs[-1] += [x, x, None]
        ys[-1] += [lo, hi - (hi - lo) * 0.12, None]
        texts[-1] += ["", event_label(e) if key == "bp" else "", ""]
    if not any(xs):
        return no_update
    return {"x": xs, "y": ys, "text": texts}, list(range(len(vitals) + 1)), MAX_POINTS


def extend_pleth(rows: list[StoredReading]) -> tuple | object:
    if not rows:
        return no_update
    return {"x": [[clock_text(r.t) for r in rows]], "y": [[r.value for r in rows]]}, [0], PLETH_POINTS


def alarm_rows(alarms: list) -> list:
    """The alarm list, highest priority first, one acknowledge button each."""
    if not alarms:
        return [html.P("None", className="muted")]
    order = sorted(alarms, key=lambda a: (("high", "medium", "low").index(a.priority), -a.since))
    return [
        html.Div(className=f"alarm-row alarm-{a.priority}", children=[
            html.Span(PRIORITY_MARK[a.priority], className="mark"),
            html.Div(className="alarm-text", children=[
                html.Div(a.message, className="alarm-message"),
                html.Div(f"{a.priority.upper()} · {a.kind} · since {clock_text(a.since)[11:19]}"
                         + (" · ACKNOWLEDGED" if a.acknowledged else "")
                         + (" · latched" if getattr(a, "latched", False) else ""), className="alarm-kind"),
            ]),
            html.Button("Acknowledge", id={"type": "ack", "alarm": a.alarm_id}, className="ack",
                        disabled=a.acknowledged, n_clicks=0),
        ])
        for a in order
    ]


def alarm_signature(alarms: list) -> str:
    """What the alarm list shows; it is re-rendered only when this changes (buttons stay clickable)."""
    return "|".join(f"{a.alarm_id}:{a.priority}:{a.acknowledged}:{getattr(a, 'latched', False)}:{a.message}"
                    for a in alarms)


def audio_state(hub: Hub | None, now: float) -> dict:
    """What the browser should sound, and for how long audio is paused."""
    if hub is None or hub.finished.is_set():
        return {"priority": None, "paused_s": 0}
    engine = hub.engine
    priority, until = hub.call(lambda: (engine.audio_priority(now), engine.audio_paused_until))
    return {"priority": priority, "paused_s": max(0.0, (until - now) / hub.clock_speed) if until else 0}


def status_panel(hub: Hub | None, store: Store, session_id: str, now: float) -> list:
    """Next due checks, NIBP cycle and discharge readiness, in words."""
    if hub is None:
        return [html.P("Session not live: no plan to show.", className="muted")]
    plan = hub.engine.plan
    doses = store.doses(session_id)
    nibp = [r.t for r in store.readings(session_id, vitals=["sbp"]) if r.value is not None]
    out: list = []
    for c in due_checks(plan.checkpoints, doses[0].t if doses else None, nibp):
        state = c.state(now)
        when = clock_text(c.due)[11:16]
        out.append(html.Div(f"{c.message}: {state} ({when})", className=f"check check-{state.replace(' ', '-')}"))
    due = next_nibp_due(nibp[-1] if nibp else None, plan.nibp_interval_s)
    if due is not None:
        late = now - due
        text = f"Next NIBP due {clock_text(due)[11:16]}" + (f" — {late / 60:.0f} min overdue" if late > 60 else "")
        out.append(html.Div(text, className="check" + (" check-missed" if late > 60 else "")))
    out.append(controls.discharge_box(hub, now))
    return out


def register(app: Dash, store: Store, live: Mapping[str, Hub]) -> None:
    """Register the live page callbacks against one store and the running hubs."""

    @app.callback(
        Output("patient", "children"), Output("phase-clock", "children"), Output("session-clock", "children"),
        Output("banner", "children"), Output("banner", "className"),
        *[Output(f"tile-{t.key}", "children") for t in TILES],
        *[Output(f"tile-{t.key}", "className") for t in TILES],
        *[Output(f"trend-{key}", "extendData") for key in TRENDS],
        Output("pleth", "extendData"), Output("pleth-box", "hidden"),
        Output("alarm-list", "children"), Output("status", "children"), Output("audio", "data"),
        Output("cursor", "data"),
        Input("tick", "n_intervals"), State("cursor", "data"),
    )
    def on_tick(_n: int, cursor: dict) -> tuple:
        session_id = cursor["session"]
        session = store.session(session_id)
        if session is None:
            return (f"no session {session_id}", "", "", [], "banner", *([""] * 6), *([no_update] * 4), True,
                    [], [], no_update, cursor)
        hub = live.get(session_id)
        running = hub is not None and not hub.finished.is_set()
        now = hub.now() if running else _last_time(store, session_id)
        alarms = hub.active_alarms() if running else []
        rows = store.readings(session_id, cursor["id"], TREND_VITALS, limit=MAX_ROWS_PER_TICK)
        if cursor["id"] == 0:
            rows = [r for r in rows if r.t >= now - WINDOW_S]
        events = [e for e in store.events(session_id, cursor["event"]) if e.kind in MARKED_EVENTS]
        pleth = store.recent(session_id, "pleth", cursor["pleth"], PLETH_POINTS)
        latest = {v: store.latest(session_id, v) for t in TILES for v in t.vitals}
        speed = hub.clock_speed if running else 1.0
        tiles = [tile(t, latest, now, alarms, speed) for t in TILES]
        doses = store.doses(session_id)
        phase = elapsed_text(now - doses[0].t) + " since first dose" if doses else "pre-dose"
        weight = f"{session.weight_kg:g} kg" if session.weight_kg else "weight ?"
        banner, banner_class = alarm_banner(alarms)
        listed = alarm_signature(alarms)
        new_cursor = {
            "session": session_id,
            "id": rows[-1].id if rows else cursor["id"],
            "pleth": pleth[-1].id if pleth else cursor["pleth"],
            "event": max([e.id for e in events], default=cursor["event"]),
            "now_ms": now * 1000,
            "served": time.time(),
            "alarms": listed,
        }
        return (
            f"{session.patient} · {session.route.upper()} · {weight}", phase, clock_text(now)[11:19],
            banner, banner_class,
            *[t.children for t in tiles], *[t.className for t in tiles],
            *[extend_trend(rows, events, key) for key in TRENDS],
            extend_pleth(pleth), not (pleth or cursor["pleth"]),
            alarm_rows(alarms) if listed != cursor.get("alarms") else no_update, status_panel(hub if running else None, store, session_id, now),
            audio_state(hub if running else None, now), new_cursor,
        )

    app.clientside_callback(
        ClientsideFunction("kapmon", "updated"), Output("tick-sink", "children"),
        Input("cursor", "data"), Input("window", "value"),
    )
    app.clientside_callback(
        ClientsideFunction("kapmon", "watchdog"),
        Output("nodata", "children"), Output("nodata", "className"), Output("live-root", "className"),
        Input("watch", "n_intervals"),
    )
    app.clientside_callback(
        ClientsideFunction("kapmon", "audio"), Output("audio-state", "children"), Output("audio-state", "className"),
        Input("audio", "data"), Input("start-audio", "n_clicks"),
    )
    controls.register(app, store, live)


def _last_time(store: Store, session_id: str) -> float:
    times = [r.t for r in (store.latest(session_id, v) for v in TREND_VITALS) if r is not None]
    return max(times) if times else 0.0
