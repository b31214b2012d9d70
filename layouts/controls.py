"""The live page's session panel and the nurse's actions: acknowledge, pause audio, record a dose,
enter a BP by hand, add a note. Every action names who did it and goes to the store."""

from __future__ import annotations

from collections.abc import Mapping

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from layouts.auth import signed_in_user
from layouts.components import clock_text
from monitor.bedside import manual_bp, mg_per_kg_text
from monitor.discharge import engine_readiness
from monitor.hub import Hub
from monitor.session import ROUTES, Dose, Session
from monitor.store import Store

QUICK_NOTES = ("Nausea", "Vomiting", "Anxiety", "Dissociation", "Intervention given")
AUDIO_PAUSE_S = 120
DRUG_BY_ROUTE = {"intranasal": "esketamine"}


def plan_box(hub: Hub | None) -> html.Details:
    """The monitoring plan from screening, in words (why each limit is what it is)."""
    if hub is None:
        return html.Details([html.Summary("Plan: not available (session not live)")], className="plan")
    plan = hub.engine.plan
    lines = plan.lines(hub.outstanding())
    state = lines[1] if len(lines) > 1 else ""
    return html.Details(className="plan", children=[
        html.Summary(f"Plan: {plan.name} · {state}"),
        html.Ul([html.Li(line) for line in lines], className="plan-lines"),
    ])


def discharge_box(hub: Hub, now: float) -> html.Div:
    """Discharge readiness: met, or what is still missing."""
    ready = hub.call(lambda: engine_readiness(hub.engine, now))
    if ready.ready:
        return html.Div("Discharge criteria met (clinician decides)", className="check check-done")
    return html.Div(className="check discharge", children=[
        html.Div("Not ready for discharge:"), html.Ul([html.Li(m) for m in ready.missing]),
    ])


def panel(session: Session | None, hub: Hub | None) -> html.Div:
    """Plan, due checks, dose entry, manual NIBP and notes."""
    route = session.route if session else "iv"
    return html.Div(className="panel", children=[
        html.H2("Session"),
        plan_box(hub),
        html.Div(id="status", className="status"),
        html.Details(className="override", children=[
            html.Summary("Physician override of a block or gate"),
            html.Div(className="form-row", children=[
                dcc.Dropdown(id="override-finding", options=[], placeholder="open block or gate", className="dd wide-dd"),
            ]),
            html.Div(className="form-row", children=[
                dcc.Input(id="override-physician", placeholder="physician's name", className="txt"),
                dcc.Input(id="override-reason", placeholder="reason", className="txt wide"),
                html.Button("Record override", id="override-save", className="ack", n_clicks=0),
            ]),
            html.Div(id="override-result", className="feedback", **{"aria-live": "polite"}),
        ]),
        html.H3("Dose"),
        html.Div(className="form-row", children=[
            dcc.Dropdown(id="dose-route", options=list(ROUTES), value=route, clearable=False, className="dd"),
            dcc.Input(id="dose-drug", value=DRUG_BY_ROUTE.get(route, "ketamine"), className="txt"),
            dcc.Input(id="dose-mg", type="number", min=0, placeholder="mg", className="num"),
            dcc.Input(id="dose-minutes", type="number", min=0, placeholder="infusion min",
                      value=40 if route == "iv" else None, className="num"),
            html.Button("Record dose", id="dose-save", className="ack", n_clicks=0),
        ]),
        html.Div(id="dose-mgkg", className="hint"),
        html.Div(id="dose-result", className="feedback", **{"aria-live": "polite"}),
        html.H3("Manual NIBP"),
        html.Div(className="form-row", children=[
            dcc.Input(id="bp-sbp", type="number", placeholder="SYS", className="num"),
            html.Span("/"),
            dcc.Input(id="bp-dbp", type="number", placeholder="DIA", className="num"),
            html.Button("Record BP", id="bp-save", className="ack", n_clicks=0),
        ]),
        html.Div(id="bp-result", className="feedback", **{"aria-live": "polite"}),
        html.H3("Notes"),
        html.Div(className="form-row", children=[
            html.Button(text, id={"type": "quick-note", "text": text}, className="quick", n_clicks=0)
            for text in QUICK_NOTES
        ]),
        html.Div(className="form-row", children=[
            dcc.Input(id="note-text", placeholder="note", className="txt wide"),
            html.Button("Add note", id="note-save", className="ack", n_clicks=0),
        ]),
        html.Div(id="note-result", className="feedback", **{"aria-live": "polite"}),
    ])


def _who(value: str | None) -> str | None:
    """Who acts: the signed-in user when sign-in is on, else the initials typed in the Nurse box."""
    user = signed_in_user()
    if user is not None:
        return user
    value = (value or "").strip()
    return value or None


NEED_WHO = "Enter your initials in the Nurse box first."


