"""Structured observations on the live page: one large button per scale the session's protocol charts (in the
protocol's order), each with its latest level and the level's words, who charted it and when, and whether it is
not due, due or overdue (``monitor.rules.observations``, as the alarm engine judges it). Pressing one opens the
scale's levels as large buttons; choosing one charts it through ``Hub.observe``, and a level beyond a limit on
the scale alarms like any other. Charted levels can be marked entered in error with the other entries.

The buttons are drawn from the hub's live read model (``LiveSnapshot.charts``), and redrawn only when what they
show changes (compared as plain data, so an unchanged tick builds no component)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from devices.vocabulary import PHYSIOLOGICAL, PRIORITY_MARK, PRIORITY_RANK, SCALES
from layouts.components import clock_text, pressed_button, relay_presses, wildcards
from layouts.controls import CHECK_THEN_RECORD, acting_on, clicked, feedback, live_hub, said
from monitor.rules.alarm_groups import ActiveAlarm
from monitor.rules.observations import DUE, NOT_DUE, OVERDUE, next_due
from monitor.rules.protocol import ObservationRule
from monitor.session.hub import Hub
from monitor.session.live_view import Chart, LiveSnapshot
from monitor.session.model import Observation

# Design proposal: the same level charted again by the same person within this many real seconds is the second
# tap of a double tap (a nurse charting again means it later, after looking again at the patient).
DOUBLE_TAP_S = 5.0
STATE_WORDS = {NOT_DUE: "", DUE: "DUE NOW", OVERDUE: "\u26a0 OVERDUE"}  # overdue: a mark and a word, never colour alone


def ago_text(seconds: float) -> str:
    """How long ago a level was charted, in whole minutes (the button is redrawn once a minute, not every second)."""
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "just now"
    return f"{minutes} min ago" if minutes < 90 else f"{minutes / 60:.1f} h ago"


def state_text(chart: Chart, first_dose: float | None) -> str:
    """``next 10:45``, ``DUE NOW``, ``⚠ OVERDUE``; before the first dose, when the schedule starts."""
    if chart.status != NOT_DUE:
        return STATE_WORDS[chart.status]
    due = next_due(chart.rule, first_dose, chart.last.t if chart.last else None)
    return f"next {clock_text(due)[11:16]}" if due is not None else f"every {chart.rule.every_min:g} min from the first dose"


def button_lines(chart: Chart, first_dose: float | None, now: float) -> tuple[str, str, str, str, str]:
    """What a scale's button says: its name, the latest level, the level's words, who charted it and how long
    ago, and its state."""
    spec = SCALES[chart.rule.scale]
    last = chart.last
    if last is None:
        return spec.name_text, "\u2014", "not charted yet", "", state_text(chart, first_dose)
    who = f"{last.who} \u00b7 " if last.who else ""
    return (
        spec.name_text,
        str(last.level),
        spec.words(last.level),
        f"{who}{ago_text(now - last.t)}",
        state_text(chart, first_dose),
    )


@dataclass(frozen=True, slots=True)
class ButtonView:
    """What one scale's button shows, as plain data (compared tick to tick before any component is built)."""

    scale: str
    status: str
    alarm: str | None  # the priority of the active alarm its latest level raised
    lines: tuple[str, str, str, str, str]  # name, level, words, who and how long ago, state


def button_views(snap: LiveSnapshot, now: float) -> tuple[ButtonView, ...]:
    """The buttons of the scales the protocol charts, in its order, at session time ``now``."""
    return tuple(
        ButtonView(c.rule.scale, c.status, scale_alarm(snap.alarms, c.rule.scale), button_lines(c, snap.rules_first_dose, now))
        for c in snap.charts(now)
    )


def scale_button(view: ButtonView) -> html.Button:
    """One scale's large button; a level that alarms is marked beside the level (``2 !!!``) as well as coloured."""
    name, level, words, who, state = view.lines
    alarm = view.alarm
    return html.Button(
        id={"type": "obs-scale", "scale": view.scale},
        className=f"obs-btn obs-{view.status}" + (f" obs-alarm-{alarm}" if alarm else ""),
        n_clicks=0,
        title=f"Chart {name}",
        **wildcards({"data-scale": view.scale, "data-state": view.status}),
        children=[
            html.Span(name, className="obs-name"),
            html.Span(
                [html.Span(level, className="obs-level"), html.Span(PRIORITY_MARK[alarm] if alarm else "", className="obs-mark")],
                className="obs-value",
            ),
            html.Span(words, className="obs-words"),
            html.Span(who, className="obs-who"),
            html.Span(state, className="obs-state"),
        ],
    )


def buttons(views: Sequence[ButtonView]) -> list:
    """The scales' buttons, or a line saying the protocol charts none."""
    if not views:
        return [html.P("This protocol charts no observations.", className="muted")]
    return [scale_button(v) for v in views]


def scale_alarm(alarms: Sequence[ActiveAlarm], scale: str) -> str | None:
    """The highest priority of the active alarms a charted level of ``scale`` raised (not its overdue reminder)."""
    found = [a.priority for a in alarms if a.vital == scale and a.kind == PHYSIOLOGICAL]
    return max(found, key=PRIORITY_RANK.__getitem__) if found else None


