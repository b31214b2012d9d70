"""The central station: one tile per room, most urgent first, with acknowledge and click-through; a room
whose dosing is blocked or on hold says so on its tile, and so does one with an observation whose level alarms
(``MOAA/S 2 !!!``) or that is due or overdue (``sedation overdue``).

Numbers come from the central store (the mirrored record); alarms, limits, OFFLINE and the bedside's
address from each room's state. A room gone offline keeps showing its last unacknowledged alarm beside
OFFLINE. ``/live/<id>`` is the central view of a mirrored session: the room's alarms (with what the
protocol says to do, and acknowledge buttons) and its limits, above the live page drawn from the central
store; ``/review/<id>`` reviews it. Each tile also links to the bedside's own live page at the address the
room published. One room that cannot be drawn shows as such; the others are drawn as usual.
"""

from __future__ import annotations

import logging
import math
import time

from dash import ALL, ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component

from devices.reading import in_physical_range
from devices.vocabulary import FRESH_DEFAULT_S, FRESH_S, PRIORITY_MARK, PRIORITY_RANK, SCALES
from layouts import live as live_page
from layouts import review as review_page
from layouts.components import COLOURS, age_text, clock_text, elapsed_text, pressed_button, relay_presses, wildcards
from layouts.controls import feedback
from layouts.observations import scale_alarm
from monitor.central.checks import RoomChart
from monitor.central.station import Central, Room
from monitor.rules.alarm_groups import ActiveAlarm
from monitor.rules.observations import DUE, OVERDUE

log = logging.getLogger(__name__)

MAX_ACK_BUTTONS = 3
REFUSAL_SHOWN = 160  # characters of a refusal reason on a tile


def create_central_app(central: Central) -> Dash:
    """A Dash app for ``central``: the station at ``/``, mirrored sessions at ``/live/<id>`` and ``/review/<id>``."""
    store = central.store
    app = Dash(
        __name__, title="kapmon central", serve_locally=True, suppress_callback_exceptions=True, update_title=""
    )  # the tab keeps its title while callbacks run
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")], className="app")

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: str | None) -> html.Div:
        path = (pathname or "/").rstrip("/")
        if path.startswith("/live/"):
            return central_view(path.removeprefix("/live/"), store)
        if path.startswith("/review/"):
            return review_page.layout(store, path.removeprefix("/review/"))
        return layout()

    register(app, central)
    register_view(app, central)
    live_page.register(app, store, {})
    review_page.register(app, store)
    return app


def layout() -> html.Div:
    return html.Div(
        id="central-root",
        className="central",
        children=[
            dcc.Interval(id="c-tick", interval=1000),
            dcc.Store(id="c-audio"),
            dcc.Store(id="c-ack-pressed"),
            html.Header(
                className="topbar",
                children=[
                    html.Span("kapmon central station", className="brand"),
                    html.Span(id="c-broker", className="c-broker"),
                    html.Button("Start monitoring", id="c-start-audio", className="start-audio", n_clicks=0),
                    html.Span(
                        "AUDIO OFF: press Start monitoring", id="c-audio-state", className="audio-state audio-off", role="status"
                    ),
                    html.Label(["Nurse ", dcc.Input(id="c-who", value="", placeholder="initials", className="who")]),
                ],
            ),
            html.Div(id="c-ack-result", className="feedback c-ack-result", **wildcards({"aria-live": "polite"})),
            html.Div(id="c-rooms", className="c-rooms", role="list"),
        ],
    )


def _num(store, session_id: str, vital: str, now: float) -> tuple[str, bool]:
    r = store.latest(session_id, vital)
    if r is None or r.value is None or not math.isfinite(r.value) or not in_physical_range(vital, r.value):
        return "---", True
    return f"{r.value:.0f}", now - r.t > FRESH_S.get(vital, FRESH_DEFAULT_S)


