"""The central station: one tile per room, most urgent first, with acknowledge and click-through.

Numbers come from the central store (the mirrored record); alarms, OFFLINE and the bedside's address
from each room's state. ``/live/<id>`` and ``/review/<id>`` show a mirrored session from the central
store; each tile also links to the bedside's own live page at the address the room published.
"""

from __future__ import annotations

import time

from dash import ALL, ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update

from layouts import live as live_page
from layouts import review as review_page
from layouts.components import COLOURS, PRIORITY_MARK, age_text, elapsed_text
from monitor.alarm_events import PRIORITY_RANK
from monitor.central import Central, Room

FRESH_S = {"spo2": 10, "hr": 10, "sbp": 1800}
MAX_ACK_BUTTONS = 3


def create_central_app(central: Central) -> Dash:
    """A Dash app for ``central``: the station at ``/``, mirrored sessions at ``/live/<id>`` and ``/review/<id>``."""
    store = central.store
    app = Dash(__name__, title="kapmon central", serve_locally=True, suppress_callback_exceptions=True,
               update_title=None)
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")], className="app")

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: str | None) -> html.Div:
        path = (pathname or "/").rstrip("/")
        if path.startswith("/live/"):
            return live_page.layout(path.removeprefix("/live/"), None, store)
        if path.startswith("/review/"):
            return review_page.layout(store, path.removeprefix("/review/"))
        return layout()

    register(app, central)
    live_page.register(app, store, {})
    review_page.register(app, store)
    return app


def layout() -> html.Div:
    return html.Div(id="central-root", className="central", children=[
        dcc.Interval(id="c-tick", interval=1000),
        dcc.Store(id="c-audio"),
        html.Header(className="topbar", children=[
            html.Span("kapmon central station", className="brand"),
            html.Span(id="c-broker", className="c-broker"),
            html.Button("Start monitoring", id="c-start-audio", className="start-audio", n_clicks=0),
            html.Span("AUDIO OFF: press Start monitoring", id="c-audio-state", className="audio-state audio-off",
                      role="status"),
            html.Label(["Nurse ", dcc.Input(id="c-who", value="", placeholder="initials", className="who")]),
        ]),
        html.Div(id="c-ack-result", className="feedback c-ack-result", **{"aria-live": "polite"}),
        html.Div(id="c-rooms", className="c-rooms", role="list"),
    ])


def _num(store, session_id: str, vital: str, now: float) -> tuple[str, bool]:
    r = store.latest(session_id, vital)
    if r is None or r.value is None:
        return "---", True
    return f"{r.value:.0f}", now - r.t > FRESH_S.get(vital, 30)


def room_state(room: Room) -> str:
    """The tile's state class: an alarm priority, ``ok``, ``offline`` or ``ended``."""
    if room.status != "online":
        return "ended" if room.ended or room.state is None else "offline"
    top = room.highest_alarm()
    if top is None or top["acknowledged"]:
        return "ok" if top is None else f"{top['priority']}-ack"
    return top["priority"]


