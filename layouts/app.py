"""The Dash app factory: routes ``/`` (sessions), ``/live/<id>`` (live page), ``/review/<id>`` (review
page), ``/training`` (start a training session) and ``/debrief/<id>`` (a training session's debrief), and
the live pages' push channel ``/push/<id>`` (a WebSocket).

Routing only draws pages: opening any of them (a GET) never changes a session. Ending a session is
an explicit, confirmed and audited action on the page (``layouts.ending``)."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

from dash import Dash, Input, Output, dcc, html

from layouts import ending
from layouts import live as live_page
from layouts import push as push_channel
from layouts import review as review_page
from layouts import sessions as sessions_page
from layouts import training as training_page
from monitor.session.hub import Hub
from monitor.session.store import Store
from monitor.training.library import SAMPLE_RECORDINGS


def create_app(
    store: Store,
    live: MutableMapping[str, Hub] | None = None,
    recordings: Path | None = SAMPLE_RECORDINGS,
    push: bool = True,
) -> Dash:
    """A Dash app over ``store``; ``live`` maps session ids to running hubs (training adds to it);
    ``recordings`` is the only folder whose recordings the training page may start. With ``push`` (the
    default) live pages tick as soon as their session has news (``layouts.push``); without, they only poll."""
    hubs: MutableMapping[str, Hub] = live if live is not None else {}
    app = Dash(
        __name__,
        title="kapmon",
        serve_locally=True,
        suppress_callback_exceptions=True,
        update_title="",  # the tab keeps its title while callbacks run (Dash takes "" or None)
    )
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")], className="app")

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: str | None) -> html.Div:
        path = (pathname or "/").rstrip("/")
        if path.startswith("/live/"):
            session_id = path.removeprefix("/live/")
            return live_page.layout(session_id, hubs.get(session_id), store, push)
        if path.startswith("/review/"):
            return review_page.layout(store, path.removeprefix("/review/"))
        if path == "/training":
            return training_page.start_page(recordings)
        if path.startswith("/debrief/"):
            return training_page.debrief_page(store, path.removeprefix("/debrief/"), hubs)
        return sessions_page.layout(store, hubs)

    live_page.register(app, store, hubs)
    if push:
        push_channel.register(app, hubs)
    review_page.register(app, store)
    training_page.register(app, store, hubs, recordings)
    ending.register(app, store, hubs)
    return app