def room_state(room: Room) -> str:
    """The tile's state class: an alarm priority, ``ok``, ``offline`` or ``ended``."""
    if room.unreadable:
        return "offline"
    if room.status != "online":
        return "ended" if room.ended or room.state is None else "offline"
    top = room.highest_alarm()
    if top is None or top.acknowledged:
        return "ok" if top is None else f"{top.priority}-ack"
    return top.priority


def alarm_words(alarm: ActiveAlarm) -> str:
    """An alarm's message without the protocol rule it names at the end: ``SBP 186 >= 180``."""
    suffix = f" ({alarm.rule})"
    return alarm.message.removesuffix(suffix) if alarm.rule else alarm.message


def ack_label(alarm: ActiveAlarm, room: Room) -> str:
    """What an acknowledge button says: ``Acknowledge SBP 186 >= 180 (room-3)``."""
    return f"Acknowledge {alarm_words(alarm)} ({room.room})"


def unacknowledged(room: Room) -> list[ActiveAlarm]:
    """The room's unacknowledged alarms, highest priority first, then oldest."""
    return sorted((a for a in room.alarms if not a.acknowledged), key=lambda a: (-PRIORITY_RANK[a.priority], a.since))


def alarm_line(room: Room, state: str) -> tuple[list, str]:
    """Children and class of a room's alarm line: its highest alarm (the last known one while it is offline,
    said so), NO DATA for a room gone offline without one, or why its messages are refused."""
    top = room.highest_alarm()
    if room.unreadable:
        return [
            html.Span("!!", className="mark"),
            html.Span("NO VALID DATA FROM THIS ROOM: check the bedside's kapmon"),
        ], "offline"
    if state == "offline" and (top is None or top.acknowledged):
        return [html.Span("!!", className="mark"), html.Span("NO DATA FROM THIS ROOM: check the bedside")], "offline"
    if top is None:
        return [html.Span("No active alarms" if state != "ended" else "")], state
    more = len(room.alarms) - 1
    words = (
        f"{top.priority.upper()} {alarm_words(top)}"
        + (" — acknowledged" if top.acknowledged else "")
        + (" — last known, room OFFLINE" if state == "offline" else "")
        + (f"  (+{more} more)" if more else "")
    )
    cls = top.priority + ("-ack" if top.acknowledged else "")
    return [html.Span(PRIORITY_MARK[top.priority], className="mark"), html.Span(words)], cls


def status_text(room: Room, state: str) -> str:
    if room.unreadable:
        return "UNREADABLE"
    if state == "offline":
        return f"OFFLINE {age_text(time.time() - room.status_changed).removesuffix(' ago')}"
    if state == "ended":
        return "OFFLINE · session ended" if room.ended else "OFFLINE"
    return "session ended" if room.ended else "LIVE"


def refusal_note(room: Room) -> list:
    """A small line saying that messages from this room were refused, and why the latest was."""
    if not room.refused:
        return []
    reason = room.refusal if len(room.refusal) <= REFUSAL_SHOWN else room.refusal[:REFUSAL_SHOWN] + "…"
    return [
        html.Div(f"{room.refused} message(s) from this room refused; latest: {reason}", className="c-refused", title=room.refusal)
    ]


def dosing_mark(room: Room) -> list:
    """A line while the room's dosing is blocked or on hold (its headline), nothing while it is clear, offline
    or ended."""
    dosing = room.state.dosing if room.state else None
    if dosing is None or dosing.state == "clear" or room.ended or room.status != "online":
        return []
    return [html.Div(dosing.headline, className=f"c-dosing c-dosing-{dosing.state}", title=dosing.headline)]


def chart_words(chart: RoomChart, alarms: list[ActiveAlarm]) -> list[tuple[str, str]]:
    """What the tile says of one observation scale, as ``(text, class)``: its latest level with the mark of the
    alarm that level raised (``MOAA/S 2 !!!``), and ``sedation overdue`` or ``MOAA/S due``; nothing when it is
    neither abnormal nor due."""
    spec = SCALES[chart.scale]
    out = []
    priority = scale_alarm(alarms, chart.scale)
    if priority is not None and chart.level is not None:
        out.append((f"{spec.label} {chart.level} {PRIORITY_MARK[priority]}", f"c-obs-{priority}"))
    if chart.status == OVERDUE:
        out.append((f"⚠ {spec.title.lower()} overdue", "c-obs-overdue"))
    elif chart.status == DUE:
        out.append((f"{spec.label} due", "c-obs-due"))
    return out


