"""Training pages: start a scenario or recording (``/training``), the trainer's and trainee's
controls on a training session's live page (with what the scripted patient presents now, as cues the
trainee charts from), and the debrief (``/debrief/<id>``).

Only the library's scenarios and the recordings folder's recordings can be started from the page.
Instructor injections are labelled for the instructor (a collapsed section and the debrief); the
trainee sees only what the fault itself shows. Ending a session is an explicit, confirmed, audited
request (``layouts.ending``); opening the debrief never ends anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import MutableMapping
from pathlib import Path

from dash import ALL, Dash, Input, NoUpdate, Output, State, callback_context, dcc, html, no_update

from layouts.auth import acting_user
from layouts.components import elapsed_text, since_dose_text
from layouts.controls import feedback
from layouts.ending import end_button, end_from_page
from monitor.session.hub import Hub
from monitor.session.model import Session
from monitor.session.store import Store
from monitor.training.charting import NOT_REACHED, PatientState, minutes_text
from monitor.training.debrief import Debrief, debrief, patient_now
from monitor.training.library import (
    INJECTIONS,
    TRAINEE_ACTIONS,
    TrainingInputError,
    check_speed,
    choice_source,
    choices,
    inject,
    playback,
    start_training,
)

SPEEDS = (1, 5, 10, 30, 60)
SKIPS_MIN = (1, 5, 10)
NEED_TRAINEE = "Enter the trainee's name in the Nurse box first."
NEED_INSTRUCTOR = "Enter the instructor's name first."


def length_text(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.0f} min"


def start_page(folder: Path | None) -> html.Div:
    """Choose a scenario or recording (each described), the trainee and the speed."""
    offered = choices(folder)
    options = [{"value": c.value, "label": c.label} for c in offered]
    catalogue = [
        html.Tr(
            [
                html.Td(html.Strong(c.title)),
                html.Td(c.kind),
                html.Td(length_text(c.length_s)),
                html.Td(c.happens),
                html.Td(c.teaches),
            ]
        )
        for c in offered
    ]
    return html.Div(
        className="sessions training-start",
        children=[
            html.Nav(html.A("\u2190 Sessions", href="/", id="back-to-sessions"), className="crumbs"),
            html.H1("Training"),
            html.P(
                "Replays run through the same alarm engine and live page as a real session and are stored as "
                "training sessions, never mixed with clinical ones.",
                className="muted",
            ),
            html.Div(
                className="form-row",
                children=[
                    dcc.Dropdown(
                        id="train-choice",
                        options=options,
                        value=options[0]["value"] if options else None,
                        clearable=False,
                        className="dd wide-dd",
                    ),
                ],
            ),
            html.Div(
                className="form-row",
                children=[
                    html.Label(["Trainee ", dcc.Input(id="train-trainee", placeholder="name", className="txt")]),
                    html.Label(
                        [
                            "Speed ",
                            dcc.Dropdown(id="train-speed", options=list(SPEEDS), value=10, clearable=False, className="dd"),
                        ]
                    ),
                    html.Button("Start", id="train-start", className="ack", n_clicks=0),
                ],
            ),
            feedback("train-result"),
            html.H2("Scenarios and recordings"),
            html.Table(
                [
                    html.Thead(html.Tr([html.Th(h) for h in ("", "Kind", "Length", "What happens", "What it teaches")])),
                    html.Tbody(catalogue),
                ],
                className="session-table catalogue",
                id="train-catalogue",
            ),
        ],
    )


def bar(session: Session) -> html.Div:
    """Playback, trainee and (collapsed) instructor controls shown on a training session's live page."""
    training = session.metadata.get("training", {})
    return html.Div(
        className="training-bar",
        children=[
            dcc.Store(id="train-trainee-name", data=training.get("trainee", "")),
            html.Div(
                className="form-row",
                children=[
                    html.Strong(f"TRAINING · {training.get('title', 'Training')}"),
                    html.Span(id="play-state", className="play-state"),
                    html.Button("Pause", id="play-pause", className="ack", n_clicks=0),
                    *[html.Button(f"{s}\u00d7", id={"type": "speed", "x": s}, className="quick", n_clicks=0) for s in SPEEDS],
                    *[html.Button(f"+{m} min", id={"type": "skip", "min": m}, className="quick", n_clicks=0) for m in SKIPS_MIN],
                    end_button(
                        "end-training",
                        "End & debrief",
                        "End this training session and open its debrief? Playback stops for good.",
                    ),
                ],
            ),
            html.Div(id="train-cues", className="form-row train-cues", role="status"),
            html.Div(
                className="form-row",
                children=[
                    html.Span("Trainee:", className="muted"),
                    *[
                        html.Button(label, id={"type": "trainee", "action": key}, className="quick", n_clicks=0)
                        for key, label in TRAINEE_ACTIONS.items()
                    ],
                ],
            ),
            html.Details(
                className="instructor",
                children=[
                    html.Summary("Instructor"),
                    html.Div(
                        className="form-row",
                        children=[
                            html.Label(
                                ["Instructor ", dcc.Input(id="instructor", value="", placeholder="name", className="txt")]
                            ),
                            *[
                                html.Button(label, id={"type": "inject", "kind": key}, className="quick inject", n_clicks=0)
                                for key, (label, _) in INJECTIONS.items()
                            ],
                        ],
                    ),
                    feedback("inject-result"),
                ],
            ),
            feedback("training-result"),
        ],
    )


