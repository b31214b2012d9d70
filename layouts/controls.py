"""The live page's session panel and the nurse's actions: acknowledge, pause audio, record a dose,
enter a BP by hand, add (and undo) a note. Every action names who did it and goes to the store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from layouts.auth import signed_in_role, signed_in_user
from layouts.components import SYMBOLS, TRENDS, clock_text
from monitor.bedside import manual_bp, mg_per_kg_text
from monitor.alarms import LABELS
from monitor.discharge import engine_readiness
from monitor.hub import Hub
from monitor.dosing import BLOCKED
from monitor.plan import Plan, PlannedLimit
from monitor.record_view import UNVERIFIED
from monitor.session import ROUTES, Dose, Session
from monitor.store import Store
from monitor.users import who_overrides

QUICK_NOTES = ("Nausea", "Vomiting", "Anxiety", "Dissociation", "Intervention given")
AUDIO_PAUSE_S = 120  # real seconds; a session clock running faster (demo, training) is scaled
UNDO_S = 8  # design proposal: real seconds in which a note can be undone (long enough to notice a wrong button)
DRUG_BY_ROUTE = {"intranasal": "esketamine"}


def limit_words(limit_spec: PlannedLimit) -> str:
    """``≥ 180 high``, ``+40 over baseline medium``."""
    limit = limit_spec.limit
    if limit.relative:
        return f"+{limit.threshold:g} over baseline {limit.priority}"
    return f"{SYMBOLS[limit.comparison]} {limit.threshold:g} {limit.priority}"


def limit_summary(limits: Sequence[PlannedLimit]) -> list[str]:
    """One line per vital (vitals with the same limits share a line): ``HR, PR: < 50 medium · > 120 medium``."""
    order = [v for spec in TRENDS.values() for v in spec["vitals"]]
    by_vital: dict[str, list[str]] = {}
    for planned in sorted(limits, key=lambda p: order.index(p.limit.vital) if p.limit.vital in order else len(order)):
        by_vital.setdefault(planned.limit.vital, []).append(limit_words(planned))
    shared: dict[tuple[str, ...], list[str]] = {}
    for vital, words in by_vital.items():
        shared.setdefault(tuple(words), []).append(LABELS.get(vital, vital))
    return [f"{', '.join(vitals)}: {' · '.join(words)}" for words, vitals in shared.items()]


def plan_summary(plan: Plan, outstanding: Sequence, blocked: bool) -> tuple[str, list[str]]:
    """The plan as a short list: dosing state, holds, NIBP cycle, observation, key times, checks, limits."""
    state = "BLOCKED" if blocked else "ON HOLD" if outstanding else "clear to dose"
    lines = [f"Dosing: {state}", *(f"{f.action.upper()}: {f.text}" for f in outstanding)]
    lines += [f"Overridden {o.finding_id} by {o.physician}" for o in plan.overrides]
    lines.append(f"NIBP every {plan.nibp_interval_s / 60:g} min")
    lines.append(f"Observe at least {plan.observation_s / 60:g} min after the last dose")
    lines += [f"{c.message} (\u00b1{c.window_min:g} min)" for c in plan.checkpoints]
    lines += [f"Check: {f.text}" for f in plan.checks]
    lines += limit_summary(plan.limits)
    reviewed = "" if plan.protocol.meta.reviewed_by else " · NOT REVIEWED by a clinician"
    return f"Plan {plan.name} · {state}{reviewed}", lines


def plan_box(hub: Hub | None) -> html.Details:
    """The monitoring plan from screening as a short list, with the reasons and sources behind a toggle."""
    if hub is None:
        return html.Details([html.Summary("Plan: not available (session not live here)")], className="plan")
    decision = hub.decision()
    plan = hub.engine.plan
    title, lines = plan_summary(plan, decision.findings, decision.state == BLOCKED)
    sources = plan.lines(decision.findings)
    return html.Details(className="plan", children=[
        html.Summary(title),
        html.Ul([html.Li(line) for line in lines], className="plan-lines"),
        html.Details([html.Summary("sources"), html.Ul([html.Li(line) for line in sources], className="plan-sources")],
                     className="sources"),
    ])


def discharge_box(hub: Hub, now: float) -> html.Details | html.Div:
    """Discharge readiness: met, or what is still missing (folded; the count says how much)."""
    ready = hub.call(lambda: engine_readiness(hub.engine, now))
    if ready.ready:
        return html.Div("Discharge criteria met (clinician decides)", className="check check-done")
    return html.Details(className="check discharge", **{"data-fold": "discharge"}, children=[
        html.Summary(f"Not ready for discharge ({len(ready.missing)})"),
        html.Ul([html.Li(m) for m in ready.missing]),
    ])


def field(label: str, control: object, wide: bool = False) -> html.Label:
    """A form control with its visible label above it."""
    return html.Label([html.Span(label, className="field-label"), control], className="field" + (" field-wide" if wide else ""))


def feedback(id_: str) -> html.Div:
    return html.Div(id=id_, className="feedback", **{"aria-live": "polite"})


def said(text: str, ok: bool, *extra: object) -> html.Span:
    """A callback's answer to the nurse: green when it was done, red when it was refused."""
    return html.Span([text, *extra], className="said-ok" if ok else "said-error")