def chart_marks(room: Room) -> list:
    """A line of the room's abnormal and due or overdue observations (none while offline or ended)."""
    if room.state is None or room.ended or room.status != "online":
        return []
    marks = [m for c in room.state.charts for m in chart_words(c, room.alarms)]
    if not marks:
        return []
    return [html.Div([html.Span(text, className=f"c-obs {cls}") for text, cls in marks], className="c-charts")]


def ack_buttons(room: Room, button_type: str) -> list:
    """Worded acknowledge buttons for the room's most urgent unacknowledged alarms (none while offline)."""
    if room.status != "online":
        return []
    return [
        html.Button(
            ack_label(a, room),
            id={"type": button_type, "room": room.key, "alarm": a.alarm_id},
            className=f"ack c-ack c-ack-{a.priority}",
            n_clicks=0,
        )
        for a in unacknowledged(room)[:MAX_ACK_BUTTONS]
    ]


def room_tile(room: Room, store) -> html.Div:
    """One room: big SpO2/HR/BP, time since dose, the highest alarm, OFFLINE, links and acknowledge buttons."""
    sid = room.session_id
    state = room_state(room)
    session = room.state.session if room.state else None
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
    alarm, alarm_class = alarm_line(room, state)
    top = room.highest_alarm()
    offline_high = state == "offline" and top is not None and not top.acknowledged and top.priority == "high"
    links = []
    if room.state and room.state.url and room.status == "online":
        links.append(html.A("Bedside view", href=room.state.url, target="_blank", className="c-link c-bedside"))
    if sid is not None:
        links.append(html.A("Central view", href=f"/live/{sid}", className="c-link c-live"))
        links.append(html.A("Review", href=f"/review/{sid}", className="c-link c-review"))

    def big(label: str, value: str, unit: str, stale: bool, colour: str, cls: str) -> html.Div:
        return html.Div(
            className=f"c-vital c-{cls}" + (" c-stale" if stale else ""),
            children=[
                html.Span(label, className="c-label"),
                html.Span(value, className="c-value", style={"color": colour}),
                html.Span(unit, className="c-unit"),
            ],
        )

    return html.Div(
        className=f"c-room c-room-{state}" + (" c-room-offline-high" if offline_high else ""),
        id=f"room-{room.site}-{room.room}",
        role="listitem",
        **wildcards({"data-room": room.key, "data-state": state}),
        children=[
            html.Div(
                className="c-head",
                children=[
                    html.Span(room.room, className="c-name"),
                    html.Span(f"{session.patient} · {session.route.upper()}" if session else "", className="c-patient"),
                    html.Span(status_text(room, state), className=f"c-status c-status-{state}"),
                ],
            ),
            html.Div(alarm, className=f"c-alarm c-alarm-{alarm_class}"),
            *dosing_mark(room),
            *chart_marks(room),
            *(
                [
                    html.Div(
                        [html.Span("!!", className="mark"), html.Span("NO DATA FROM THIS ROOM: check the bedside")],
                        className="c-alarm c-alarm-offline",
                    )
                ]
                if offline_high
                else []
            ),
            html.Div(
                className="c-vitals",
                children=[
                    big("SpO2", spo2, "%", spo2_stale, COLOURS["spo2"], "spo2"),
                    big("HR", hr, "/min", hr_stale, COLOURS["hr"], "hr"),
                    big("NIBP", f"{sbp}/{dbp}", "mmHg", sbp_stale, COLOURS["sbp"], "nibp"),
                ],
            ),
            html.Div(className="c-foot", children=[html.Span(phase, className="c-phase"), *links]),
            html.Div(ack_buttons(room, "c-ack"), className="c-acks"),
            *refusal_note(room),
        ],
    )


