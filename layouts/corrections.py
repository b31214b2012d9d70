"""Entered in error, on the live page: the session's recent doses, notes, hand-taken BPs and charted
observations, each with an "Entered in error" action. Choosing one asks for a reason; confirming appends an
audited correction (``Hub.retract``): the entry stays in the append-only record, and leaves the alarms, the dosing decision,
the summary, the report and the exports. The review shows it struck through with the reason and who."""

from __future__ import annotations

from collections.abc import Mapping

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from devices.patient import observation_problem
from devices.vocabulary import SCALES
from layouts.components import clock_text, pressed_button, relay_presses, wildcards
from layouts.controls import acting_on, clicked, feedback, field, said
from monitor.analysis.record_view import bp_text
from monitor.rules.bedside import REASON_MAX, typed_text
from monitor.session.hub import Hub
from monitor.session.live_view import RECENT_ENTRIES, recent_entries
from monitor.session.store import CORRECTABLE, Store, StoredEvent

NOTE_SHOWN = 40  # characters of a note in the list


def recent(store: Store, session_id: str, limit: int = RECENT_ENTRIES) -> list[StoredEvent]:
    """The newest doses, notes, hand-taken BPs and observations not yet marked entered in error (or undone),
    newest first."""
    entries = [e for kind in CORRECTABLE for e in store.events(session_id, kind=kind)]
    return recent_entries(entries, store.corrections(session_id), limit)


def entry_text(e: StoredEvent) -> str:
    """``10:42:10 dose ketamine 35 mg · RN Li``."""
    if e.kind == "dose":
        mg = e.data.get("mg")
        amount = f"{mg:g} mg" if isinstance(mg, (int, float)) and not isinstance(mg, bool) else "(amount invalid)"
        what = f"dose {str(e.data.get('drug', ''))[:NOTE_SHOWN]} {amount}"
    elif e.kind == "manual_nibp":
        what = f"BP {bp_text(e.data)}"
    elif e.kind == "observation":
        what = observation_text(e.data)
    else:
        text = str(e.data.get("text", ""))
        what = "note \u201c" + (text if len(text) <= NOTE_SHOWN else text[: NOTE_SHOWN - 1] + "\u2026") + "\u201d"
    return f"{clock_text(e.t)[11:19]} {what}" + (f" \u00b7 {e.who}" if e.who else "")


def observation_text(data: Mapping) -> str:
    """``MOAA/S 2 (responds only to mild prodding or shaking)``; a row another program wrote with a scale or level
    kapmon does not know is shown as such, never as a level."""
    scale, level = data.get("scale"), data.get("level")
    if observation_problem(scale, level) is not None:
        return f"observation (invalid: {str(scale)[:20]} {str(level)[:10]})"
    spec = SCALES[str(scale)]
    return f"{spec.label} {level:g} ({spec.words(int(level))})"  # type: ignore[arg-type]


def listing(entries: list[StoredEvent]) -> list:
    """One row per entry, with its "Entered in error" button."""
    if not entries:
        return [html.P("No doses, notes, hand-taken BPs or observations yet.", className="muted")]
    return [
        html.Div(
            className="entry",
            **wildcards({"data-event": str(e.id)}),
            children=[
                html.Span(entry_text(e), className="entry-text"),
                html.Button("Entered in error", id={"type": "error-pick", "event": e.id}, className="quick", n_clicks=0),
            ],
        )
        for e in entries
    ]


def section() -> html.Div:
    """The recent entries (filled by the page's tick) and the form that asks why one is wrong."""
    return html.Div(
        className="entries",
        children=[
            html.H3("Recent entries"),
            html.Div(id="entries", className="entry-list"),
            dcc.Store(id="error-chosen"),
            dcc.Store(id="error-pressed"),
            html.Div(
                id="error-form",
                className="order",
                hidden=True,
                children=[
                    html.Div(id="error-prompt", className="order-head"),
                    html.Div(
                        className="form-row",
                        children=[
                            field(
                                "Reason",
                                dcc.Input(id="error-reason", placeholder="what was wrong", className="txt", maxLength=REASON_MAX),
                                wide=True,
                            )
                        ],
                    ),
                    html.Div(
                        className="form-row",
                        children=[
                            html.Button("Mark entered in error", id="error-save", className="ack", n_clicks=0),
                            html.Button("Cancel", id="error-cancel", className="quick", n_clicks=0),
                        ],
                    ),
                ],
            ),
            feedback("error-result"),
        ],
    )


def chosen_entry(store: Store, session_id: str, event_id: object) -> StoredEvent | None:
    """The listed entry ``event_id`` names in this session (anything else a forged request sends is None)."""
    if isinstance(event_id, bool) or not isinstance(event_id, int):
        return None
    return next((e for e in recent(store, session_id, limit=10**6) if e.id == event_id), None)


def retract(hub: Hub, who: str, event_id: object, reason: object) -> tuple[str, bool]:
    """Mark the entry entered in error with the reason given; say what was done, or why not."""
    try:
        why = typed_text(reason, "the reason", REASON_MAX)
    except ValueError as exc:
        return f"Not marked: {exc}.", False
    if not why:
        return "Not marked: write why the entry is wrong first.", False
    if isinstance(event_id, bool) or not isinstance(event_id, int):
        return "Not marked: choose an entry first.", False
    try:
        return f"{hub.retract(event_id, why, who)}: {why}", True
    except ValueError as exc:
        return f"Not marked: {exc}.", False


def register(app: Dash, store: Store, live: Mapping[str, Hub]) -> None:
    """Choose an entry (or cancel), then confirm it was entered in error."""

    @app.callback(
        Output("error-chosen", "data"),
        Output("error-form", "hidden"),
        Output("error-prompt", "children"),
        Input("error-pressed", "data"),
        Input("error-cancel", "n_clicks"),
        State("cursor", "data"),
        prevent_initial_call=True,
    )
    def on_pick(pressed: object, _cancel: int, cursor: dict) -> tuple:
        if not clicked():
            return no_update, no_update, no_update
        button = pressed_button(pressed) if callback_context.triggered_id == "error-pressed" else None
        session = cursor.get("session") if isinstance(cursor, dict) else None
        entry = chosen_entry(store, session, button.get("event")) if button is not None and isinstance(session, str) else None
        if entry is None:
            return None, True, ""
        return entry.id, False, f"Mark entered in error: {entry_text(entry)}"

    relay_presses(app, {"type": "error-pick", "event": ALL}, "error-pressed")  # the entries are redrawn as they change

    @app.callback(
        Output("error-result", "children"),
        Output("error-chosen", "data", allow_duplicate=True),
        Output("error-form", "hidden", allow_duplicate=True),
        Output("error-reason", "value"),
        Input("error-save", "n_clicks"),
        State("error-chosen", "data"),
        State("error-reason", "value"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_retract(_n: int, event_id: object, reason: object, cursor: dict, who: object) -> tuple:
        def mark(hub: Hub, name: str) -> tuple:
            text, ok = retract(hub, name, event_id, reason)
            if ok:
                return said(text, True), None, True, ""
            return said(text, False), no_update, no_update, no_update

        return acting_on(live, cursor, who, 4, mark)
