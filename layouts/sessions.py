"""The sessions page: live sessions, then recent clinical (and demo) ones, then training ones, which are
never mixed with clinical sessions."""

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

    def section(title: str, table_id: str, rows: list, is_live: bool) -> list:
        if not rows:
            return [html.H2(title), html.P("None.", className="muted")]
        body = html.Tbody([row(s, is_live) for s in rows])
        return [html.H2(title), html.Table([html.Thead(head), body], className="session-table", id=table_id)]

    return html.Div(className="sessions", children=[
        html.H1("kapmon sessions"),
        html.P(["Not a medical device: for research, education, simulation and secondary display. ",
                html.A("Start a training session", href="/training")], className="muted"),
        *section("Live now", "live-sessions", running, True),
        *section("Recent clinical and demo sessions", "clinical-sessions", recent, False),
        *section("Recent training sessions", "training-sessions", training, False),
    ])
