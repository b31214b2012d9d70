"""Training pages: start a scenario or recording (``/training``), the trainer's and trainee's
controls on a training session's live page, and the debrief (``/debrief/<id>``)."""

from __future__ import annotations

import json
from collections.abc import MutableMapping

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from layouts.components import elapsed_text
from monitor.debrief import debrief
from monitor.hub import Hub
from monitor.session import Session
from monitor.store import Store
from monitor.training import INJECTIONS, TRAINEE_ACTIONS, choices, inject, playback, start_training

SPEEDS = (1, 5, 10, 30, 60)
SKIPS_MIN = (1, 5, 10)



def start_page() -> html.Div:
    """Choose a scenario or recording, the trainee and the speed."""
    options = [{"value": v, "label": label} for v, label in choices()]
    return html.Div(className="sessions", children=[
        html.H1("Training"),
        html.P("Replays run through the same alarm engine and live page as a real session and are stored as "
               "training sessions, never mixed with clinical ones.", className="muted"),
        html.Div(className="form-row", children=[
            dcc.Dropdown(id="train-choice", options=options, value=options[0]["value"] if options else None,
                         clearable=False, className="dd wide-dd"),
        ]),
        html.Div(className="form-row", children=[
            html.Label(["Trainee ", dcc.Input(id="train-trainee", placeholder="name", className="txt")]),
            html.Label(["Speed ", dcc.Dropdown(id="train-speed", options=list(SPEEDS), value=10, clearable=False,
                                               className="dd")]),
            html.Button("Start", id="train-start", className="ack", n_clicks=0),
        ]),
        html.Div(id="train-result", className="feedback", **{"aria-live": "polite"}),
    ])


def bar(session: Session) -> html.Div:
    """Playback, instructor and trainee controls shown on a training session's live page."""
    title = session.metadata.get("training", {}).get("title", "Training")
    return html.Div(className="training-bar", children=[
        html.Div(className="form-row", children=[
            html.Strong(f"TRAINING · {title}"),
            html.Span(id="play-state", className="play-state"),
            html.Button("Pause", id="play-pause", className="ack", n_clicks=0),
            *[html.Button(f"{s}\u00d7", id={"type": "speed", "x": s}, className="quick", n_clicks=0) for s in SPEEDS],
            *[html.Button(f"+{m} min", id={"type": "skip", "min": m}, className="quick", n_clicks=0) for m in SKIPS_MIN],
            html.A("End & debrief", href=f"/debrief/{session.id}", id="end-training", className="ack link-button"),
        ]),
        html.Div(className="form-row", children=[
            html.Span("Trainee:", className="muted"),
            *[html.Button(label, id={"type": "trainee", "action": key}, className="quick", n_clicks=0)
              for key, label in TRAINEE_ACTIONS.items()],
            html.Span("Instructor:", className="muted"),
            *[html.Button(label, id={"type": "inject", "kind": key}, className="quick inject", n_clicks=0)
              for key, (label, _) in INJECTIONS.items()],
        ]),
        html.Div(id="training-result", className="feedback", **{"aria-live": "polite"}),
    ])


def debrief_page(store: Store, session_id: str) -> html.Div:
    """Each expectation and the trainee's response, the timeline, and exports."""
    session = store.session(session_id)
    if session is None or session.kind != "training":
        return html.Div(html.H1(f"No training session {session_id}"), className="sessions")
    d = debrief(store, session_id)
    rows = [html.Tr([html.Td(o.id), html.Td(o.what), html.Td(f"{o.due_s / 60:g} min"),
                     html.Td(o.result.upper(), className=f"result-{o.result.replace(' ', '-')}"),
                     html.Td(o.action or ""),
                     html.Td("" if o.response_s is None else f"{o.response_s:.0f} s")]) for o in d.outcomes]
    events = [html.Tr([html.Td(elapsed_text(r.t_s)), html.Td(r.event), html.Td(r.response),
                       html.Td("" if r.response_s is None else f"{r.response_s:.0f} s")]) for r in d.timeline]
    return html.Div(className="sessions debrief", children=[
        html.H1(f"Debrief: {d.title}"),
        html.P(f"Trainee: {d.trainee or 'not named'} · session {session_id} · "
               f"{sum(o.result in ('done', 'avoided') for o in d.outcomes)} of {len(d.outcomes)} expectations met"
               f"{' (the session ended before some were due)' if any(o.result == 'not reached' for o in d.outcomes) else ''}",
               className="muted"),
        html.H2("What the trainee should have done"),
        html.Table([html.Thead(html.Tr([html.Th(h) for h in ("", "Expected", "Due", "Result", "Action", "Response")])),
                    html.Tbody(rows)], className="session-table", id="debrief-outcomes"),
        html.H2("Missed"),
        html.Ul([html.Li(f"{o.id}: {o.what}") for o in d.missed] or [html.Li("Nothing missed")], id="debrief-missed"),
        html.H2("Timeline"),
        html.Table([html.Thead(html.Tr([html.Th(h) for h in ("Time", "Event", "Response", "After")])),
                    html.Tbody(events)], className="session-table"),
        html.Div(className="form-row", children=[
            html.Button("Download JSON", id="debrief-json", className="ack", n_clicks=0),
            html.Button("Download CSV", id="debrief-csv", className="ack", n_clicks=0),
            dcc.Download(id="debrief-download"),
        ]),
        dcc.Store(id="debrief-session", data=session_id),
    ])


