"""The sessions page: live sessions, then recent clinical (and demo) ones, then training ones, which are
never mixed with clinical sessions.

A session is live when this process runs its recorder, or when another process sharing the store does
(its heartbeat is fresh and it has no ``end`` event; see ``monitor.session.liveness``)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from dash import html

from layouts.components import clock_text
from monitor.session.hub import Hub
from monitor.session.liveness import ENDED, LIVE, UNFINISHED, session_states
from monitor.session.model import Session
from monitor.session.store import Store

SHOWN = 50  # sessions listed per section

HERE = "here"  # recorded by this process
STATE_TEXT = {HERE: "LIVE", LIVE: "LIVE · other process", ENDED: "ended", UNFINISHED: "unfinished"}
STATE_HINT = {
    LIVE: "recorded by another kapmon process on this store: view only here",
    UNFINISHED: "the recorder stopped without ending it; kapmon monitor --resume continues it",
}


def layout(store: Store, live: Mapping[str, Hub]) -> html.Div:
    sessions = store.sessions()
    here = {s.id for s in sessions if s.id in live and not live[s.id].finished.is_set()}
    # Only the newest sessions need a state: a live session is among them, and each section lists SHOWN.
    candidates = [s for s in sessions if s.id in here] + [s for s in sessions if s.id not in here][: 3 * SHOWN]
    state = {**session_states(store, [s.id for s in candidates if s.id not in here], time.time()), **dict.fromkeys(here, HERE)}
    running = [s for s in candidates if state[s.id] in (HERE, LIVE)]
    recent = [s for s in candidates if s not in running and s.kind != "training"][:SHOWN]
    training = [s for s in candidates if s not in running and s.kind == "training"][:SHOWN]

    def row(s: Session) -> html.Tr:
        flag = state[s.id]
        return html.Tr(
            [
                html.Td(html.A(s.id, href=f"/live/{s.id}")),
                html.Td(s.patient),
                html.Td(s.route.upper()),
                html.Td(s.kind),
                html.Td(clock_text(s.started)[:16]),
                html.Td(
                    STATE_TEXT[flag],
                    title=STATE_HINT.get(flag, ""),
                    className="live-flag" if flag in (HERE, LIVE) else f"state-{flag}",
                ),
                html.Td(html.A("Review", href=f"/review/{s.id}", className="review-link")),
                html.Td(html.A("Debrief", href=f"/debrief/{s.id}") if s.kind == "training" else ""),
            ]
        )

    head = html.Tr([html.Th(h) for h in ("Session", "Patient", "Route", "Kind", "Started", "State", "", "")])

    def section(title: str, table_id: str, rows: list[Session]) -> list:
        if not rows:
            return [html.H2(title), html.P("None.", className="muted")]
        body = html.Tbody([row(s) for s in rows])
        return [html.H2(title), html.Table([html.Thead(head), body], className="session-table", id=table_id)]

    return html.Div(
        className="sessions",
        children=[
            html.H1("kapmon sessions"),
            html.P(
                [
                    "Not a medical device: for research, education, simulation and secondary display. ",
                    html.A("Start a training session", href="/training"),
                ],
                className="muted",
            ),
            *section("Live now", "live-sessions", running),
            *section("Recent clinical and demo sessions", "clinical-sessions", recent),
            *section("Recent training sessions", "training-sessions", training),
        ],
    )
