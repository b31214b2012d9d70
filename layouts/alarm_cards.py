"""The live page's alarm list: one card per reading or vital family (``monitor.rules.alarm_groups``), led by its
most urgent alarm and the protocol's response to it, the rest folded in, one Acknowledge button per card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from dash import html
from dash.development.base_component import Component

from devices.vocabulary import PRIORITIES, PRIORITY_MARK
from layouts.components import clock_text, wildcards
from monitor.rules.alarm_groups import ActiveAlarm, AlarmGroup


def signature(groups: Sequence[AlarmGroup]) -> str:
    """What the cards show; they are re-rendered only when this changes (so buttons stay clickable)."""
    return "|".join(f"{a.alarm_id}:{a.priority}:{a.acknowledged}:{a.latched}:{a.message}" for g in groups for a in g.alarms)


def shown(groups: Sequence[AlarmGroup]) -> dict[str, list[str]]:
    """The unacknowledged alarms each card shows: what its Acknowledge button acknowledges (never an alarm
    raised after the nurse saw the card)."""
    return {g.key: [a.alarm_id for a in g.unacknowledged] for g in groups}


def state_text(alarm: ActiveAlarm) -> str:
    return (
        f"{alarm.kind} · since {clock_text(alarm.since)[11:19]}"
        + (" · ACKNOWLEDGED" if alarm.acknowledged else "")
        + (" · latched" if alarm.latched else "")
    )


def ack_label(unacknowledged: int) -> str:
    if unacknowledged == 0:
        return "Acknowledged"
    return "Acknowledge" if unacknowledged == 1 else f"Acknowledge {unacknowledged}"


def folded_summary(alarms: tuple[ActiveAlarm, ...]) -> str:
    """``+5 more: 1 high, 2 medium, 2 low``."""
    counts = Counter(a.priority for a in alarms)
    return f"+{len(alarms)} more: " + ", ".join(f"{counts[p]} {p}" for p in PRIORITIES if counts[p])


def folded(alarm: ActiveAlarm, lead_response: str) -> html.Div:
    return html.Div(
        className=f"folded folded-{alarm.priority}",
        children=[
            html.Span(PRIORITY_MARK[alarm.priority], className="mark"),
            html.Div(
                [
                    html.Div(f"{alarm.priority.upper()} {alarm.message}", className="folded-message"),
                    *(
                        [html.Div(alarm.response, className="alarm-response")]
                        if alarm.response and alarm.response != lead_response
                        else []
                    ),
                    html.Div(state_text(alarm), className="alarm-kind"),
                ]
            ),
        ],
    )


def card(group: AlarmGroup) -> html.Div:
    """One card: the lead alarm with what to do, then the rest of its family folded."""
    lead, rest = group.lead, group.alarms[1:]
    waiting = len(group.unacknowledged)
    body: list[Component] = [
        html.Div(
            className="card-head",
            children=[
                html.Span(PRIORITY_MARK[lead.priority], className="mark"),
                html.Span(f"{lead.priority.upper()} · {group.label}", className="card-title"),
                html.Button(
                    ack_label(waiting), id={"type": "ack", "group": group.key}, className="ack", disabled=waiting == 0, n_clicks=0
                ),
            ],
        ),
        html.Div(lead.message, className="alarm-message"),
    ]
    if lead.response:
        body.append(html.Div(lead.response, className="alarm-response"))
    body.append(html.Div(state_text(lead), className="alarm-kind"))
    if rest:
        body.append(
            html.Details(
                [html.Summary(folded_summary(rest)), *[folded(a, lead.response) for a in rest]],
                className="alarm-more",
                **wildcards({"data-fold": f"alarm:{group.key}"}),
            )
        )
    classes = f"alarm-card alarm-{lead.priority}" + (" alarm-acked" if waiting == 0 else "")
    return html.Div(body, className=classes, **wildcards({"data-group": group.key}))


def cards(groups: Sequence[AlarmGroup], empty: str = "None") -> list:
    """The alarm list: a card per group, most urgent first; ``empty`` says why there is none."""
    if not groups:
        return [html.P(empty, className="muted")]
    return [card(g) for g in groups]