def register(app: Dash, store: Store, live: MutableMapping[str, Hub]) -> None:
    """Callbacks for starting training, playback, trainee actions, injections and debrief export."""

    @app.callback(
        Output("url", "pathname"), Output("train-result", "children"),
        Input("train-start", "n_clicks"),
        State("train-choice", "value"), State("train-speed", "value"), State("train-trainee", "value"),
        prevent_initial_call=True,
    )
    def on_start(clicks: int, choice: str | None, speed: float, trainee: str | None) -> tuple:
        if not clicks:
            return no_update, no_update  # the page was drawn, not the button pressed
        if not choice:
            return no_update, "Choose a scenario or recording."
        if not (trainee or "").strip():
            return no_update, "Name the trainee first."
        hub = start_training(store, choice, float(speed), trainee.strip())
        live[hub.session.id] = hub
        return f"/live/{hub.session.id}", f"Started {hub.session.id}"

    def training_hub(cursor: dict) -> Hub | None:
        hub = live.get(cursor["session"])
        if hub is None or hub.finished.is_set() or playback(hub) is None:
            return None
        return hub

    @app.callback(
        Output("training-result", "children"),
        Input("play-pause", "n_clicks"), Input({"type": "speed", "x": ALL}, "n_clicks"),
        Input({"type": "skip", "min": ALL}, "n_clicks"), Input({"type": "trainee", "action": ALL}, "n_clicks"),
        Input({"type": "inject", "kind": ALL}, "n_clicks"),
        State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_control(*args) -> str:
        cursor, who = args[-2], (args[-1] or "").strip()
        trigger = callback_context.triggered_id
        if trigger is None or not callback_context.triggered[0]["value"]:
            return no_update
        hub = training_hub(cursor)
        if hub is None:
            return "This training session has ended."
        return control(hub, trigger, who)

    @app.callback(Output("play-state", "children"), Output("play-pause", "children"), Input("cursor", "data"))
    def on_play_state(cursor: dict) -> tuple[str, str]:
        hub = training_hub(cursor)
        if hub is None:
            return "ENDED", "Pause"
        clock = hub.clock
        state = "PAUSED" if clock.paused else f"PLAYING {clock.speed:g}\u00d7"
        return f"{state} · {elapsed_text(clock.now() - hub.session.started)}", "Play" if clock.paused else "Pause"

    @app.callback(
        Output("debrief-download", "data"),
        Input("debrief-json", "n_clicks"), Input("debrief-csv", "n_clicks"), State("debrief-session", "data"),
        prevent_initial_call=True,
    )
    def on_export(_j: int, _c: int, session_id: str) -> dict:
        d = debrief(store, session_id)
        if callback_context.triggered_id == "debrief-csv":
            return {"content": d.as_csv(), "filename": f"debrief-{session_id}.csv"}
        return {"content": json.dumps(d.as_dict(), indent=2), "filename": f"debrief-{session_id}.json"}


def control(hub: Hub, trigger: str | dict, who: str) -> str:
    """Carry out one playback, trainee or instructor control; say what was done."""
    clock = playback(hub)
    assert clock is not None
    if trigger == "play-pause":
        clock.resume() if clock.paused else clock.pause()
        return "Paused" if clock.paused else "Playing"
    kind = trigger["type"]
    if kind == "speed":
        clock.set_speed(float(trigger["x"]))
        return f"Speed {trigger['x']}\u00d7"
    if kind == "skip":
        clock.skip_to(clock.now() + trigger["min"] * 60)
        return f"Skipped {trigger['min']} min ahead (everything in between went through the alarm engine)"
    if not who:
        return "Enter your name in the Nurse box first."
    if kind == "trainee":
        hub.add_event("action", {"action": trigger["action"]}, who)
        return f"{TRAINEE_ACTIONS[trigger['action']]} recorded for {who}"
    try:
        return f"Injected: {inject(hub, trigger['kind'], who)}"
    except ValueError as exc:
        return str(exc)