def safe_tile(room: Room, store) -> html.Div:
    """``room_tile``, or a tile saying this room cannot be shown: one room never blanks the station."""
    try:
        return room_tile(room, store)
    except Exception:
        log.exception("cannot draw the tile of %s", room.key)
        return html.Div(
            className="c-room c-room-offline",
            role="listitem",
            **wildcards({"data-room": room.key, "data-state": "error"}),
            children=[
                html.Div(html.Span(room.room, className="c-name"), className="c-head"),
                html.Div(
                    [html.Span("!!", className="mark"), html.Span("CANNOT SHOW THIS ROOM: check the bedside")],
                    className="c-alarm c-alarm-offline",
                ),
            ],
        )


def station_audio(rooms: list[Room]) -> str | None:
    """What the station sounds: the loudest bedside (its own audio pause respected); a room gone offline
    mid-session, or sending nothing valid, sounds as medium, or as high when its last known alarm was an
    unacknowledged high one."""
    wanted = []
    for r in rooms:
        if r.status == "online" and r.state and r.state.audio:
            wanted.append(r.state.audio)
        elif r.unreadable or (r.status != "online" and r.urgency() >= 4):
            wanted.append("high" if r.urgency() == 5 else "medium")
    return max(wanted, key=PRIORITY_RANK.__getitem__, default=None)


def register_ack(app: Dash, central: Central, button_type: str, who_id: str, result_id: str) -> None:
    """Acknowledge buttons of one type: ask the room's bedside, and say what happened."""

    @app.callback(
        Output(result_id, "children"),
        Input(f"{button_type}-pressed", "data"),
        State(who_id, "value"),
        prevent_initial_call=True,
    )
    def on_ack(pressed: object, who: str | None):
        button = pressed_button(pressed)
        if button is None:
            return no_update
        room, alarm = str(button.get("room")), str(button.get("alarm"))
        ok, message = central.acknowledge(room, alarm, who or "")
        return f"{room}: {message}" if ok else f"{room}: not acknowledged: {message}"

    relay_presses(app, {"type": button_type, "room": ALL, "alarm": ALL}, f"{button_type}-pressed")  # redrawn each second


def register(app: Dash, central: Central) -> None:
    store = central.store

    @app.callback(
        Output("c-rooms", "children"),
        Output("c-broker", "children"),
        Output("c-broker", "className"),
        Output("c-audio", "data"),
        Input("c-tick", "n_intervals"),
    )
    def on_tick(_n: int) -> tuple:
        rooms = central.snapshot()
        tiles: list[Component] = [safe_tile(r, store) for r in rooms] or [
            html.P("No rooms yet: waiting for bedsides to publish.", className="muted")
        ]
        broker = (
            (f"broker {central.config} connected", "c-broker c-broker-ok")
            if central.connected
            else (f"BROKER {central.config} UNREACHABLE: rooms not updating", "c-broker c-broker-down")
        )
        return tiles, broker[0], broker[1], {"priority": station_audio(rooms) if central.connected else "medium"}

    register_ack(app, central, "c-ack", "c-who", "c-ack-result")
    app.clientside_callback(
        ClientsideFunction("kapmon_central", "audio"),
        Output("c-audio-state", "children"),
        Output("c-audio-state", "className"),
        Input("c-audio", "data"),
        Input("c-start-audio", "n_clicks"),
    )


# --- the central view of one mirrored session ---------------------------------------------------