def room_tile(room: Room, store) -> html.Div:
    """One room: big SpO2/HR/BP, time since dose, the highest alarm, OFFLINE, links and acknowledge buttons."""
    sid = room.session_id
    state = room_state(room)
    session = room.state["session"] if room.state else None
    now = room.session_now()
    if sid is not None and store.session(sid) is not None:
        spo2, spo2_stale = _num(store, sid, "spo2", now)
        hr, hr_stale = _num(store, sid, "hr", now)
        if hr == "---":
            hr, hr_stale = _num(store, sid, "pr", now)
        sbp, sbp_stale = _num(store, sid, "sbp", now)
        dbp, _ = _num(store, sid, "dbp", now)
        doses = store.doses(sid)
        phase = f"{elapsed_text(now - doses[0].t)} since dose" if doses else "pre-dose"
    else:
        spo2 = hr = sbp = dbp = "---"
        spo2_stale = hr_stale = sbp_stale = True
        phase = ""
    if state == "offline":
        status = f"OFFLINE {age_text(time.time() - room.status_changed).removesuffix(' ago')}"
    elif state == "ended":
        status = "OFFLINE · session ended" if room.ended else "OFFLINE"
    elif room.ended:
        status = "session ended"
    else:
        status = "LIVE"
    top = room.highest_alarm()
    if top is not None:
        alarm = [html.Span(PRIORITY_MARK.get(top["priority"], "!"), className="mark"),
                 html.Span(f"{top['priority'].upper()} {top['message']}"
                           + (" — acknowledged" if top["acknowledged"] else "")
                           + (f"  (+{len(room.alarms) - 1} more)" if len(room.alarms) > 1 else ""))]
    elif state == "offline":
        alarm = [html.Span("!!", className="mark"), html.Span("NO DATA FROM THIS ROOM: check the bedside")]
    else:
        alarm = [html.Span("No active alarms" if state != "ended" else "")]
    pending = sorted((a for a in room.alarms if not a["acknowledged"]),
                     key=lambda a: (-PRIORITY_RANK.get(a["priority"], 0), a["since"]))[:MAX_ACK_BUTTONS]
    links = []
    if room.state and room.state.get("url") and room.status == "online":
        links.append(html.A("Bedside view", href=room.state["url"], target="_blank", className="c-link c-bedside"))
    if sid is not None:
        links.append(html.A("Central view", href=f"/live/{sid}", className="c-link c-live"))
        links.append(html.A("Review", href=f"/review/{sid}", className="c-link c-review"))

    def big(label: str, value: str, unit: str, stale: bool, colour: str, cls: str) -> html.Div:
        return html.Div(className=f"c-vital c-{cls}" + (" c-stale" if stale else ""), children=[
            html.Span(label, className="c-label"), html.Span(value, className="c-value", style={"color": colour}),
            html.Span(unit, className="c-unit")])

    return html.Div(className=f"c-room c-room-{state}", id=f"room-{room.site}-{room.room}", role="listitem",
                    **{"data-room": room.key, "data-state": state}, children=[
        html.Div(className="c-head", children=[
            html.Span(room.room, className="c-name"),
            html.Span(f"{session['patient']} · {session['route'].upper()}" if session else "", className="c-patient"),
            html.Span(status, className=f"c-status c-status-{state}"),
        ]),
        html.Div(alarm, className=f"c-alarm c-alarm-{state}"),
        html.Div(className="c-vitals", children=[
            big("SpO2", spo2, "%", spo2_stale, COLOURS["spo2"], "spo2"),
            big("HR", hr, "/min", hr_stale, COLOURS["hr"], "hr"),
            big("NIBP", f"{sbp}/{dbp}", "mmHg", sbp_stale, COLOURS["sbp"], "nibp"),
        ]),
        html.Div(className="c-foot", children=[
            html.Span(phase, className="c-phase"),
            *links,
            *[html.Button(f"Ack {a['alarm_id']}", id={"type": "c-ack", "room": room.key, "alarm": a["alarm_id"]},
                          className=f"ack c-ack c-ack-{a['priority']}", n_clicks=0) for a in pending],
        ]),
    ])


def station_audio(rooms: list[Room]) -> str | None:
    """What the station sounds: the loudest bedside (its own audio pause respected); a room gone
    offline mid-session sounds as medium."""
    wanted = []
    for r in rooms:
        if r.status == "online" and r.state and r.state.get("audio"):
            wanted.append(r.state["audio"])
        elif r.status == "offline" and r.state is not None and not r.ended:
            wanted.append("medium")
    return max(wanted, key=lambda p: PRIORITY_RANK.get(p, 0), default=None)


def register(app: Dash, central: Central) -> None:
    store = central.store

    @app.callback(
        Output("c-rooms", "children"), Output("c-broker", "children"), Output("c-broker", "className"),
        Output("c-audio", "data"), Input("c-tick", "n_intervals"),
    )
    def on_tick(_n: int) -> tuple:
        rooms = central.snapshot()
        tiles = [room_tile(r, store) for r in rooms] or [html.P("No rooms yet: waiting for bedsides to publish.",
                                                              className="muted")]
        broker = (f"broker {central.config} connected", "c-broker c-broker-ok") if central.connected else (
            f"BROKER {central.config} UNREACHABLE: rooms not updating", "c-broker c-broker-down")
        return tiles, broker[0], broker[1], {"priority": station_audio(rooms) if central.connected else "medium"}

    @app.callback(
        Output("c-ack-result", "children"),
        Input({"type": "c-ack", "room": ALL, "alarm": ALL}, "n_clicks"), State("c-who", "value"),
        prevent_initial_call=True,
    )
    def on_ack(clicks: list, who: str | None):
        trigger = ctx.triggered_id
        if not trigger or not any(t.get("value") for t in ctx.triggered):
            return no_update
        ok, message = central.acknowledge(trigger["room"], trigger["alarm"], who or "")
        return f"{trigger['room']}: {message}" if ok else f"{trigger['room']}: not acknowledged: {message}"

    app.clientside_callback(
        ClientsideFunction("kapmon_central", "audio"), Output("c-audio-state", "children"),
        Output("c-audio-state", "className"), Input("c-audio", "data"), Input("c-start-audio", "n_clicks"),
    )
