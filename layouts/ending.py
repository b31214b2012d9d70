"""Ending a running session from a page. Only an explicit action ends a session: a button with a
confirmation dialog, sent as a POST (a Dash callback) carrying who ends it (the signed-in user, or
with sign-in off the name typed on the page; refused without one). The audit log records who and
when before the recorder stops. Opening a page (a GET) never stops anything."""

from __future__ import annotations

import time
from collections.abc import MutableMapping

from dash import Dash, Input, Output, State, dcc, html, no_update
from flask import request

from layouts.auth import acting_user
from layouts.controls import feedback
from monitor.session.hub import Hub
from monitor.session.start import end_session
from monitor.session.store import Store

NEED_NAME = "Not ended: enter your name first (the audit log records who ended the session)."


def end_from_page(store: Store, live: MutableMapping[str, Hub], session_id: str, typed: str | None) -> tuple[bool, str]:
    """End ``session_id`` for whoever acts on this request; (whether it ended, what to tell them)."""
    hub = live.get(session_id)
    if hub is None or hub.finished.is_set():
        return False, "This session is not running."
    who = acting_user(typed)
    if who is None:
        return False, NEED_NAME
    at = end_session(store, hub, who, {"address": request.remote_addr or ""})
    return True, f"Session ended by {who} at {time.strftime('%H:%M:%S', time.localtime(at))}."


def end_button(button_id: str, label: str, message: str) -> dcc.ConfirmDialogProvider:
    """A button that asks ``message`` and, when confirmed, sends the request (``submit_n_clicks``)."""
    return dcc.ConfirmDialogProvider(html.Button(label, className="ack end-session"), id=button_id, message=message)


def clinical_bar(session_id: str) -> html.Div:
    """The live page's End session action for a clinical (or demo) session."""
    return html.Div(
        className="end-bar",
        children=[
            end_button(
                "end-session", "End session", f"End session {session_id}? Recording stops and cannot be restarted in this record."
            ),
            html.Span("Stops the recording; recorded with your name.", className="muted"),
            feedback("end-result"),
        ],
    )


def register(app: Dash, store: Store, live: MutableMapping[str, Hub]) -> None:
    """The live page's End session callback."""

    @app.callback(
        Output("end-result", "children"),
        Input("end-session", "submit_n_clicks"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_end(confirmed: int | None, cursor: dict, who: str | None) -> object:
        if not confirmed:
            return no_update
        session_id = str((cursor or {}).get("session", ""))
        ended, message = end_from_page(store, live, session_id, who)
        if not ended:
            return message
        return [message, " ", html.A("Review the session", href=f"/review/{session_id}")]