def panel(session: Session | None, hub: Hub | None) -> html.Div:
    """Due checks, dose entry, manual NIBP, notes, then the plan and the physician's override."""
    route = session.route if session else "iv"
    return html.Div(className="panel", children=[
        html.Div(id="status", className="status"),
        html.Div(className="actions", children=[
            html.H3("Dose"),
            html.Div(className="form-grid", children=[
                field("Route", dcc.Dropdown(id="dose-route", options=list(ROUTES), value=route, clearable=False,
                                            className="dd")),
                field("Drug", dcc.Input(id="dose-drug", value=DRUG_BY_ROUTE.get(route, "ketamine"), className="txt")),
                field("Dose (mg)", dcc.Input(id="dose-mg", type="number", min=0, placeholder="mg", className="num")),
                field("Infusion (min)", dcc.Input(id="dose-minutes", type="number", min=0, placeholder="bolus",
                                                  value=40 if route == "iv" else None, className="num")),
            ]),
            html.Div(className="form-row", children=[
                html.Div(id="dose-mgkg", className="hint"),
                html.Button("Record dose", id="dose-save", className="ack", n_clicks=0),
            ]),
            feedback("dose-result"),
            html.H3("Manual NIBP"),
            html.Div(className="form-row", children=[
                field("Systolic", dcc.Input(id="bp-sbp", type="number", placeholder="SYS", className="num")),
                html.Span("/", className="slash"),
                field("Diastolic", dcc.Input(id="bp-dbp", type="number", placeholder="DIA", className="num")),
                html.Button("Record BP", id="bp-save", className="ack", n_clicks=0),
            ]),
            feedback("bp-result"),
            html.H3("Notes"),
            html.Div(className="form-row", children=[
                html.Button(text, id={"type": "quick-note", "text": text}, className="quick", n_clicks=0)
                for text in QUICK_NOTES
            ]),
            html.Div(className="form-row", children=[
                field("Note", dcc.Input(id="note-text", placeholder="what happened", className="txt"), wide=True),
                html.Button("Add note", id="note-save", className="ack", n_clicks=0),
            ]),
            feedback("note-result"),
        ]),
        plan_box(hub),
        html.Details(className="override actions", children=[
            html.Summary("Physician override of a block or gate"),
            field("Block or gate", dcc.Dropdown(id="override-finding", options=[], placeholder="open block or gate",
                                                className="dd wide-dd"), wide=True),
            html.Div(className="form-row", children=[
                physician_field(),
                field("Reason", dcc.Input(id="override-reason", placeholder="why it is safe to dose", className="txt"),
                      wide=True),
            ]),
            html.Button("Record override", id="override-save", className="ack", n_clicks=0),
            feedback("override-result"),
        ]),
    ])


def physician_field() -> html.Label:
    """Who overrides: with sign-in on, the signed-in account and its role (only a physician's is accepted);
    else the physician's name, typed (and recorded as unverified)."""
    account = signed_in_user()
    if account is None:
        return field("Physician", dcc.Input(id="override-physician", placeholder="name", className="txt"))
    return field(f"Signed in as {signed_in_role()}", dcc.Input(id="override-physician", value=account, disabled=True,
                                                               className="txt"))


def _who(value: str | None) -> str | None:
    """Who acts: the signed-in user when sign-in is on, else the initials typed in the Nurse box."""
    user = signed_in_user()
    if user is not None:
        return user
    value = (value or "").strip()
    return value or None


NEED_WHO = "Enter your initials in the Nurse box first."


