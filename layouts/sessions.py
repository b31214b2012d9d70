"""The sessions page: live sessions first, then recent clinical (and demo) ones, then training ones,
which are never mixed with clinical sessions."""

from __future__ import annotations

from collections.abc import Mapping

from dash import html

from layouts.components import clock_text
from monitor.hub import Hub
from monitor.store import Store


def layout(store: Store, live: Mapping[str, Hub]) -> html.Div:
    sessions = store.sessions()
    running = [s for s in sessions if s.id in live and not live[s.id].finished.is_set()]
    recent = [s for s in sessions if s not in running and s.kind != "training"][:50]
    training = [s for s in sessions if s not in running and s.kind == "training"][:50]

    def row(s, is_live: bool) -> html.Tr:
        return html.Tr([
            html.Td(html.A(s.id, href=f"/live/{s.id}")),
            html.Td(s.patient), html.Td(s.route.upper()), html.Td(s.kind),
            html.Td(clock_text(s.started)[:16]), html.Td("LIVE" if is_live else "ended", className="live-flag" if is_live else ""),
            html.Td(html.A("Review", href=f"/review/{s.id}", className="review-link")),
            html.Td(html.A("Debrief", href=f"/debrief/{s.id}") if s.kind == "training" else ""),
        ])

    head = html.Tr([html.Th(h) for h in ("Session", "Patient", "Route", "Kind", "Started", "State", "", "")])
    return html.Div(className="sessions", children=[
        html.H1("kapmon sessions"),
        html.P(["Not a medical device: for research, education, simulation and secondary display. ",
                html.A("Start a training session", href="/training")], className="muted"),
        html.Table([html.Thead(head), html.Tbody([row(s, True) for s in running] + [row(s, False) for s in recent])],
                   className="session-table", id="clinical-sessions"),
        html.H2("Training sessions"),
        html.Table([html.Thead(head), html.Tbody([row(s, False) for s in training])], className="session-table",
                   id="training-sessions"),
    ])
