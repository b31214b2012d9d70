"""The live page's session panel and the nurse's actions: acknowledge, pause audio, record a dose
(checked: its values, the dosing decision, a repeat, the protocol's bounds unless a physician orders it),
enter a BP by hand, add (and undo) a note, discharge the patient. Every action names who did it and goes
to the store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update
from dash.development.base_component import Component

from devices.patient import LOT_MAX
from devices.vocabulary import default_drug
from layouts.auth import signed_in_role, signed_in_user
from layouts.components import SYMBOLS, TRENDS, clock_text, pressed_button, relay_presses, wildcards
from monitor.analysis.record_view import UNVERIFIED
from monitor.auth.users import who_overrides
from monitor.rules.alarm_groups import LABELS
from monitor.rules.bedside import (
    PREDISCHARGE_BP_S,
    dose_entry,
    manual_bp,
    mg_per_kg_text,
    physician_order,
    predischarge_bp_due,
    typed_name,
)
from monitor.rules.dosing import BLOCKED, CLEAR
from monitor.rules.holds import hold_text
from monitor.rules.plan import Plan, PlannedLimit
from monitor.session.dose_rows import DoseRow, dose_rows
from monitor.session.hub import Hub
from monitor.session.live_view import LiveSnapshot
from monitor.session.model import Session
from monitor.session.store import Store, StoredEvent

QUICK_NOTES = ("Nausea", "Vomiting", "Anxiety", "Intervention given")  # dissociation is charted on its scale
AUDIO_PAUSE_S = 120  # real seconds; a session clock running faster (demo, training) is scaled
UNDO_S = 8  # design proposal: real seconds in which a note can be undone (long enough to notice a wrong button)
REPEAT = "repeat"  # the value of the dose form's "repeat dose" tick
# A dose, a discharge or screening answers are checked against what is recorded, then recorded: one at a
# time, so a double click (two requests at once) cannot both pass the check and record twice.
CHECK_THEN_RECORD = threading.Lock()


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


def plan_box(snap: LiveSnapshot | None) -> html.Details:
    """The monitoring plan from screening as a short list, with the reasons and sources behind a toggle, as the
    live read model ``snap`` has it (its plan and dosing decision)."""
    if snap is None:
        return html.Details([html.Summary("Plan: not available (session not live here)")], className="plan")
    decision, plan = snap.decision, snap.plan
    title, lines = plan_summary(plan, decision.findings, decision.state == BLOCKED)
    sources = plan.lines(decision.findings)
    return html.Details(
        className="plan",
        **wildcards({"data-fold": "plan"}),
        children=[  # redrawn when the plan changes
            html.Summary(title),
            html.Ul([html.Li(line) for line in lines], className="plan-lines"),
            html.Details(
                [html.Summary("sources"), html.Ul([html.Li(line) for line in sources], className="plan-sources")],
                className="sources",
                **wildcards({"data-fold": "plan-sources"}),
            ),
        ],
    )


def discharge_box(snap: LiveSnapshot, now: float) -> list:
    """Discharge: when it was recorded, or readiness (met, or what is still missing, folded; the count says how
    much) and a reminder to take a BP before discharge when none was taken in the last 15 min."""
    done = snap.discharged
    if done is not None:
        return [html.Div(f"Discharged at {clock_text(done.t)[11:16]} by {done.who or '?'}", className="check check-done")]
    ready = snap.readiness(now)
    last_bp = snap.nibp[-1] if snap.nibp else None
    out: list = []
    if predischarge_bp_due(now, snap.observation_left(now), last_bp, False, snap.rules_first_dose is not None):
        last = f" (last at {clock_text(last_bp)[11:16]})" if last_bp is not None else ""
        out.append(
            html.Div(
                f"Take a BP before discharge: none in the last {PREDISCHARGE_BP_S / 60:g} min{last}",
                className="check check-due-now predischarge-bp",
            )
        )
    if ready.ready:
        return [*out, html.Div("Discharge criteria met (clinician decides)", className="check check-done")]
    return [
        *out,
        html.Details(
            className="check discharge",
            **wildcards({"data-fold": "discharge"}),
            children=[
                html.Summary(f"Not ready for discharge ({len(ready.missing)})"),
                html.Ul([html.Li(m) for m in ready.missing]),
            ],
        ),
    ]


def discharged(store: Store, session_id: str) -> StoredEvent | None:
    """The session's recorded discharge, if any."""
    return next(iter(store.events(session_id, kind="discharge")), None)


