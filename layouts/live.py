"""The live page of one session: big numerics, alarms, pleth, trends fed by deltas, the session panel.

Each tick (every second, and at once when the session's push channel says it has news: ``layouts.push``)
sends only what is new since the client's cursor: trend points and events as
``extendData``, pleth samples likewise, and small fixed-size tiles, banner and panel; the alarm cards and
the status panel only when they change. Once the session has ended and the page has caught up, the tick
stops.

A session recorded here is read from its hub's live read model (``monitor.session.live_view``): the tick
takes the latest snapshot (tiles, alarms, decision, due checks, entries) and from the store only the rows
after the client's cursor, up to the snapshot's; it never calls into the hub or its rules. Actions go
through the hub's commands. A session recorded by another process, or ended, is read from the store.

Under the tiles, one large button per observation scale the protocol charts (``layouts.observations``).

A hold banner under the alarm banner says, from the moment it applies, that dosing is blocked or on
hold, why and what lifts it (``layouts.hold_banner``); the alarm banner stays as it is beside it.

The page is one screen: header and banners on top, numerics and trends on the left, and a fixed-width
column on the right whose alarm actions stay in view while the session panel below them scrolls.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import orjson
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from devices.vocabulary import FRESH_S, PRIORITY_MARK, PRIORITY_RANK
from layouts import alarm_cards, controls, corrections, ending, hold_banner, observations, screening_form
from layouts import training as training_page
from layouts.components import (
    COLOURS,
    TRENDS,
    age_text,
    alarm_banner,
    clock_text,
    elapsed_text,
    pleth_figure,
    trend_figure,
    wildcards,
)
from layouts.push import PATH as PUSH_PATH
from monitor.rules.alarm_groups import ActiveAlarm
from monitor.rules.bedside import due_checks, next_nibp_due
from monitor.session.hub import Hub
from monitor.session.live_view import LiveSnapshot
from monitor.session.liveness import LIVE, liveness
from monitor.session.store import Store, StoredEvent, StoredReading, TrendColumns

TREND_VITALS = tuple(v for spec in TRENDS.values() for v in spec["vitals"])
MAX_POINTS = 7200  # two hours of 1 Hz data per trace
PLETH_POINTS = 750  # ten seconds at 75 Hz
WINDOW_S = 7200
MAX_ROWS_PER_TICK = 20000
LAST_DRAWABLE_S = 253_402_214_400.0  # 9999-12-31 UTC: a day before the year 10000, which has no four-digit year
TICK_MS = 1000  # the poll: every page ticks this often, pushed or not
# Design proposal: trends take new points at most this often (session seconds), a dose or note at once. Every
# new point redraws the whole graph in the browser; in 5 s a point moves 3 px on a 30-min window 1000 px wide,
# and the tiles show each reading as it comes.
TREND_EVERY_S = 5.0
NO_TREND_POINTS = TrendColumns(None, 0, {v: (np.empty(0), np.empty(0)) for v in TREND_VITALS})
RECORDER_STALE_S = 3.0  # a recorder that has not flushed for this long (it flushes every 0.2 s) has stopped
MARKER_LEVELS = 4  # dose and note labels step down through this many heights, so neighbours do not overprint
MARKER_TEXT = 24  # characters of a note shown on the trend; the whole note is in its hover text
NO_ALARMS = {
    "here": "None",
    "ended": "Session ended: its alarms are in the review.",
    "remote": "Alarms are not monitored on this page.",
}


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


@dataclass(frozen=True)
class TileView:
    """What a tile shows: its worst alarm, value (in its colour, or grey once ended), second line, age and class."""

    alarm: str
    value: str
    style: dict[str, str] | None
    sub: str
    age: str
    className: str


# Where each field of a TileView goes in the tile the page draws once (``tile_box``): the tick sets text, never
# new components (each new component is one more update of the whole page).
TILE_PARTS = (
    ("alarm", "alarm-{}", "children"),
    ("value", "value-{}", "children"),
    ("style", "value-{}", "style"),
    ("sub", "sub-{}", "children"),
    ("age", "age-{}", "children"),
    ("className", "tile-{}", "className"),
)


def layout(session_id: str, hub: Hub | None, store: Store, push: bool = True) -> html.Div:
    """The live page skeleton; the tick callback fills it. With ``push``, a session recorded here also
    ticks as soon as its push channel (``layouts.push``) says it has news."""
    session = store.session(session_id)
    here = hub is not None and not hub.finished.is_set()
    snap = hub.view.snapshot() if hub is not None else None
    limits = snap.plan.limits if snap is not None else ()
    return html.Div(
        id="live-root",
        className="live",
        children=[
            dcc.Store(id="cursor", data=new_cursor(session_id)),
            dcc.Store(id="audio"),
            dcc.Store(id="alarm-shown", data={}),
            dcc.Store(id="ack-pressed"),
            dcc.Interval(id="tick", interval=TICK_MS),
            dcc.Store(id="push-url", data=push_path(session_id) if here and push else None),
            dcc.Store(id="push-state"),
            html.Div(id="nodata", className="nodata nodata-hidden", role="alert", **wildcards({"aria-live": "assertive"})),
            html.Div(
                id="live-page",
                className="live-page live-" + ("here" if here else "remote"),
                children=[
                    html.Header(
                        className="topbar",
                        children=[
                            html.A("kapmon", href="/", className="brand"),
                            html.Span(id="patient", className="patient"),
                            html.Span(id="phase-clock", className="phase-clock"),
                            html.Span(id="session-clock", className="session-clock"),
                            html.Span(
                                className="topbar-end",
                                children=[
                                    html.Button("Start monitoring", id="start-audio", className="start-audio", n_clicks=0),
                                    html.Span(
                                        "AUDIO OFF: press Start monitoring",
                                        id="audio-state",
                                        className="audio-state audio-off",
                                        role="status",
                                    ),
                                    html.Label(
                                        ["Nurse ", dcc.Input(id="who", value="", placeholder="initials", className="who")],
                                        className="who-label",
                                    ),
                                ],
                            ),
                        ],
                    ),
                    training_page.bar(session) if session is not None and session.kind == "training" else html.Div(),
                    html.Div(
                        "Waiting for data\u2026",
                        id="banner",
                        className="banner banner-none",
                        role="alert",
                        **wildcards({"aria-live": "assertive"}),
                    ),
                    hold_div(snap if here else None),
                    html.Div(
                        className="live-body",
                        children=[
                            html.Main(
                                className="live-main",
                                children=[
                                    html.Div(
                                        className="tiles",
                                        children=[tile_box(t) for t in TILES],
                                    ),
                                    observations.section(),
                                    html.Div(
                                        id="pleth-box",
                                        className="pleth-box",
                                        hidden=True,
                                        children=[
                                            dcc.Graph(
                                                id="pleth",
                                                figure=pleth_figure(),
                                                config={"displayModeBar": False, "staticPlot": True},
                                            ),
                                        ],
                                    ),
                                    html.Div(
                                        id="trends",
                                        className="trends trends-waiting",
                                        children=[
                                            html.Div(
                                                className="trend-bar",
                                                children=[
                                                    dcc.RadioItems(
                                                        id="window",
                                                        options=[{"label": f"{m} min", "value": m} for m in (30, 60, 120)],
                                                        value=30,
                                                        inline=True,
                                                        className="window-select",
                                                    ),
                                                    html.Span(id="time-ref", className="time-ref"),
                                                ],
                                            ),
                                            html.Div("Waiting for data\u2026", className="trends-waiting-note"),
                                            *[
                                                html.Div(
                                                    dcc.Graph(
                                                        id=f"trend-{key}",
                                                        figure=trend_figure(key, limits),
                                                        responsive=True,
                                                        config={"displayModeBar": False},
                                                        className="trend-graph",
                                                    ),
                                                    className="trend",
                                                )
                                                for key in TRENDS
                                            ],
                                        ],
                                    ),
                                ],
                            ),
                            html.Aside(
                                className="side",
                                children=[
                                    html.Section(
                                        className="alarms",
                                        children=[
                                            html.Div(
                                                className="alarm-head",
                                                children=[
                                                    html.H2("Alarms"),
                                                    html.Div(
                                                        className="alarm-actions",
                                                        children=[
                                                            html.Button(
                                                                "Acknowledge all",
                                                                id="ack-all",
                                                                className="ack",
                                                                n_clicks=0,
                                                                disabled=True,
                                                            ),
                                                            html.Button(
                                                                "Pause audio 2 min", id="pause-audio", className="ack", n_clicks=0
                                                            ),
                                                        ],
                                                    ),
                                                ],
                                            ),
                                            html.Div(id="ack-result", className="feedback", **wildcards({"aria-live": "polite"})),
                                            html.Div(id="alarm-list", className="alarm-list"),
                                        ],
                                    ),
                                    controls.panel(
                                        session, snap, screening_form.form(snap if here else None), corrections.section()
                                    ),
                                    ending.clinical_bar(session_id)
                                    if here and session is not None and session.kind != "training"
                                    else html.Div(),
                                ],
                            ),
                        ],
                    ),
                ],
            ),
        ],
    )


def push_path(session_id: str) -> str:
    """Where a live page opens its push channel."""
    return PUSH_PATH + quote(session_id, safe="")


def hold_div(snap: LiveSnapshot | None) -> html.Div:
    """The hold banner as the page first draws it: a block or gate shows from page load."""
    children, class_name, title = hold_banner.hold_banner(*(snap.decision, snap.plan) if snap is not None else (None, None))
    return html.Div(children, id="hold", className=class_name, title=title, role="status", **wildcards({"aria-live": "polite"}))


def tile_box(spec: TileSpec) -> html.Div:
    """A tile as the page first draws it: its name and that it waits, never an empty box."""
    return html.Div(
        id=f"tile-{spec.key}",
        className=f"tile tile-{spec.key} tile-waiting",
        children=[
            html.Div(
                [
                    html.Span(spec.label, className="tile-label"),
                    html.Span(spec.unit, className="tile-unit"),
                    html.Span(id=f"alarm-{spec.key}", className="tile-alarm"),
                ],
                className="tile-head",
            ),
            html.Div("---", className="tile-value", id=f"value-{spec.key}"),
            html.Div("", className="tile-sub", id=f"sub-{spec.key}"),
            html.Div("waiting for data", className="tile-age", id=f"age-{spec.key}"),
        ],
    )


def tile(
    spec: TileSpec,
    latest: Mapping[str, StoredReading | None],
    now: float,
    alarms: Sequence[ActiveAlarm],
    speed: float = 1.0,
    ended: bool = False,
) -> TileView:
    """One numeric tile: value, unit, age and source, coloured (and labelled) by its worst alarm.

    A value is stale when older than its freshness limit in real seconds (a replay at 60x ages 60x faster).
    In an ended session nothing is stale or "ago": each value says when it was measured."""
    main = latest.get(spec.vitals[0])
    hot = [a for a in alarms if a.vital in spec.vitals and not a.acknowledged] or [a for a in alarms if a.vital in spec.vitals]
    worst = max(hot, key=lambda a: PRIORITY_RANK[a.priority]) if hot else None
    stale = not ended and (main is None or (now - main.t) / speed > FRESH_S[spec.vitals[0]])
    if spec.key == "nibp":
        value = f"{_num(latest.get('sbp'))}/{_num(latest.get('dbp'))}"
        sub = f"({_num(latest.get('map'))})"
    else:
        value = _num(main)
        second = latest.get(spec.vitals[1])
        sub = f"{spec.vitals[1].upper()} {_num(second)}" if second is not None else ""
    if main is None:
        status = "no reading"
    else:
        when = f"at {clock_text(main.t)[11:19]}" if ended else age_text(now - main.t)
        status = f"{when} · {main.source}" + (" · NO VALUE" if main.value is None else "")
    classes = ["tile", f"tile-{spec.key}"]
    if worst is not None:
        classes.append(f"tile-alarm-{worst.priority}")
    if stale:
        classes.append("tile-stale")
    if ended:
        classes.append("tile-ended")
    return TileView(
        alarm=f"{PRIORITY_MARK[worst.priority]} {worst.message}" if worst else "",
        value=value,
        style=None if ended else {"color": COLOURS.get(spec.vitals[0], "")},
        sub=sub,
        age=("STALE · " if stale and main is not None else "") + status,
        className=" ".join(classes),
    )


NO_SESSION_TILE = TileView("", "---", None, "", "no session", "tile")


def tile_outputs() -> list[Output]:
    """Every part of every tile the tick may set, in ``TILE_PARTS`` order tile by tile."""
    return [Output(target.format(t.key), prop) for t in TILES for _, target, prop in TILE_PARTS]


def _num(r: StoredReading | None) -> str:
    if r is None or r.value is None:
        return "---"
    return f"{r.value:.0f}"


def event_label(e: StoredEvent) -> str:
    if e.kind == "dose":
        return f"{e.data.get('drug', 'dose')} {e.data.get('mg', 0):g} mg"
    return str(e.data.get("text", e.kind))


def short(text: str, n: int = MARKER_TEXT) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def date_texts(t: np.ndarray) -> orjson.Fragment:
    """Epoch seconds as a JSON array of plotly's date text in the server's local time, as ``clock_text`` writes
    one (so a trend reads the same clock as the tiles whatever the browser's time zone), built in arrays:
    a page's first tick has up to 20,000, and a Python string each was memory the server kept after the page
    left. A time no date text can say (a device's wrong clock: before 1970, from 9999-12-31 on) is a gap
    (null). Dash encodes its answers with orjson, which writes a fragment as it is."""
    drawable = (t >= 0) & (t < LAST_DRAWABLE_S)
    rows = quoted_dates(t[drawable])
    if drawable.all():
        return orjson.Fragment(b"[" + rows.tobytes()[:-1] + b"]")
    texts = iter(rows)
    return orjson.Fragment(b"[" + b",".join(next(texts)[:-1].tobytes() if ok else b"null" for ok in drawable) + b"]")


def quoted_dates(t: np.ndarray) -> np.ndarray:
    """One row of bytes per time: its date text in quotes and a comma (``"2026-11-30 07:48:18.123",``). One
    offset from UTC for them all unless they span a change of it (a trend batch covers at most two hours)."""
    quoted = np.empty((len(t), 26), dtype=np.uint8)
    if not len(t):
        return quoted
    whole = np.floor(t)
    offsets = {time.localtime(float(x)).tm_gmtoff for x in (whole.min(), whole.max())}
    offset = offsets.pop() if len(offsets) == 1 else np.array([time.localtime(x).tm_gmtoff for x in whole.tolist()])
    ms = (whole.astype(np.int64) + offset) * 1000 + np.floor((t - whole) * 1000).astype(np.int64)
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").astype("S23").view(np.uint8).reshape(-1, 23)
    quoted[:, 0] = quoted[:, 24] = ord('"')
    quoted[:, 1:24] = text
    quoted[:, 11] = ord(" ")  # 2026-11-30T07:48:18.123 -> 2026-11-30 07:48:18.123
    quoted[:, 25] = ord(",")
    return quoted


def trends_due(cursor: dict, marks: int, ended: bool, now: float) -> bool:
    """Whether a tick sends the trends their new points: a page's first tick, one with ``marks`` (doses and notes
    to mark), an ended session's, one still catching up (the last read a whole batch), and otherwise once
    ``TREND_EVERY_S`` session seconds have passed since the last (``now``: the session's clock; or it went back)."""
    last = cursor.get("trends_at")
    if not cursor["id"] or marks or ended or cursor.get("trends_behind") is True or not isinstance(last, int | float):
        return True
    return not 0 <= now - last < TREND_EVERY_S


def extend_trend(points: TrendColumns, events: list[StoredEvent], key: str, marks: int = 0) -> tuple | object:
    """``extendData`` for one trend graph: the new points of each of its vitals (times as ``date_texts``) plus a
    marker line per dose or note.

    ``marks`` is how many markers the graph already has: each label steps down one of MARKER_LEVELS heights
    from the last, so doses and notes close in time do not print over each other."""
    spec = TRENDS[key]
    vitals = spec["vitals"]
    if not events and not any(len(points.points[v][0]) for v in vitals):
        return no_update
    lo, hi = spec["range"]
    mark_x: list = []
    mark_y: list = []
    texts: list = []
    hovers: list = []
    for n, e in enumerate(events, start=marks):
        x = clock_text(e.t)
        label = event_label(e)
        mark_x += [x, x, None]
        mark_y += [lo, hi - (hi - lo) * (0.06 + 0.1 * (n % MARKER_LEVELS)), None]
        texts += ["", short(label) if key == "bp" else "", ""]
        hovers += [label, label, ""]
    data: dict = {
        "x": [*(date_texts(points.points[v][0]) for v in vitals), mark_x],
        "y": [*(points.points[v][1] for v in vitals), mark_y],
    }
    if events:  # labels only on the marker trace (the last one)
        blank: list[list] = [[] for _ in vitals]
        data |= {"text": [*blank, texts], "hovertext": [*blank, hovers]}
    return data, list(range(len(vitals) + 1)), MAX_POINTS


def extend_pleth(rows: list[StoredReading]) -> tuple | object:
    if not rows:
        return no_update
    return {"x": [[clock_text(r.t) for r in rows]], "y": [[r.value for r in rows]]}, [0], PLETH_POINTS


def audio_state(snap: LiveSnapshot | None, now: float, speed: float) -> dict:
    """What the browser should sound, and for how long (real seconds) audio is paused."""
    if snap is None:
        return {"priority": None, "paused_s": 0}
    until = snap.paused_until
    return {"priority": snap.audio_priority(now), "paused_s": max(0.0, (until - now) / speed) if until else 0}


def status_panel(snap: LiveSnapshot, now: float) -> list:
    """Next due checks, NIBP cycle and discharge readiness, in words."""
    plan = snap.plan
    nibp = snap.nibp
    out: list = []
    for c in due_checks(plan.checkpoints, snap.first_dose, nibp):
        state = c.state(now)
        when = clock_text(c.due)[11:16]
        out.append(html.Div(f"{c.message}: {state} ({when})", className=f"check check-{state.replace(' ', '-')}"))
    repeat = snap.repeat_nibp
    if repeat is not None:
        missed = now > repeat.due
        out.append(
            html.Div(
                f"{repeat.text}: {'missed' if missed else 'due by'} {clock_text(repeat.due)[11:16]}",
                className="check check-missed" if missed else "check check-due-now",
            )
        )
    due = next_nibp_due(nibp[-1] if nibp else None, plan.nibp_interval_s)
    if due is not None:
        late = now - due
        text = f"Next NIBP due {clock_text(due)[11:16]}" + (f" — {late / 60:.0f} min overdue" if late > 60 else "")
        out.append(html.Div(text, className="check" + (" check-missed" if late > 60 else "")))
    return out + controls.discharge_box(snap, now)


@dataclass(frozen=True)
class Moment:
    """What one tick knows about where the session stands."""

    snap: LiveSnapshot | None  # the read model of the recorder, when it runs in this process
    ended_at: float | None  # session time of the ``end`` event
    now: float  # session time the page shows
    speed: float  # session seconds per real second


def elsewhere_text(store: Store, session_id: str) -> str:
    """Why a session that is neither recorded here nor ended shows no alarms or actions here."""
    beat = store.heartbeats().get(session_id)
    if liveness(False, beat, time.time()) == LIVE:
        return "Live in another kapmon process: its alarms and actions are on that process's page."
    if beat is not None:
        return f"The recorder stopped at {time.strftime('%H:%M', time.localtime(beat))} without ending the session."
    return "Not recorded by this kapmon process: view only."


def ended_status(session_id: str, ended_at: float) -> list:
    return [
        html.P(f"Session ended at {clock_text(ended_at)[11:16]}.", className="ended-note"),
        html.A("Open the review", href=f"/review/{session_id}", className="ack link-button"),
    ]


def plan_update(snap: LiveSnapshot | None, cursor: dict, moved: dict) -> object:
    """The plan box, drawn only when what it shows changed (the screening, overrides and open findings)."""
    shown = (
        None
        if snap is None
        else (tuple(snap.plan.screening.items()), snap.plan.overrides, tuple((f.id, f.text) for f in snap.decision.findings))
    )
    return no_update if changed(shown, cursor, "plan_digest", moved) is no_update else controls.plan_box(snap)


def changed(value: object, cursor: dict, key: str, moved: dict) -> object:
    """``value``, or ``no_update`` when the page already shows it (compared by a digest kept in the cursor)."""
    digest = hashlib.blake2b(repr(value).encode(), digest_size=8).hexdigest()
    moved[key] = digest
    return no_update if cursor.get(key) == digest else value


def settled_notes(
    events: list[StoredEvent], after: int, now: float, speed: float, undoable: bool
) -> tuple[list[StoredEvent], int]:
    """Notes after the cursor ``after`` that can no longer be undone (``undoable``: the session is live here
    and a note younger than UNDO_S real seconds still can) and were not undone, and the cursor after them.

    The cursor stops before the first note that can still be undone, so it is looked at again next tick."""
    undone = {e.data.get("corrects") for e in events if e.kind == "correction"}
    out: list[StoredEvent] = []
    cursor = after
    for e in events:
        if e.id <= after:
            continue
        if e.kind == "note" and undoable and (now - e.t) / speed < controls.UNDO_S:
            break
        cursor = e.id
        if e.kind == "note" and e.id not in undone:
            out.append(e)
    return out, cursor


CURSOR_IDS = ("id", "pleth", "dose", "event", "marks")


def new_cursor(session_id: str) -> dict:
    """Where a page starts: nothing sent yet."""
    return {"session": session_id, **dict.fromkeys(CURSOR_IDS, 0)}


def window_start(store: Store, session_id: str, now: float) -> int:
    """Where a new page's trends start reading: before the first reading of the ``WINDOW_S`` they can show (a long
    session's older readings are never sent), or at the start."""
    first = store.first_reading_from(session_id, now - WINDOW_S)
    return first - 1 if first else 0


def read_cursor(sent: object) -> dict:
    """The cursor a page sent back, with every position a non-negative integer (anything else starts over:
    an old or tampered page never breaks the tick)."""
    cursor = dict(sent) if isinstance(sent, dict) else {}
    session = cursor.get("session")
    for key in CURSOR_IDS:
        value = cursor.get(key)
        cursor[key] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
    cursor["session"] = session if isinstance(session, str) else ""
    return cursor


def register(app: Dash, store: Store, live: Mapping[str, Hub]) -> None:
    """Register the live page callbacks against one store and the running hubs."""

    def moment(session_id: str, cursor: dict, events: list[StoredEvent], hub: Hub | None, snap: LiveSnapshot | None) -> Moment:
        if hub is not None and snap is not None:
            return Moment(snap, None, hub.now(), hub.clock_speed)
        ended_at = cursor.get("ended") or next((e.t for e in events if e.kind == "end"), None)
        return Moment(None, ended_at, ended_at or _last_time(store, session_id), 1.0)

    def running(session_id: str) -> tuple[Hub | None, LiveSnapshot | None]:
        """The hub recording the session in this process and its latest snapshot, or (None, None)."""
        hub = live.get(session_id)
        return (hub, hub.view.snapshot()) if hub is not None and not hub.finished.is_set() else (None, None)

    @app.callback(
        output={
            "patient": Output("patient", "children"),
            "phase": Output("phase-clock", "children"),
            "clock": Output("session-clock", "children"),
            "banner": Output("banner", "children"),
            "banner_class": Output("banner", "className"),
            "hold": Output("hold", "children"),
            "hold_class": Output("hold", "className"),
            "hold_title": Output("hold", "title"),
            "entries": Output("entries", "children"),
            "plan": Output("plan-box", "children"),
            "tiles": tile_outputs(),
            "trends": [Output(f"trend-{key}", "extendData") for key in TRENDS],
            "pleth": Output("pleth", "extendData"),
            "pleth_hidden": Output("pleth-box", "hidden"),
            "cards": Output("alarm-list", "children"),
            "shown": Output("alarm-shown", "data"),
            "ack_all_off": Output("ack-all", "disabled"),
            "status": Output("status", "children"),
            "findings": Output("override-finding", "options"),
            "observations": Output("obs-buttons", "children"),
            "audio": Output("audio", "data"),
            "page_class": Output("live-page", "className"),
            "stop": Output("tick", "disabled"),
            "cursor": Output("cursor", "data"),
        },
        inputs={"_n": Input("tick", "n_intervals")},
        state={"sent": State("cursor", "data")},
    )
    def on_tick(_n: int, sent: dict) -> dict:
        cursor = read_cursor(sent)
        session_id = cursor["session"]
        hub, snap = running(session_id)
        session = snap.session if snap is not None else store.session(session_id)
        if session is None:
            return missing(session_id, cursor)
        if snap is not None and time.time() - snap.flushed > RECORDER_STALE_S:
            return stalled(cursor, snap.flushed)  # the recorder has stopped flushing: say so, show nothing new
        events = store.events(session_id, min(cursor["dose"], cursor["event"]))
        m = moment(session_id, cursor, events, hub, snap)
        doses = [e for e in events if e.kind == "dose" and e.id > cursor["dose"]]
        notes, event_cursor = settled_notes(events, cursor["event"], m.now, m.speed, snap is not None)
        marks = sorted(doses + notes, key=lambda e: e.t)
        due = trends_due(cursor, len(marks), m.ended_at is not None, m.now)
        fetched = (
            store.trend_columns(
                session_id,
                cursor["id"] or window_start(store, session_id, m.now),
                TREND_VITALS,
                MAX_ROWS_PER_TICK,
                through_id=snap.reading_id if snap is not None else None,
                since=m.now - WINDOW_S,
            )
            if due
            else NO_TREND_POINTS
        )
        pleth = store.recent(session_id, "pleth", cursor["pleth"], PLETH_POINTS) if m.ended_at is None else []
        if snap is not None:
            latest: Mapping[str, StoredReading | None] = snap.latest
            alarms, groups, first = snap.alarms, snap.groups, snap.first_dose
        else:
            latest = {v: store.latest(session_id, v) for t in TILES for v in t.vitals}
            doses_so_far = store.doses(session_id)
            alarms, groups, first = (), (), doses_so_far[0].t if doses_so_far else None
        tiles = [tile(t, latest, m.now, alarms, m.speed, ended=m.ended_at is not None) for t in TILES]
        page_state = "ended" if m.ended_at is not None else "here" if snap is not None else "remote"
        listed = f"{page_state}|{alarm_cards.signature(groups)}"
        fresh = listed != cursor.get("alarms")
        moved = {
            "session": session_id,
            "id": fetched.last_id or cursor["id"],
            "pleth": pleth[-1].id if pleth else cursor["pleth"],
            "dose": max([e.id for e in events], default=cursor["dose"]),
            "event": event_cursor,
            "marks": cursor["marks"] + len(marks),
            "now_ms": m.now * 1000,
            "dose_ms": first * 1000 if first is not None else None,
            "tz_ms": time.localtime(m.now).tm_gmtoff * 1000,
            "ended": m.ended_at,
            "served": time.time(),
            "trends_at": m.now if due else cursor.get("trends_at"),
            "trends_behind": fetched.count >= MAX_ROWS_PER_TICK,
            "recorder": snap.flushed if snap is not None else None,
            "alarms": listed,
        }
        if m.ended_at is not None:
            ended = clock_text(m.ended_at)[11:16]
            phase: str | list[html.Span] = f"ENDED {ended}"
            clock = f"{elapsed_text(m.now - first)} at end" if first else ""
            banner = (
                [html.Span(f"Session ended at {ended} · "), html.A("open the review", href=f"/review/{session_id}")],
                "banner banner-ended",
            )
            status: list = ended_status(session_id, m.ended_at)
        else:
            phase = (
                [html.Span(elapsed_text(m.now - first)), html.Span(" since first dose", className="phase-label")]
                if first
                else "pre-dose"
            )
            clock = clock_text(m.now)[11:19]
            banner = alarm_banner(list(alarms))
            status = (
                status_panel(snap, m.now) if snap is not None else [html.P(elsewhere_text(store, session_id), className="muted")]
            )
        hold, hold_class, hold_title = hold_banner.hold_banner(*(snap.decision, snap.plan) if snap else (None, None))
        entries = corrections.listing(list(snap.entries)) if snap is not None else []
        weight = f"{session.weight_kg:g} kg" if session.weight_kg else "weight ?"

        def once(value: object, key: str) -> object:
            """``value`` unless the page shows it already: an output sent redraws what it names in every page."""
            return changed(value, cursor, key, moved)

        def drawn_if_changed(basis: object, key: str, draw: Callable[[], object]) -> object:
            """``draw()`` when what it is drawn from (``basis``) changed; its components are not built otherwise."""
            return no_update if changed(basis, cursor, key, moved) is no_update else draw()

        return {
            "patient": once(f"{session.patient} · {session.route.upper()} · {weight}", "patient_digest"),
            "phase": once(phase, "phase_digest"),
            "clock": clock,
            "banner": once(banner[0], "banner_digest"),
            "banner_class": once(banner[1], "banner_class_digest"),
            "hold": changed(hold, cursor, "hold_digest", moved),
            "hold_class": changed(hold_class, cursor, "hold_class_digest", moved),
            "hold_title": changed(hold_title, cursor, "hold_title_digest", moved),
            "entries": changed(entries, cursor, "entries_digest", moved),
            "plan": plan_update(snap, cursor, moved),
            "tiles": [
                once(getattr(view, part), f"{target.format(spec.key)}.{prop}")
                for view, spec in zip(tiles, TILES, strict=True)
                for part, target, prop in TILE_PARTS
            ],
            "trends": [extend_trend(fetched, marks, key, cursor["marks"]) for key in TRENDS],
            "pleth": extend_pleth(pleth),
            "pleth_hidden": once(m.ended_at is not None or not (pleth or cursor["pleth"]), "pleth_hidden_digest"),
            "cards": alarm_cards.cards(groups, NO_ALARMS[page_state]) if fresh else no_update,
            "shown": alarm_cards.shown(groups) if fresh else no_update,
            "ack_all_off": not any(g.unacknowledged for g in groups) if fresh else no_update,
            "status": changed(status, cursor, "status_digest", moved),
            "findings": once(controls.finding_options(snap), "findings_digest"),
            "observations": drawn_if_changed(
                views := observations.button_views(snap, m.now) if snap is not None else None,
                "observations_digest",
                lambda: [] if views is None else observations.buttons(views),
            ),
            "audio": once(audio_state(snap, m.now, m.speed), "audio_digest"),
            "page_class": once(f"live-page live-{page_state}", "page_class_digest"),
            "stop": once(m.ended_at is not None and fetched.count < MAX_ROWS_PER_TICK, "stop_digest"),
            "cursor": moved,
        }

    def stalled(cursor: dict, flushed: float) -> dict:
        """A tick while the recorder has stopped flushing: only the cursor moves (the watchdog says NO DATA)."""
        keep: dict[str, object] = {
            key: no_update
            for key in (
                "patient",
                "phase",
                "clock",
                "banner",
                "banner_class",
                "hold",
                "hold_class",
                "hold_title",
                "entries",
                "plan",
                "pleth",
                "pleth_hidden",
                "cards",
                "shown",
                "ack_all_off",
                "status",
                "findings",
                "observations",
                "audio",
                "page_class",
                "stop",
            )
        }
        keep.update(
            tiles=[no_update] * len(TILES) * len(TILE_PARTS),
            trends=[no_update] * len(TRENDS),
            cursor={**cursor, "served": time.time(), "recorder": flushed},
        )
        return keep

    def missing(session_id: str, cursor: dict) -> dict:
        return {
            "patient": f"no session {session_id}",
            "phase": "",
            "clock": "",
            "banner": [],
            "banner_class": "banner",
            "hold": [],
            "hold_class": "hold hold-clear",
            "hold_title": "",
            "entries": [],
            "plan": no_update,
            "tiles": [getattr(NO_SESSION_TILE, part) for _spec in TILES for part, _target, _prop in TILE_PARTS],
            "trends": [no_update] * len(TRENDS),
            "pleth": no_update,
            "pleth_hidden": True,
            "cards": [],
            "shown": {},
            "ack_all_off": True,
            "status": [],
            "findings": [],
            "observations": [],
            "audio": no_update,
            "page_class": "live-page live-remote",
            "stop": True,
            "cursor": cursor,
        }

    app.clientside_callback(
        ClientsideFunction("kapmon", "updated"),
        Output("trends", "className"),
        Output("time-ref", "children"),
        Input("cursor", "data"),
        Input("window", "value"),
        State("tick", "n_intervals"),
        State("tick", "interval"),
    )
    app.clientside_callback(
        ClientsideFunction("kapmon", "pushTo"),
        Output("push-state", "data"),
        Input("push-url", "data"),
    )
    app.clientside_callback(
        ClientsideFunction("kapmon", "audio"),
        Output("audio-state", "children"),
        Output("audio-state", "className"),
        Input("audio", "data"),
        Input("start-audio", "n_clicks"),
    )
    controls.register(app, store, live)
    screening_form.register(app, live)
    corrections.register(app, store, live)
    observations.register(app, live)


def _last_time(store: Store, session_id: str) -> float:
    times = [r.t for r in (store.latest(session_id, v) for v in TREND_VITALS) if r is not None]
    return max(times) if times else 0.0