def register(app: Dash, store: Store, live: Mapping[str, Hub]) -> None:
    """Callbacks for the nurse's actions on the live page."""

    def hub_of(cursor: dict) -> Hub | None:
        hub = live.get(cursor["session"])
        return hub if hub is not None and not hub.finished.is_set() else None

    def actor(cursor: dict, who: str | None) -> tuple[Hub, str] | str:
        """The live hub and who is acting, or why nobody can act."""
        hub = hub_of(cursor)
        if hub is None:
            return "This session is not live."
        name = _who(who)
        return NEED_WHO if name is None else (hub, name)

    @app.callback(
        Output("ack-result", "children"),
        Input({"type": "ack", "alarm": ALL}, "n_clicks"), Input("pause-audio", "n_clicks"),
        State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_alarm_action(clicks: list[int], pause: int, cursor: dict, who: str | None) -> str:
        trigger = callback_context.triggered_id
        if trigger is None or not callback_context.triggered[0]["value"]:
            return no_update  # a button (re)rendered, not clicked
        acting = actor(cursor, who)
        if isinstance(acting, str):
            return acting
        hub, name = acting
        if trigger == "pause-audio":
            hub.pause_audio(name, AUDIO_PAUSE_S * 1.0)
            return f"Audio paused {AUDIO_PAUSE_S // 60} min by {name}"
        events = hub.acknowledge(trigger["alarm"], name)
        return f"Acknowledged by {name}" if events else "Already acknowledged"

    @app.callback(Output("dose-mgkg", "children"), Input("dose-mg", "value"), State("cursor", "data"))
    def on_mg(mg: float | None, cursor: dict) -> str:
        session = store.session(cursor["session"])
        return mg_per_kg_text(mg, session.weight_kg if session else None)

    @app.callback(
        Output("dose-result", "children"),
        Input("dose-save", "n_clicks"),
        State("dose-route", "value"), State("dose-drug", "value"), State("dose-mg", "value"),
        State("dose-minutes", "value"), State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_dose(_n: int, route: str, drug: str, mg: float | None, minutes: float | None, cursor: dict,
                who: str | None) -> str:
        acting = actor(cursor, who)
        if isinstance(acting, str):
            return acting
        hub, name = acting
        if mg is None or mg <= 0:
            return "Enter the dose in mg."
        hold = hub.outstanding()
        if hold:
            reasons = "; ".join(f"{f.action.upper()} {f.text}" for f in hold)
            return f"Not recorded: dosing is on hold ({reasons}). A physician must override or acknowledge first."
        now = hub.now()
        end = now + minutes * 60 if minutes else None
        dose = Dose(t=now, route=route, drug=(drug or "ketamine").strip(), mg=float(mg), end=end)
        hub.add_dose(dose, name)
        per_kg = dose.mg_per_kg(hub.session.weight_kg)
        over = f" over {minutes:g} min" if minutes else ""
        return (f"{dose.drug} {dose.mg:g} mg{over}" + (f" ({per_kg:.2f} mg/kg)" if per_kg else "")
                + f" recorded by {name} at {clock_text(now)[11:19]}")

    @app.callback(Output("override-finding", "options"), Input("cursor", "data"))
    def on_findings(cursor: dict) -> list[dict]:
        hub = hub_of(cursor)
        if hub is None:
            return []
        return [{"value": f.id, "label": f"{f.action.upper()} {f.id}: {f.text}"} for f in hub.outstanding()]

    @app.callback(
        Output("override-result", "children"),
        Input("override-save", "n_clicks"), State("override-finding", "value"),
        State("override-physician", "value"), State("override-reason", "value"), State("cursor", "data"),
        prevent_initial_call=True,
    )
    def on_override(_n: int, finding: str | None, physician: str | None, reason: str | None, cursor: dict) -> str:
        hub = hub_of(cursor)
        if hub is None:
            return "This session is not live."
        if not finding:
            return "Choose the block or gate."
        try:
            event = hub.override(finding, physician or "", reason or "")
        except ValueError as exc:
            return f"Not recorded: {exc}."
        return f"Recorded: {event.message}"

    @app.callback(
        Output("bp-result", "children"),
        Input("bp-save", "n_clicks"), State("bp-sbp", "value"), State("bp-dbp", "value"),
        State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_manual_bp(_n: int, sbp: float | None, dbp: float | None, cursor: dict, who: str | None) -> str:
        acting = actor(cursor, who)
        if isinstance(acting, str):
            return acting
        hub, name = acting
        try:
            s, d, m = manual_bp(sbp, dbp)
        except ValueError as exc:
            return f"Not recorded: {exc}."
        now = hub.add_manual_bp(s, d, m, name)
        return f"BP {s:g}/{d:g} ({m:g}) recorded by {name} at {clock_text(now)[11:19]}"

    @app.callback(
        Output("note-result", "children"), Output("note-text", "value"),
        Input({"type": "quick-note", "text": ALL}, "n_clicks"), Input("note-save", "n_clicks"),
        State("note-text", "value"), State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_note(quick: list[int], _n: int, text: str | None, cursor: dict, who: str | None) -> tuple[str, object]:
        trigger = callback_context.triggered_id
        if trigger is None or not callback_context.triggered[0]["value"]:
            return no_update, no_update
        acting = actor(cursor, who)
        if isinstance(acting, str):
            return acting, no_update
        hub, name = acting
        note = trigger["text"] if isinstance(trigger, dict) else (text or "").strip()
        if not note:
            return "Write the note first.", no_update
        hub.add_event("note", {"text": note}, name)
        return f"Note \u201c{note}\u201d added by {name}", ""