def minutes_seconds(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def pause_audio(hub: Hub, who: str) -> tuple[str, bool]:
    """Pause the audio for AUDIO_PAUSE_S real seconds (session seconds scaled by the clock's speed); say
    for how long it really is paused, which the protocol's longest pause may shorten."""
    speed = hub.clock_speed
    events = hub.pause_audio(who, AUDIO_PAUSE_S * speed)
    paused = next(e for e in events if e.event == "audio_paused")
    until = hub.call(lambda: hub.engine.audio_paused_until)
    real = (until - paused.t) / speed if until is not None else 0.0
    text = f"Audio paused {minutes_seconds(real)} by {who}"
    if real < AUDIO_PAUSE_S - 0.5:
        text += " (the protocol's longest pause)"
    return text, True


def shown_cards(shown: object) -> dict[str, list[str]]:
    """The alarm ids each card showed, as the page sent them back: anything but card -> list of ids is dropped."""
    if not isinstance(shown, dict):
        return {}
    return {key: [i for i in ids if isinstance(i, str)] for key, ids in shown.items() if isinstance(ids, list)}


def acknowledge(hub: Hub, alarm_ids: Sequence[str], who: str) -> tuple[str, bool]:
    """Acknowledge each alarm (each one recorded with who); say how many were."""
    done = [e for alarm_id in alarm_ids for e in hub.acknowledge(alarm_id, who) if e.event == "acknowledged"]
    if not done:
        return "Already acknowledged", True
    return f"Acknowledged {len(done)} alarm{'s' if len(done) > 1 else ''} by {who}", True


def added_note(store: Store, session_id: str, text: str, who: str) -> int | None:
    """The id of the newest note with this text by this person (the one just added)."""
    return next((e.id for e in reversed(store.events(session_id, kind="note"))
                 if e.who == who and e.data.get("text") == text), None)


def undo_note(hub: Hub, store: Store, event_id: object, who: str) -> tuple[str, bool]:
    """Undo a note within UNDO_S real seconds: append a correction naming it (the note itself stays)."""
    sid = hub.session.id
    note = next((e for e in store.events(sid, kind="note") if e.id == event_id), None) if isinstance(event_id, int) else None
    if note is None:
        return "No such note to undo.", False
    if any(e.data.get("corrects") == note.id for e in store.events(sid, kind="correction")):
        return "That note is already undone.", True
    if (hub.now() - note.t) / hub.clock_speed > UNDO_S:
        return f"Too late to undo (more than {UNDO_S} s): the note stands.", False
    hub.add_event("correction", {"corrects": note.id, "kind": "note", "reason": "undone on the live page"}, who)
    return f"Note \u201c{note.data.get('text', '')}\u201d undone by {who}", True


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

    def act(cursor: dict, who: str | None, action: Callable[[Hub, str], tuple[str, bool]]) -> html.Span:
        """Carry out ``action`` as the named person on the live hub and say how it went, or why nobody can act."""
        acting = actor(cursor, who)
        return said(acting, False) if isinstance(acting, str) else said(*action(*acting))

    def clicked() -> bool:
        """Whether a button was pressed (not merely drawn, which also fires pattern-matching inputs)."""
        return callback_context.triggered_id is not None and bool(callback_context.triggered[0]["value"])

    @app.callback(
        Output("ack-result", "children"),
        Input({"type": "ack", "group": ALL}, "n_clicks"), Input("ack-all", "n_clicks"), Input("pause-audio", "n_clicks"),
        State("alarm-shown", "data"), State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_alarm_action(_cards: list[int], _all: int, _pause: int, shown: dict | None, cursor: dict,
                        who: str | None) -> object:
        if not clicked():
            return no_update
        trigger = callback_context.triggered_id
        if trigger == "pause-audio":
            return act(cursor, who, pause_audio)
        cards = shown_cards(shown)
        if trigger == "ack-all":
            ids = [i for group in cards.values() for i in group]
        else:
            ids = cards.get(str(trigger.get("group")), [])
        return act(cursor, who, lambda hub, name: acknowledge(hub, ids, name))

    @app.callback(Output("dose-mgkg", "children"), Input("dose-mg", "value"), State("cursor", "data"))
    def on_mg(mg: float | None, cursor: dict) -> str:
        session = store.session(cursor["session"])
        return mg_per_kg_text(mg, session.weight_kg if session else None)

    @app.callback(
        Output("dose-result", "children"), Output("dose-mg", "value"),
        Input("dose-save", "n_clicks"),
        State("dose-route", "value"), State("dose-drug", "value"), State("dose-mg", "value"),
        State("dose-minutes", "value"), State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_dose(_n: int, route: str, drug: str, mg: float | None, minutes: float | None, cursor: dict,
                who: str | None) -> tuple[object, object]:
        acting = actor(cursor, who)
        if isinstance(acting, str):
            return said(acting, False), no_update
        hub, name = acting
        if mg is None or mg <= 0:
            return said("Enter the dose in mg.", False), no_update
        hold = hub.outstanding()
        if hold:
            reasons = "; ".join(f"{f.action.upper()} {f.text}" for f in hold)
            return said(f"Not recorded: dosing is on hold ({reasons}). A physician must override or acknowledge first.",
                        False), no_update
        now = hub.now()
        end = now + minutes * 60 if minutes else None
        dose = Dose(t=now, route=route, drug=(drug or "ketamine").strip(), mg=float(mg), end=end)
        hub.add_dose(dose, name)
        per_kg = dose.mg_per_kg(hub.session.weight_kg)
        over = f" over {minutes:g} min" if minutes else ""
        return said(f"{dose.drug} {dose.mg:g} mg{over}" + (f" ({per_kg:.2f} mg/kg)" if per_kg else "")
                    + f" recorded by {name} at {clock_text(now)[11:19]}", True), None

    @app.callback(Output("override-finding", "options"), Input("cursor", "data"))
    def on_findings(cursor: dict) -> list[dict]:
        hub = hub_of(cursor)
        if hub is None:
            return []
        return [{"value": f.id, "label": f"{f.action.upper()} {f.id}: {f.text}"} for f in hub.outstanding()]

    @app.callback(
        Output("override-result", "children"), Output("override-physician", "value"), Output("override-reason", "value"),
        Input("override-save", "n_clicks"), State("override-finding", "value"),
        State("override-physician", "value"), State("override-reason", "value"), State("cursor", "data"),
        prevent_initial_call=True,
    )
    def on_override(_n: int, finding: str | None, physician: str | None, reason: str | None,
                    cursor: dict) -> tuple[object, object, object]:
        hub = hub_of(cursor)
        if hub is None:
            return said("This session is not live.", False), no_update, no_update
        if not finding:
            return said("Choose the block or gate.", False), no_update, no_update
        try:
            name, verified = who_overrides(signed_in_user(), signed_in_role(), physician or "")
            event = hub.override(finding, name, reason or "", verified=verified)
        except ValueError as exc:
            return said(f"Not recorded: {exc}.", False), no_update, no_update
        if verified:
            return said(f"Recorded: {event.message}", True), no_update, ""
        return said(f"Recorded: {event.message} \u2014 {UNVERIFIED}", True), "", ""

    @app.callback(
        Output("bp-result", "children"), Output("bp-sbp", "value"), Output("bp-dbp", "value"),
        Input("bp-save", "n_clicks"), State("bp-sbp", "value"), State("bp-dbp", "value"),
        State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_manual_bp(_n: int, sbp: float | None, dbp: float | None, cursor: dict,
                     who: str | None) -> tuple[object, object, object]:
        acting = actor(cursor, who)
        if isinstance(acting, str):
            return said(acting, False), no_update, no_update
        hub, name = acting
        try:
            s, d, m = manual_bp(sbp, dbp, hub.engine.plan.protocol.plausible)
        except ValueError as exc:
            return said(f"Not recorded: {exc}.", False), no_update, no_update
        now = hub.add_manual_bp(s, d, m, name)
        return said(f"BP {s:g}/{d:g} ({m:g}) recorded by {name} at {clock_text(now)[11:19]}", True), None, None

    @app.callback(
        Output("note-result", "children"), Output("note-text", "value"),
        Input({"type": "quick-note", "text": ALL}, "n_clicks"), Input("note-save", "n_clicks"),
        State("note-text", "value"), State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_note(_quick: list[int], _n: int, text: str | None, cursor: dict, who: str | None) -> tuple[object, object]:
        if not clicked():
            return no_update, no_update
        acting = actor(cursor, who)
        if isinstance(acting, str):
            return said(acting, False), no_update
        hub, name = acting
        trigger = callback_context.triggered_id
        note = trigger["text"] if isinstance(trigger, dict) else (text or "").strip()
        if not note:
            return said("Write the note first.", False), no_update
        hub.add_event("note", {"text": note}, name)
        event_id = added_note(store, hub.session.id, note, name)
        undo = html.Button("Undo", id={"type": "undo-note", "event": event_id}, className="quick undo", n_clicks=0,
                           style={"animationDelay": f"{UNDO_S}s"})  # hidden once it can no longer undo
        return said(f"Note \u201c{note}\u201d added by {name} ", True, undo), ""

    @app.callback(
        Output("note-result", "children", allow_duplicate=True),
        Input({"type": "undo-note", "event": ALL}, "n_clicks"), State("cursor", "data"), State("who", "value"),
        prevent_initial_call=True,
    )
    def on_undo(_clicks: list[int], cursor: dict, who: str | None) -> object:
        if not clicked():
            return no_update
        event_id = callback_context.triggered_id["event"]
        return act(cursor, who, lambda hub, name: undo_note(hub, store, event_id, name))
