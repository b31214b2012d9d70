"""The dosing hold banner: from the moment a block or gate applies, the live page says that dosing is
blocked or on hold, why (the dosing decision's lead finding, in short, and the protocol) and what lifts
it, with the finding's whole text under it. It sits under the alarm banner and never replaces it."""

from __future__ import annotations

from dash import html

from monitor.rules.dosing import BLOCKED, CLEAR, Decision
from monitor.rules.holds import headline, lead, lifted_by
from monitor.rules.plan import Plan


def hold_banner(decision: Decision | None, plan: Plan | None) -> tuple[list, str, str]:
    """Children, class and hover text (every open block and gate) of the hold banner; hidden while dosing
    is clear or the session is not live here (``decision`` None)."""
    if decision is None or plan is None or decision.state == CLEAR:
        return [], "hold hold-clear", ""
    first = lead(decision)
    return (
        [
            html.Div(
                className="hold-line",
                children=[
                    html.Span("STOP" if decision.state == BLOCKED else "HOLD", className="hold-mark"),
                    html.Span(headline(decision, plan), className="hold-head"),
                    html.Span(f" \u2014 {lifted_by(plan, first)}", className="hold-hint"),
                ],
            ),
            html.Div(first.text, className="hold-detail"),
        ],
        f"hold hold-{decision.state}",
        "\n".join(f"{f.action.upper()} {f.id}: {f.text}" for f in decision.findings),
    )