def field(label: str, control: Component, wide: bool = False) -> html.Label:
    """A form control with its visible label above it."""
    return html.Label([html.Span(label, className="field-label"), control], className="field" + (" field-wide" if wide else ""))


def feedback(id_: str) -> html.Div:
    return html.Div(id=id_, className="feedback", **wildcards({"aria-live": "polite"}))


def said(text: str, ok: bool, *extra: Component) -> html.Span:
    """A callback's answer to the nurse: green when it was done, red when it was refused."""
    return html.Span([text, *extra], className="said-ok" if ok else "said-error")


def order_fields(prefix: str, summary: str) -> html.Div:
    """A physician's order (name and reason), shown once the page asks for one."""
    return html.Div(
        id=f"{prefix}-order",
        className="order",
        hidden=True,
        children=[
            html.Div(summary, className="order-head"),
            html.Div(
                className="form-row",
                children=[
                    field("Physician", dcc.Input(id=f"{prefix}-physician", placeholder="name", className="txt")),
                    field("Reason", dcc.Input(id=f"{prefix}-order-reason", placeholder="why", className="txt"), wide=True),
                ],
            ),
        ],
    )


def panel(
    session: Session | None, snap: LiveSnapshot | None, screening: Component | None = None, entries: Component | None = None
) -> html.Div:
    """Due checks, the ``screening`` form, dose entry, manual NIBP, notes, the recent ``entries`` (to mark
    entered in error), discharge, then the plan and the physician's override."""
    route = session.route if session else "iv"
    return html.Div(
        className="panel",
        children=[
            html.Div(id="status", className="status"),
            screening or html.Div(),
            html.Div(
                className="actions",
                children=[
                    html.H3("Dose"),
                    html.Div(
                        className="form-grid",
                        children=[
                            field(
                                "Route",
                                dcc.Dropdown(
                                    id="dose-route", options=[route], value=route, clearable=False, disabled=True, className="dd"
                                ),
                            ),
                            field("Drug", dcc.Input(id="dose-drug", value=default_drug(route), className="txt", maxLength=80)),
                            field("Dose (mg)", dcc.Input(id="dose-mg", type="number", min=0, placeholder="mg", className="num")),
                            field(
                                "Infusion (min)",
                                dcc.Input(
                                    id="dose-minutes",
                                    type="number",
                                    min=0,
                                    placeholder="bolus",
                                    value=40 if route == "iv" else None,
                                    className="num",
                                ),
                            ),
                            field("Lot", dcc.Input(id="dose-lot", placeholder="lot no.", className="txt", maxLength=LOT_MAX)),
                        ],
                    ),
                    html.Div(
                        className="form-row",
                        children=[
                            html.Div(id="dose-mgkg", className="hint"),
                            dcc.Checklist(
                                id="dose-repeat",
                                options=[{"label": " Repeat dose", "value": REPEAT}],
                                value=[],
                                className="repeat",
                            ),
                            html.Button("Record dose", id="dose-save", className="ack", n_clicks=0),
                        ],
                    ),
                    order_fields("dose", "Outside the protocol's bounds: only on a physician's order"),
                    feedback("dose-result"),
                    html.H3("Manual NIBP"),
                    html.Div(
                        className="form-row",
                        children=[
                            field("Systolic", dcc.Input(id="bp-sbp", type="number", placeholder="SYS", className="num")),
                            html.Span("/", className="slash"),
                            field("Diastolic", dcc.Input(id="bp-dbp", type="number", placeholder="DIA", className="num")),
                            html.Button("Record BP", id="bp-save", className="ack", n_clicks=0),
                        ],
                    ),
                    feedback("bp-result"),
                    html.H3("Notes"),
                    html.Div(
                        className="form-row",
                        children=[
                            html.Button(text, id={"type": "quick-note", "text": text}, className="quick", n_clicks=0)
                            for text in QUICK_NOTES
                        ],
                    ),
                    html.Div(
                        className="form-row",
                        children=[
                            field("Note", dcc.Input(id="note-text", placeholder="what happened", className="txt"), wide=True),
                            html.Button("Add note", id="note-save", className="ack", n_clicks=0),
                        ],
                    ),
                    feedback("note-result"),
                    entries or html.Div(),
                    html.H3("Discharge"),
                    html.Div(
                        className="form-row",
                        children=[
                            html.Button("Discharge patient", id="discharge-save", className="ack", n_clicks=0),
                        ],
                    ),
                    order_fields("discharge", "Before the minimum observation: only on a physician's order"),
                    feedback("discharge-result"),
                ],
            ),
            html.Div(plan_box(snap), id="plan-box"),
            html.Details(
                className="override actions",
                children=[
                    html.Summary("Physician override of a block or gate"),
                    field(
                        "Block or gate",
                        dcc.Dropdown(id="override-finding", options=[], placeholder="open block or gate", className="dd wide-dd"),
                        wide=True,
                    ),
                    html.Div(
                        className="form-row",
                        children=[
                            physician_field(),
                            field(
                                "Reason",
                                dcc.Input(id="override-reason", placeholder="why it is safe to dose", className="txt"),
                                wide=True,
                            ),
                        ],
                    ),
                    html.Button("Record override", id="override-save", className="ack", n_clicks=0),
                    feedback("override-result"),
                ],
            ),
        ],
    )