def central_view(session_id: str, store) -> html.Div:
    """The room's alarms and limits (from its state) above the live page of the mirrored session."""
    return html.Div(
        className="central-view",
        children=[
            dcc.Interval(id="cv-tick", interval=1000),
            dcc.Store(id="cv-session", data=session_id),
            dcc.Store(id="cv-shown"),
            html.Header(
                className="topbar cv-bar",
                children=[
                    html.A("← all rooms", href="/", className="brand"),
                    html.Span(id="cv-room", className="cv-room"),
                    html.Span(id="cv-status", className="c-status"),
                    html.Label(["Nurse ", dcc.Input(id="cv-who", value="", placeholder="initials", className="who")]),
                ],
            ),
            html.Div(id="cv-banner", className="banner banner-none", role="alert"),
            html.Div(
                className="cv-grid",
                children=[
                    html.Section(
                        className="cv-alarms",
                        children=[
                            html.H2("Alarms"),
                            html.Div(id="cv-alarm-list"),
                            feedback("cv-ack-result"),
                            dcc.Store(id="cv-ack-pressed"),
                        ],
                    ),
                    html.Section(className="cv-limits", children=[html.H2("Limits"), html.Div(id="cv-limit-list")]),
                ],
            ),
            live_page.layout(session_id, None, store),
        ],
    )


def alarm_item(alarm: ActiveAlarm, room: Room) -> html.Div:
    """One alarm in the central view: priority, words, since when, what to do, and its acknowledge button."""
    since = clock_text(alarm.since)[11:19]
    state = "acknowledged" if alarm.acknowledged else "unacknowledged"
    return html.Div(
        className=f"alarm-row alarm-{alarm.priority} cv-alarm",
        children=[
            html.Span(PRIORITY_MARK[alarm.priority], className="mark"),
            html.Div(
                className="alarm-text",
                children=[
                    html.Div(f"{alarm.priority.upper()} {alarm_words(alarm)}", className="alarm-message"),
                    html.Div(f"since {since} · {state}" + (" · latched" if alarm.latched else ""), className="alarm-kind"),
                    *([html.Div(f"What to do: {alarm.response}", className="cv-response")] if alarm.response else []),
                ],
            ),
            *(
                []
                if alarm.acknowledged or room.status != "online"
                else [
                    html.Button(
                        ack_label(alarm, room),
                        id={"type": "cv-ack", "room": room.key, "alarm": alarm.alarm_id},
                        className="ack c-ack",
                        n_clicks=0,
                    )
                ]
            ),
        ],
    )


def view_parts(room: Room | None) -> tuple:
    """Room name, status, banner children and class, alarm list and limit list of the central view."""
    if room is None or room.state is None:
        return "", "", "This session is not running in any room this station sees", "banner banner-none", [], []
    state = room_state(room)
    line, cls = alarm_line(room, state)
    quiet = cls in ("ok", "ended") or cls.endswith("-ack")
    alarms = sorted(room.alarms, key=lambda a: (a.acknowledged, -PRIORITY_RANK[a.priority], a.since))
    limits = [
        html.Div(
            className=f"cv-limit cv-limit-{lim.priority}",
            children=[html.Span(lim.priority.upper(), className="cv-limit-priority"), html.Span(lim.text)],
        )
        for lim in room.state.limits
    ]
    return (
        f"{room.room} · {room.state.session.patient}",
        status_text(room, state),
        line,
        "banner banner-none" if quiet else f"banner banner-{cls}",
        [alarm_item(a, room) for a in alarms] or [html.P("No active alarms", className="muted")],
        limits or [html.P("This room published no limits.", className="muted")],
    )


def register_view(app: Dash, central: Central) -> None:

    @app.callback(
        Output("cv-room", "children"),
        Output("cv-status", "children"),
        Output("cv-banner", "children"),
        Output("cv-banner", "className"),
        Output("cv-alarm-list", "children"),
        Output("cv-limit-list", "children"),
        Output("cv-shown", "data"),
        Input("cv-tick", "n_intervals"),
        State("cv-session", "data"),
        State("cv-shown", "data"),
    )
    def on_view_tick(_n: int, session_id: str, shown: str | None) -> tuple:
        room = central.room_of_session(session_id)
        if room is not None and room.session_id != session_id:
            room = None  # the room has moved on to another session
        name, status, banner, banner_class, alarms, limits = view_parts(room)
        signature = repr((room.status, room.state.alarms, room.state.limits)) if room and room.state else ""
        changed = signature != shown
        return (name, status, banner, banner_class, alarms if changed else no_update, limits if changed else no_update, signature)

    register_ack(app, central, "cv-ack", "cv-who", "cv-ack-result")