def cue_row(states: list[PatientState], t_s: float) -> list:
    """What the patient presents now, one cue per scale (never charted: the trainee charts what they see); a
    cue whose charting window is still open is marked new."""
    if not states:
        return []
    cues = [
        html.Span(s.cue, className="cue cue-new" if t_s - s.at_s <= s.within_s else "cue", id={"type": "cue", "scale": s.scale})
        for s in states
    ]
    return [html.Span("Patient now:", className="muted"), *cues]


def duration_text(seconds: float | None) -> str:
    """A response time in minutes and seconds: ``45 s``, ``2 min 05 s``."""
    return "" if seconds is None else minutes_text(seconds)


def action_text(action: str | None) -> str:
    """A matched action in words: ``Hold dosing``, ``acknowledge sbp high``, ``note oxygen given``."""
    if action is None:
        return ""
    return TRAINEE_ACTIONS.get(action, action.replace("_", " ").replace(":", " ", 1))


def _times(d: Debrief, t_s: float) -> list[html.Td]:
    """T+ since the first dose (the time into the session while no dose was given) and the clock time."""
    if d.first_dose_s is not None:
        since = since_dose_text(t_s - d.first_dose_s)
    else:
        since = "session " + since_dose_text(t_s).removeprefix("T")
    return [
        html.Td(since, className="t-plus"),
        html.Td(time.strftime("%H:%M:%S", time.localtime(d.started + t_s)), className="clock"),
    ]


def debrief_page(store: Store, session_id: str, live: MutableMapping[str, Hub]) -> html.Div:
    """A training session's debrief; while it still runs, an End session action instead of ending it."""
    session = store.session(session_id)
    if session is None or session.kind != "training":
        return html.Div(html.H1(f"No training session {session_id}"), className="sessions")
    hub = live.get(session_id)
    running = hub is not None and not hub.finished.is_set()
    return html.Div(debrief_children(store, session_id, running), id="debrief-root", className="sessions debrief")


def debrief_children(store: Store, session_id: str, running: bool, note: str = "") -> list:
    """Each expectation and the trainee's response, the timeline, links and exports."""
    d = debrief(store, session_id)
    met = sum(o.result in ("done", "avoided") for o in d.outcomes)
    reached = [c for c in d.charting if c.timing != NOT_REACHED]
    charted = f" · {sum(c.met for c in reached)} of {len(reached)} patient states charted on time at the right level"
    unreached = any(o.result == "not reached" for o in d.outcomes)
    rows = [
        html.Tr(
            [
                html.Td(o.id),
                html.Td(o.what),
                *_times(d, o.due_s),
                html.Td(o.result.upper(), className=f"result-{o.result.replace(' ', '-')}"),
                html.Td(action_text(o.action)),
                html.Td(duration_text(o.response_s)),
            ]
        )
        for o in d.outcomes
    ]
    events = [
        html.Tr(
            [*_times(d, r.t_s), html.Td(r.event), html.Td(r.response), html.Td(duration_text(r.response_s))],
            className=f"row-{r.source}",
        )
        for r in d.timeline
    ]
    reference = (
        "Times are T+ minutes:seconds since the first dose, with the clock time beside them."
        if d.first_dose_s is not None
        else "No dose yet: times are minutes:seconds into the session."
    )
    return [
        html.Nav(
            [
                html.A("\u2190 Sessions", href="/"),
                html.A("Training", href="/training"),
                html.A("Review this session", href=f"/review/{session_id}", id="debrief-review"),
            ],
            className="crumbs",
        ),
        html.H1(f"Debrief: {d.title}"),
        html.P(
            f"Trainee: {d.trainee or 'not named'} · session {session_id} · {met} of {len(d.outcomes)} "
            f"expectations met{' so far' if running else ''}"
            f"{charted if reached else ''}"
            f"{' (the session ended before some were due)' if not running and unreached else ''}",
            className="muted",
        ),
        html.P(note, className="feedback", id="debrief-note") if note else None,
        running_box() if running else None,
        html.H2("What the trainee should have done"),
        html.Table(
            [
                html.Thead(html.Tr([html.Th(h) for h in ("", "Expected", "Due", "Clock", "Result", "Action", "Response")])),
                html.Tbody(rows),
            ],
            className="session-table",
            id="debrief-outcomes",
        ),
        *charting_section(d),
        html.H2("Missed"),
        html.Ul([html.Li(w) for w in d.missed_words] or [html.Li("Nothing missed")], id="debrief-missed"),
        html.H2("Timeline"),
        html.P(reference, className="muted"),
        html.Table(
            [html.Thead(html.Tr([html.Th(h) for h in ("Time", "Clock", "Event", "Response", "After")])), html.Tbody(events)],
            className="session-table",
            id="debrief-timeline",
        ),
        html.Div(
            className="form-row",
            children=[
                html.Button("Download JSON", id="debrief-json", className="ack", n_clicks=0),
                html.Button("Download CSV", id="debrief-csv", className="ack", n_clicks=0),
                dcc.Download(id="debrief-download"),
            ],
        ),
        dcc.Store(id="debrief-session", data=session_id),
    ]