def _who(value: object) -> str | None:
    """Who acts: the signed-in user when sign-in is on, else the initials typed in the Nurse box
    (``ValueError`` when that is not a short text)."""
    user = signed_in_user()
    if user is not None:
        return user
    return typed_name(value, "the Nurse box")


NEED_WHO = "Enter your initials in the Nurse box first."


def live_hub(live: Mapping[str, Hub], cursor: object) -> Hub | None:
    """The running hub of the page's session (named by its cursor), or None."""
    session = cursor.get("session") if isinstance(cursor, dict) else None
    hub = live.get(session) if isinstance(session, str) else None
    return hub if hub is not None and not hub.finished.is_set() else None


def actor(live: Mapping[str, Hub], cursor: object, who: object) -> tuple[Hub, str] | str:
    """The live hub and who is acting, or why nobody can act."""
    hub = live_hub(live, cursor)
    if hub is None:
        return "This session is not live."
    try:
        name = _who(who)
    except ValueError as exc:
        return f"Not done: {exc}."
    return NEED_WHO if name is None else (hub, name)


def acting_on(live: Mapping[str, Hub], cursor: object, who: object, outputs: int, action: Callable[[Hub, str], tuple]) -> tuple:
    """``action(hub, name)``'s outputs as the acting person; when nobody can act, why in the first of the
    callback's ``outputs`` and nothing else changed."""
    acting = actor(live, cursor, who)
    if isinstance(acting, str):
        return (said(acting, False), *[no_update] * (outputs - 1))
    return action(*acting)


def clicked() -> bool:
    """Whether a button was pressed (not merely drawn, which also fires pattern-matching inputs)."""
    return callback_context.triggered_id is not None and bool(callback_context.triggered[0]["value"])