def section() -> html.Section:
    """The observations panel as the page first draws it: the buttons come with the first tick."""
    return html.Section(
        className="obs",
        children=[
            html.Div(id="obs-buttons", className="obs-buttons"),
            dcc.Store(id="obs-pressed"),
            html.Div(id="obs-chooser", className="obs-chooser", hidden=True),
            feedback("obs-result"),
        ],
    )


def chooser(scale: str) -> list:
    """Cancel, and the levels of ``scale`` as large buttons with their words (0 first)."""
    spec = SCALES[scale]
    return [
        html.Div(
            className="obs-chooser-bar",
            children=[
                html.Span(f"Chart {spec.name_text}", className="obs-chooser-head"),
                html.Button("Cancel", id={"type": "obs-cancel", "scale": scale}, className="quick obs-cancel", n_clicks=0),
            ],
        ),
        html.Div(
            className="obs-levels",
            children=[
                html.Button(
                    [html.Span(str(level), className="obs-level"), html.Span(spec.words(level), className="obs-words")],
                    id={"type": "obs-level", "scale": scale, "level": level},
                    className="obs-choice" + (" obs-choice-normal" if level == spec.normal else ""),
                    n_clicks=0,
                )
                for level in range(spec.top + 1)
            ],
        ),
    ]


def charted_scale(rules: Sequence[ObservationRule], scale: object) -> str:
    """``scale`` when the protocol charts it, else ``ValueError`` saying which it charts."""
    known = [r.scale for r in rules]
    if not isinstance(scale, str) or scale not in known:
        charted = ", ".join(known) or "none"
        raise ValueError(f"{repr(scale)[:40]} is not an observation this protocol charts (it charts: {charted})")
    return scale


def chosen_level(rules: Sequence[ObservationRule], scale: object, level: object) -> tuple[str, int]:
    """The scale and level a page sent, checked: a scale the protocol charts and a whole level on it, else
    ``ValueError`` saying what was wrong."""
    name = charted_scale(rules, scale)
    spec = SCALES[name]
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= spec.top:
        raise ValueError(f"{spec.label} level {repr(level)[:20]} is not a whole number from 0 to {spec.top}")
    return name, level


def double_tap(last: Observation, observation: Observation, speed: float) -> bool:
    """Whether ``observation`` repeats ``last`` (same scale, level and person) within ``DOUBLE_TAP_S`` real seconds."""
    same = (last.scale, last.level, last.who) == (observation.scale, observation.level, observation.who)
    return same and 0.0 <= observation.t - last.t < DOUBLE_TAP_S * speed


def chart(hub: Hub, who: str, scale: object, level: object) -> tuple[str, bool]:
    """Chart ``level`` of ``scale`` now as ``who``; say what was charted, or why not (nothing is stored then).
    The same level charted again by the same person at once (a double tap) is said, not stored twice."""
    with CHECK_THEN_RECORD:
        snap = hub.view.snapshot()
        try:
            name, value = chosen_level(snap.plan.protocol.observations, scale, level)
            observation = Observation(hub.now(), name, value, who)
        except ValueError as exc:
            return f"Not charted: {exc}.", False
        spec = SCALES[name]
        last = snap.observations.get(name)
        if last is not None and double_tap(last, observation, hub.clock_speed):
            return f"{spec.label} {value} already charted by {who} at {clock_text(last.t)[11:19]}", True
        hub.observe(observation)
    return f"{spec.label} {value} ({spec.words(value)}) charted by {who} at {clock_text(observation.t)[11:19]}", True


def register(app: Dash, live: Mapping[str, Hub]) -> None:
    """Open a scale's levels, chart the level chosen (the page's tick draws the buttons: ``button_views``, ``buttons``)."""

    @app.callback(
        Output("obs-chooser", "children"),
        Output("obs-chooser", "hidden"),
        Output("obs-result", "children"),
        Input("obs-pressed", "data"),
        Input({"type": "obs-cancel", "scale": ALL}, "n_clicks"),
        State("cursor", "data"),
        prevent_initial_call=True,
    )
    def on_scale(pressed: object, _cancel: list, cursor: dict) -> tuple:
        if not clicked():
            return no_update, no_update, no_update
        button = pressed_button(pressed) if callback_context.triggered_id == "obs-pressed" else None
        if button is None:
            return [], True, ""  # Cancel
        hub = live_hub(live, cursor)
        if hub is None:
            return [], True, said("This session is not live.", False)
        try:
            scale = charted_scale(hub.view.snapshot().plan.protocol.observations, button.get("scale"))
        except ValueError as exc:
            return [], True, said(f"Not charted: {exc}.", False)
        return chooser(scale), False, ""

    relay_presses(app, {"type": "obs-scale", "scale": ALL}, "obs-pressed")  # the buttons are redrawn as charts fall due

    @app.callback(
        Output("obs-result", "children", allow_duplicate=True),
        Output("obs-chooser", "hidden", allow_duplicate=True),
        Input({"type": "obs-level", "scale": ALL, "level": ALL}, "n_clicks"),
        State("cursor", "data"),
        State("who", "value"),
        prevent_initial_call=True,
    )
    def on_level(_levels: list, cursor: dict, who: object) -> tuple:
        if not clicked():
            return no_update, no_update
        trigger = callback_context.triggered_id

        def record(hub: Hub, name: str) -> tuple:
            text, ok = chart(hub, name, trigger.get("scale"), trigger.get("level"))
            return said(text, ok), True if ok else no_update

        return acting_on(live, cursor, who, 2, record)