def charting_section(d: Debrief) -> list:
    """Each scripted patient state: what the patient presented, what the trainee charted and when (none when
    the scenario scripts no states)."""
    if not d.charting:
        return []
    rows = [
        html.Tr(
            [
                *_times(d, c.state.at_s),
                html.Td(c.state.cue),
                html.Td(str(c.state.level)),
                html.Td("" if c.charted_level is None else str(c.charted_level)),
                html.Td(duration_text(c.after_s), className="t-plus"),
                html.Td(c.timing.upper(), className=f"result-{'done' if c.met else 'missed' if c.missed else 'not-reached'}"),
                html.Td(c.level_result),
            ],
            title=c.words(),
        )
        for c in d.charting
    ]
    head = ("From", "Clock", "The patient presented", "Level", "Charted", "After", "Charting", "Level charted")
    return [
        html.H2("What the patient presented and what was charted"),
        html.Table(
            [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)], className="session-table", id="debrief-charting"
        ),
    ]


def running_box() -> html.Div:
    """Shown while the session still runs: the debrief so far, and an explicit End session."""
    return html.Div(
        className="end-bar",
        id="debrief-running",
        children=[
            html.Strong("This session is still running: the debrief so far."),
            html.Label(["Your name ", dcc.Input(id="debrief-who", value="", placeholder="name", className="txt")]),
            end_button("debrief-end", "End session", "End this training session now? Playback stops for good."),
            feedback("debrief-end-result"),
        ],
    )


