"""The screening form of the live page: the protocol's screening questions, answered before dosing.

Each question the protocol asks (its screening items' keys and the keys that lift them) is shown in the
vocabulary's words (``devices.screening.QUESTIONS``): yes/no and choices as large radio buttons, numbers
as a text box. The form is prefilled with the session's answers and opens by itself while a question is
unanswered. Saving checks every answer with the validator the screening files use (``parse_answers``),
refusing a bad value with its field named, then re-plans the session (``Hub.rescreen``) recorded with who
answered, and says what changed and what the dosing decision is now.
"""

from __future__ import annotations

from collections.abc import Mapping

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from devices.errors import located
from devices.screening import NUMBER, QUESTIONS, YES_NO, Question, ScreeningError, parse_answers
from layouts.components import wildcards
from layouts.controls import CHECK_THEN_RECORD, actor, clicked, feedback, said
from monitor.analysis.record_view import answer_changes, question_keys
from monitor.rules.holds import hold_text
from monitor.rules.plan import Plan
from monitor.rules.protocol import Protocol
from monitor.session.hub import Hub
from monitor.session.live_view import LiveSnapshot

ANSWER_MAX = 40  # characters: the longest answer the vocabulary has is a word or a number (a form sends no more)
WHERE = "the screening form"


def questions(protocol: Protocol) -> list[Question]:
    """The questions the protocol asks, in its order; a question that lifts an item follows that item."""
    return [QUESTIONS[k] for k in question_keys(protocol)]


def unanswered(plan: Plan) -> list[str]:
    """The keys of the protocol's screening items with no answer (each holds dosing until it has one)."""
    keys = dict.fromkeys(item.key for item in plan.protocol.screening)
    return [k for k in keys if plan.screening.get(k) is None]


def shown_value(question: Question, answer: object) -> str | None:
    """An answer as its control shows it (a choice's answer is already its text)."""
    if answer is None:
        return None if question.kind != NUMBER else ""
    if question.kind == YES_NO:
        return "yes" if answer is True else "no"
    return str(answer)


def control(question: Question, answer: object) -> dcc.Input | dcc.RadioItems:
    """The control for one question, showing ``answer``."""
    id_ = {"type": "screen", "key": question.key}
    value = shown_value(question, answer)
    if question.kind == NUMBER:
        # Dash's Input lists only the older inputmode keywords; browsers take "decimal" (digits and a decimal point)
        return dcc.Input(
            id=id_,
            type="text",
            inputMode="decimal",  # type: ignore[arg-type]
            value=value,
            className="num",
            placeholder=question.unit or "number",
            maxLength=ANSWER_MAX,
        )
    options = [("Yes", "yes"), ("No", "no")] if question.kind == YES_NO else [(c, c) for c in question.choices]
    return dcc.RadioItems(
        id=id_, options=[{"label": label, "value": v} for label, v in options], value=value, inline=True, className="choice"
    )


def form(snap: LiveSnapshot | None) -> html.Details | html.Div:
    """The folded screening form (open while a question is unanswered) as the live read model ``snap`` has the
    plan, or nothing when the session is not live here (None)."""
    if snap is None:
        return html.Div()
    plan = snap.plan
    missing = unanswered(plan)
    rows = [
        html.Div(
            className="question" + (" question-unanswered" if q.key in missing else ""),
            **wildcards({"data-key": q.key}),
            children=[html.Span(q.text, className="question-text"), control(q, plan.screening.get(q.key))],
        )
        for q in questions(plan.protocol)
    ]
    title = f"Screening: {len(missing)} unanswered" if missing else "Screening: answered"
    return html.Details(
        id="screening",
        className="screening actions" + (" screening-missing" if missing else ""),
        open=bool(missing),
        children=[
            html.Summary(title),
            html.Div(rows, className="questions"),
            html.Div(
                className="form-row", children=[html.Button("Save screening", id="screen-save", className="ack", n_clicks=0)]
            ),
            feedback("screen-result"),
        ],
    )


def sent_answers(entries: object) -> dict[object, object]:
    """The answers the page sent, keyed as it named them (a forged request may name anything)."""
    if not isinstance(entries, list):
        return {}
    return {e["id"].get("key"): e.get("value") for e in entries if isinstance(e, dict) and isinstance(e.get("id"), dict)}


def answer_like(value: object) -> bool:
    """Whether a value sent for an answer can be one (so a refusal never repeats a forged megabyte)."""
    return value is None or isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= ANSWER_MAX)


def save(hub: Hub, who: str, raw: Mapping[object, object]) -> tuple[str, bool]:
    """Check the answers sent and re-plan the session with them (recorded with ``who``); say what changed and
    the dosing decision now, or why nothing was saved."""
    odd = next((k for k, v in raw.items() if not answer_like(v)), None)
    if odd is not None:
        why = f"not an answer (a word or a number of at most {ANSWER_MAX} characters)"
        return f"Not saved: {located(WHERE, None, f'screening.{str(odd)[:ANSWER_MAX]}', why)}.", False
    try:
        given = parse_answers(raw, WHERE)
    except ScreeningError as exc:
        return f"Not saved: {exc}.", False
    with CHECK_THEN_RECORD:  # a double click saves once
        before = dict(hub.view.snapshot().plan.screening)  # each save publishes the plan it makes
        after = {**before, **given}
        changed = answer_changes(before, after)
        if not changed:
            return "No change: the answers are as recorded.", True
        decision = hub.rescreen(after, who)
    return f"Screening saved by {who}: {'; '.join(changed)}. {hold_text(decision, hub.view.snapshot().plan)}", True


def register(app: Dash, live: Mapping[str, Hub]) -> None:
    """The screening form's Save."""

    @app.callback(
        Output("screen-result", "children"),
        Input("screen-save", "n_clicks"),
        State({"type": "screen", "key": ALL}, "value"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_save(_n: int, _values: list, cursor: dict, who: object) -> object:
        if not clicked():
            return no_update
        acting = actor(live, cursor, who)
        if isinstance(acting, str):
            return said(acting, False)
        hub, name = acting
        return said(*save(hub, name, sent_answers(callback_context.states_list[0])))