def minutes_seconds(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def physician_field() -> html.Label:
    """Who overrides: with sign-in on, the signed-in account and its role (only a physician's is accepted);
    else the physician's name, typed (and recorded as unverified)."""
    account = signed_in_user()
    if account is None:
        return field("Physician", dcc.Input(id="override-physician", placeholder="name", className="txt"))
    return field(
        f"Signed in as {signed_in_role()}", dcc.Input(id="override-physician", value=account, disabled=True, className="txt")
    )


def pause_audio(hub: Hub, who: str) -> tuple[str, bool]:
    """Pause the audio for AUDIO_PAUSE_S real seconds (session seconds scaled by the clock's speed); say
    for how long it really is paused, which the protocol's longest pause may shorten."""
    speed = hub.clock_speed
    events = hub.pause_audio(who, AUDIO_PAUSE_S * speed)
    paused = next(e for e in events if e.event == "audio_paused")
    until = hub.view.snapshot().paused_until  # published by the pause itself
    real = (until - paused.t) / speed if until is not None else 0.0
    text = f"Audio paused {minutes_seconds(real)} by {who}"
    if real < AUDIO_PAUSE_S - 0.5:
        text += " (the protocol's longest pause)"
    return text, True


def earlier_doses(store: Store, session_id: str) -> list[DoseRow]:
    """The doses recorded so far in the session (not those marked entered in error)."""
    corrected = store.corrections(session_id)
    return dose_rows(e for e in store.events(session_id, kind="dose") if e.id not in corrected)


def dose_words(row: DoseRow) -> str:
    """``ketamine 35 mg at 10:42:10 by RN Li``."""
    amount = "?" if row.mg is None else f"{row.mg:g}"
    return f"{row.drug or 'dose'} {amount} mg at {clock_text(row.t)[11:19]}" + (f" by {row.who}" if row.who else "")


@dataclass(frozen=True, slots=True)
class DoseForm:
    """What the dose form sent, unchecked (a forged request may send anything)."""

    route: object
    drug: object
    mg: object
    minutes: object
    repeat: object = None
    physician: object = None
    reason: object = None
    lot: object = None


def give_dose(hub: Hub, store: Store, who: str, form: DoseForm) -> tuple[str, bool, bool]:
    """Record the dose entered, or say why not: (what to tell the nurse, whether it was recorded, whether to
    ask for a physician's order). Refused: a value that is not a dose (nothing is stored), dosing not clear
    (the banner's words), a repeat dose not confirmed, a dose outside the protocol's bounds without a
    physician's order."""
    with CHECK_THEN_RECORD:
        return _give_dose(hub, store, who, form)


def _give_dose(hub: Hub, store: Store, who: str, form: DoseForm) -> tuple[str, bool, bool]:
    try:
        dose = dose_entry(hub.now(), form.route, form.drug, form.mg, form.minutes, hub.session.route, form.lot)
        order = physician_order(form.physician, form.reason)
    except ValueError as exc:
        return f"Not recorded: {exc}.", False, False
    decision = hub.decision()
    if decision.state != CLEAR:
        return f"Not recorded: {hold_text(decision, hub.view.snapshot().plan)}.", False, False
    earlier = earlier_doses(store, hub.session.id)
    if earlier and not (isinstance(form.repeat, list) and REPEAT in form.repeat):
        given = "; ".join(dose_words(d) for d in earlier)
        return (
            f'Not recorded: a dose is already recorded this session ({given}). Tick "Repeat dose" to record another.',
            False,
            False,
        )
    problems = hub.dose_problems(dose)
    if problems and order is None:
        return (
            (
                "Not recorded: " + "; ".join(p.text for p in problems) + ". Outside the protocol a dose needs a "
                "physician's order: enter the physician and the reason, then Record dose again."
            ),
            False,
            True,
        )
    hub.add_dose(dose, who, ordered_by=order if problems else None)
    per_kg = dose.mg_per_kg(hub.session.weight_kg)
    over = f" over {(dose.end - dose.t) / 60:g} min" if dose.end is not None else ""
    ordered = f" on the order of {order[0]} (outside the protocol; recorded)" if problems and order else ""
    return (
        (
            f"{dose.drug} {dose.mg:g} mg{over}"
            + (f" ({per_kg:.2f} mg/kg)" if per_kg else "")
            + (f", lot {dose.lot}," if dose.lot else "")
            + f" recorded by {who} at {clock_text(dose.t)[11:19]}{ordered}"
        ),
        True,
        False,
    )


def discharge(hub: Hub, store: Store, who: str, physician: object, reason: object) -> tuple[str, bool, bool]:
    """Record the patient's discharge, or say why not: (what to tell the nurse, whether it was recorded, whether
    to ask for a physician's order). Before the minimum observation only on a physician's order."""
    with CHECK_THEN_RECORD:
        return _discharge(hub, store, who, physician, reason)


def _discharge(hub: Hub, store: Store, who: str, physician: object, reason: object) -> tuple[str, bool, bool]:
    try:
        order = physician_order(physician, reason)
    except ValueError as exc:
        return f"Not discharged: {exc}.", False, True
    done = discharged(store, hub.session.id)
    if done is not None:
        return f"Already discharged at {clock_text(done.t)[11:19]} by {done.who or '?'}.", False, False
    early = hub.observation_left(hub.now()) > 0
    try:
        said_ = hub.discharge(who, order)
    except ValueError as exc:
        return f"Not discharged: {exc}.", False, True
    last_bp = store.latest(hub.session.id, "sbp")
    reminder = (
        ""
        if last_bp is not None and hub.now() - last_bp.t <= PREDISCHARGE_BP_S
        else (f" No BP in the last {PREDISCHARGE_BP_S / 60:g} min: take one now (the REMS form asks for a pre-discharge BP).")
    )
    ordered = f" before the minimum observation, on the order of {order[0]} (recorded)" if early and order else ""
    return f"Patient {said_}{ordered}.{reminder}", True, False


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
    return next(
        (e.id for e in reversed(store.events(session_id, kind="note")) if e.who == who and e.data.get("text") == text), None
    )


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


def finding_options(snap: LiveSnapshot | None) -> list[dict[str, str]]:
    """The physician's override choices: the open blocks and gates as the live read model last published them
    (drawn by the page's tick; none for a session not recorded here)."""
    findings = snap.decision.findings if snap is not None else ()
    return [{"value": f.id, "label": f"{f.action.upper()} {f.id}: {f.text}"} for f in findings]


def register(app: Dash, store: Store, live: Mapping[str, Hub]) -> None:
    """Callbacks for the nurse's actions on the live page."""

    def hub_of(cursor: dict) -> Hub | None:
        return live_hub(live, cursor)

    def act(cursor: dict, who: str | None, action: Callable[[Hub, str], tuple[str, bool]]) -> html.Span:
        """Carry out ``action`` as the named person on the live hub and say how it went, or why nobody can act."""
        acting = actor(live, cursor, who)
        return said(acting, False) if isinstance(acting, str) else said(*action(*acting))

    @app.callback(
        Output("ack-result", "children"),
        Input("ack-pressed", "data"),
        Input("ack-all", "n_clicks"),
        Input("pause-audio", "n_clicks"),
        State("alarm-shown", "data"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_alarm_action(pressed: object, _all: int, _pause: int, shown: dict | None, cursor: dict, who: str | None) -> object:
        if not clicked():
            return no_update
        trigger = callback_context.triggered_id
        if trigger == "pause-audio":
            return act(cursor, who, pause_audio)
        cards = shown_cards(shown)
        if trigger == "ack-all":
            ids = [i for group in cards.values() for i in group]
        else:
            card = pressed_button(pressed) or {}
            ids = cards.get(str(card.get("group")), [])
        return act(cursor, who, lambda hub, name: acknowledge(hub, ids, name))

    relay_presses(app, {"type": "ack", "group": ALL}, "ack-pressed")  # the cards are redrawn as alarms change

    @app.callback(Output("dose-mgkg", "children"), Input("dose-mg", "value"), State("cursor", "data"))
    def on_mg(mg: object, cursor: dict) -> str:
        session = store.session(str(cursor.get("session"))) if isinstance(cursor, dict) else None
        return mg_per_kg_text(mg, session.weight_kg if session else None)

    @app.callback(
        Output("dose-result", "children"),
        Output("dose-mg", "value"),
        Output("dose-repeat", "value"),
        Output("dose-order", "hidden"),
        Output("dose-physician", "value"),
        Output("dose-order-reason", "value"),
        Input("dose-save", "n_clicks"),
        State("dose-route", "value"),
        State("dose-drug", "value"),
        State("dose-mg", "value"),
        State("dose-minutes", "value"),
        State("dose-repeat", "value"),
        State("dose-physician", "value"),
        State("dose-order-reason", "value"),
        State("dose-lot", "value"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_dose(
        _n: int,
        route: object,
        drug: object,
        mg: object,
        minutes: object,
        repeat: object,
        physician: object,
        reason: object,
        lot: object,
        cursor: dict,
        who: object,
    ) -> tuple:
        def dose(hub: Hub, name: str) -> tuple:
            text, ok, ask = give_dose(hub, store, name, DoseForm(route, drug, mg, minutes, repeat, physician, reason, lot))
            if ok:
                return said(text, True), None, [], True, "", ""
            return said(text, False), no_update, no_update, False if ask else no_update, no_update, no_update

        return acting_on(live, cursor, who, 6, dose)

    @app.callback(
        Output("discharge-result", "children"),
        Output("discharge-order", "hidden"),
        Output("discharge-physician", "value"),
        Output("discharge-order-reason", "value"),
        Input("discharge-save", "n_clicks"),
        State("discharge-physician", "value"),
        State("discharge-order-reason", "value"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_discharge(_n: int, physician: object, reason: object, cursor: dict, who: object) -> tuple:
        def leave(hub: Hub, name: str) -> tuple:
            text, ok, ask = discharge(hub, store, name, physician, reason)
            if ok:
                return said(text, True), True, "", ""
            return said(text, False), False if ask else no_update, no_update, no_update

        return acting_on(live, cursor, who, 4, leave)

    @app.callback(
        Output("override-result", "children"),
        Output("override-physician", "value"),
        Output("override-reason", "value"),
        Input("override-save", "n_clicks"),
        State("override-finding", "value"),
        State("override-physician", "value"),
        State("override-reason", "value"),
        State("cursor", "data"),
        prevent_initial_call=True,
    )
    def on_override(
        _n: int, finding: str | None, physician: str | None, reason: str | None, cursor: dict
    ) -> tuple[object, object, object]:
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
        Output("bp-result", "children"),
        Output("bp-sbp", "value"),
        Output("bp-dbp", "value"),
        Input("bp-save", "n_clicks"),
        State("bp-sbp", "value"),
        State("bp-dbp", "value"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_manual_bp(
        _n: int, sbp: float | None, dbp: float | None, cursor: dict, who: str | None
    ) -> tuple[object, object, object]:
        acting = actor(live, cursor, who)
        if isinstance(acting, str):
            return said(acting, False), no_update, no_update
        hub, name = acting
        try:
            s, d, m = manual_bp(sbp, dbp, hub.view.snapshot().plan.protocol.plausible)
        except ValueError as exc:
            return said(f"Not recorded: {exc}.", False), no_update, no_update
        now = hub.add_manual_bp(s, d, m, name)
        return said(f"BP {s:g}/{d:g} ({m:g}) recorded by {name} at {clock_text(now)[11:19]}", True), None, None

    @app.callback(
        Output("note-result", "children"),
        Output("note-text", "value"),
        Input({"type": "quick-note", "text": ALL}, "n_clicks"),
        Input("note-save", "n_clicks"),
        State("note-text", "value"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_note(_quick: list[int], _n: int, text: str | None, cursor: dict, who: str | None) -> tuple[object, object]:
        if not clicked():
            return no_update, no_update
        acting = actor(live, cursor, who)
        if isinstance(acting, str):
            return said(acting, False), no_update
        hub, name = acting
        trigger = callback_context.triggered_id
        note = trigger["text"] if isinstance(trigger, dict) else (text or "").strip()
        if not note:
            return said("Write the note first.", False), no_update
        hub.add_event("note", {"text": note}, name)
        event_id = added_note(store, hub.session.id, note, name)
        undo = html.Button(
            "Undo",
            id={"type": "undo-note", "event": event_id},
            className="quick undo",
            n_clicks=0,
            style={"animationDelay": f"{UNDO_S}s"},
        )  # hidden once it can no longer undo
        return said(f"Note \u201c{note}\u201d added by {name} ", True, undo), ""

    @app.callback(
        Output("note-result", "children", allow_duplicate=True),
        Input({"type": "undo-note", "event": ALL}, "n_clicks"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_undo(_clicks: list[int], cursor: dict, who: str | None) -> object:
        if not clicked():
            return no_update
        event_id = callback_context.triggered_id["event"]
        return act(cursor, who, lambda hub, name: undo_note(hub, store, event_id, name))