def register(app: Dash, store: Store, live: MutableMapping[str, Hub], folder: Path | None) -> None:
    """Callbacks for starting training, playback, trainee actions, injections, ending and debrief export."""

    @app.callback(
        Output("url", "pathname"),
        Output("train-result", "children"),
        Input("train-start", "n_clicks"),
        State("train-choice", "value"),
        State("train-speed", "value"),
        State("train-trainee", "value"),
        prevent_initial_call=True,
    )
    def on_start(clicks: int, choice: object, speed: object, trainee: object) -> tuple:
        if not clicks:
            return no_update, no_update  # the page was drawn, not the button pressed
        trainee = trainee.strip() if isinstance(trainee, str) else ""
        try:
            source = choice_source(choice, folder)
            speed = check_speed(speed)
        except TrainingInputError as exc:
            return no_update, str(exc)
        if not trainee:
            return no_update, "Name the trainee first."
        hub = start_training(store, source, speed, trainee[:64])
        live[hub.session.id] = hub
        return f"/live/{hub.session.id}", f"Started {hub.session.id}"

    def training_hub(cursor: dict) -> Hub | None:
        hub = live.get(str((cursor or {}).get("session", "")))
        if hub is None or hub.finished.is_set() or playback(hub) is None:
            return None
        return hub

    @app.callback(Output("who", "value"), Input("train-trainee-name", "data"))
    def on_trainee_name(name: str | None) -> str | NoUpdate:
        return name or no_update

    @app.callback(
        Output("training-result", "children"),
        Output("inject-result", "children"),
        Input("play-pause", "n_clicks"),
        Input({"type": "speed", "x": ALL}, "n_clicks"),
        Input({"type": "skip", "min": ALL}, "n_clicks"),
        Input({"type": "trainee", "action": ALL}, "n_clicks"),
        Input({"type": "inject", "kind": ALL}, "n_clicks"),
        State("cursor", "data"),
        State("who", "value"),
        State("instructor", "value"),
        prevent_initial_call=True,
    )
    def on_control(*args) -> tuple:
        cursor, who, instructor = args[-3:]
        trigger = callback_context.triggered_id
        if trigger is None or not callback_context.triggered[0]["value"]:
            return no_update, no_update  # a button was drawn, not pressed
        instructing = isinstance(trigger, dict) and trigger.get("type") == "inject"
        hub = training_hub(cursor)
        if hub is None:
            message = "This training session has ended."
        elif instructing:
            message = instruct(hub, trigger.get("kind"), acting_user(instructor))
        else:
            message = control(hub, trigger, acting_user(who))
        return (no_update, message) if instructing else (message, no_update)

    @app.callback(Output("train-cues", "children"), Input("cursor", "data"))
    def on_cues(cursor: dict) -> list:
        hub = training_hub(cursor)
        if hub is None:
            return []
        into = hub.now() - hub.session.started
        return cue_row(patient_now(hub.session.metadata, into), into)

    @app.callback(Output("play-state", "children"), Output("play-pause", "children"), Input("cursor", "data"))
    def on_play_state(cursor: dict) -> tuple[str, str]:
        hub = training_hub(cursor)
        clock = None if hub is None else playback(hub)
        if hub is None or clock is None:
            return "ENDED", "Pause"
        state = "PAUSED" if clock.paused else f"PLAYING {clock.speed:g}\u00d7"
        into = elapsed_text(clock.now() - hub.session.started).removeprefix("T+")
        return f"{state} · scenario {into}", "Play" if clock.paused else "Pause"

    @app.callback(
        Output("url", "pathname", allow_duplicate=True),
        Output("training-result", "children", allow_duplicate=True),
        Input("end-training", "submit_n_clicks"),
        State("cursor", "data"),
        State("instructor", "value"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_end(confirmed: int | None, cursor: dict, instructor: str | None, who: str | None) -> tuple:
        if not confirmed:
            return no_update, no_update
        session_id = str((cursor or {}).get("session", ""))
        ended, message = end_from_page(store, live, session_id, (instructor or "").strip() or who)
        return (f"/debrief/{session_id}", message) if ended else (no_update, message)

    @app.callback(
        Output("debrief-root", "children"),
        Output("debrief-end-result", "children"),
        Input("debrief-end", "submit_n_clicks"),
        State("debrief-session", "data"),
        State("debrief-who", "value"),
        prevent_initial_call=True,
    )
    def on_debrief_end(confirmed: int | None, session_id: str, who: str | None) -> tuple:
        if not confirmed:
            return no_update, no_update
        ended, message = end_from_page(store, live, str(session_id), who)
        if not ended:
            return no_update, message
        return debrief_children(store, str(session_id), False, message), no_update

    @app.callback(
        Output("debrief-download", "data"),
        Input("debrief-json", "n_clicks"),
        Input("debrief-csv", "n_clicks"),
        State("debrief-session", "data"),
        prevent_initial_call=True,
    )
    def on_export(_j: int, _c: int, session_id: str) -> dict:
        d = debrief(store, session_id)
        if callback_context.triggered_id == "debrief-csv":
            return {"content": d.as_csv(), "filename": f"debrief-{session_id}.csv"}
        return {"content": json.dumps(d.as_dict(), indent=2), "filename": f"debrief-{session_id}.json"}


def instruct(hub: Hub, kind: object, who: str | None) -> str:
    """Carry out an instructor's injection; say (to the instructor) what was injected."""
    if who is None:
        return NEED_INSTRUCTOR
    try:
        return f"Injected: {inject(hub, kind, who)} (the trainee sees only the device's alarm)"
    except ValueError as exc:
        return str(exc)


def control(hub: Hub, trigger: str | dict, who: str | None) -> str:
    """Carry out one playback or trainee control; say what was done. Anything not offered on the page
    (a forged speed, skip or action) is refused with a message and never reaches the clock or the store."""
    clock = playback(hub)
    assert clock is not None
    if trigger == "play-pause":
        clock.resume() if clock.paused else clock.pause()
        return "Paused" if clock.paused else "Playing"
    if not isinstance(trigger, dict):
        return "Unknown control."
    kind = trigger.get("type")
    if kind == "speed":
        try:
            speed = check_speed(trigger.get("x"))
        except TrainingInputError as exc:
            return str(exc)
        clock.set_speed(speed)
        return f"Speed {speed:g}\u00d7"
    if kind == "skip":
        minutes = trigger.get("min")
        if minutes not in SKIPS_MIN or isinstance(minutes, bool):
            return f"Skips are {', '.join(map(str, SKIPS_MIN))} min."
        clock.skip_to(clock.now() + minutes * 60)
        return f"Skipped {minutes} min ahead (everything in between went through the alarm engine)"
    action = trigger.get("action") if kind == "trainee" else None
    if not isinstance(action, str) or action not in TRAINEE_ACTIONS:
        return "Unknown control."
    if who is None:
        return NEED_TRAINEE
    hub.add_event("action", {"action": action}, who)
    return f"{TRAINEE_ACTIONS[action]} recorded for {who}"
