"""The debrief of a training session: each expectation with the trainee's response and response
time, each scripted patient state with the trainee's charting of it (``monitor.training.charting``), a
timeline of scenario and instructor events, alarms (with who acknowledged them and when) and everything
the trainee did, and what was missed. Pure functions over what the store holds."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from devices.patient import observation_problem
from devices.vocabulary import SCALES
from monitor.rules.alarm_events import AlarmEvent
from monitor.session.store import Store, StoredEvent
from monitor.training.charting import (
    ChartingOutcome,
    HoldDose,
    PatientState,
    Reminder,
    cues_at,
    doses_on_hold,
    judge_charting,
    level_text,
    overdue_reminders,
    states_of,
)

TRAINEE_EVENT_KINDS = ("action", "note", "manual_nibp", "dose", "observation")
LAST_VITALS = ("spo2", "pr", "hr", "sbp")
ACTION_LABELS = {
    "hold_dosing": "Hold dosing",
    "resume_dosing": "Resume dosing",
    "stop_dosing": "Stop dosing",
    "call_help": "Call for help",
}


@dataclass(frozen=True, slots=True)
class Action:
    """Something the trainee did, as a matchable name such as ``acknowledge:spo2_low`` or ``note:oxygen given``."""

    t: float
    name: str
    who: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One expectation judged: ``done``, ``missed``, ``avoided`` (a must-not kept), ``violated``, or
    ``not reached`` (the session ended before it was due)."""

    id: str
    what: str
    due_s: float
    within_s: float
    result: str
    action: str | None
    response_s: float | None


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """A scenario or instructor event, an alarm and the trainee's response to it, or something the
    trainee did; ``source`` says which (``scenario``, ``instructor``, ``alarm``, ``trainee``)."""

    t_s: float
    event: str
    response: str
    response_s: float | None
    source: str


@dataclass(frozen=True)
class Debrief:
    """Times (``due_s``, ``t_s``, ``first_dose_s``, ``ended_s``) are seconds from the session's start
    (``started``, epoch seconds); ``first_dose_s`` is None when no dose was given."""

    title: str
    trainee: str
    outcomes: tuple[Outcome, ...]
    timeline: tuple[TimelineRow, ...]
    started: float = 0.0
    first_dose_s: float | None = None
    ended_s: float | None = None
    charting: tuple[ChartingOutcome, ...] = ()
    reminders: tuple[Reminder, ...] = ()
    hold_doses: tuple[HoldDose, ...] = ()

    @property
    def missed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.result in ("missed", "violated")]

    @property
    def missed_words(self) -> list[str]:
        """Everything missed, in the debrief's words: expectations, charting late, wrong or never, overdue
        reminders let run and doses given during a hold."""
        out = [f"{o.id}: {o.what}" for o in self.missed]
        out += [c.words() for c in self.charting if c.missed]
        out += [r.words() for r in self.reminders]
        return out + [h.words() for h in self.hold_doses]

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "trainee": self.trainee,
            "started": self.started,
            "first_dose_s": self.first_dose_s,
            "ended_s": self.ended_s,
            "outcomes": [asdict(o) for o in self.outcomes],
            "timeline": [asdict(r) for r in self.timeline],
            "missed": [o.id for o in self.missed],
            "charting": [c.as_dict() for c in self.charting],
            "reminders": [r.as_dict() for r in self.reminders],
            "hold_doses": [h.as_dict() for h in self.hold_doses],
            "missed_words": self.missed_words,
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["expectation", "what", "due_min", "result", "action", "response_s"])
        for o in self.outcomes:
            writer.writerow(
                [
                    o.id,
                    o.what,
                    f"{o.due_s / 60:g}",
                    o.result,
                    o.action or "",
                    "" if o.response_s is None else f"{o.response_s:.0f}",
                ]
            )
        for c in self.charting:
            s = c.state
            result = c.timing if not c.level_result else f"{c.timing}; level {c.level_result}"
            charted = "" if c.charted_level is None else f"chart:{s.scale}:{c.charted_level}"
            after = "" if c.after_s is None else f"{c.after_s:.0f}"
            writer.writerow([f"chart {s.scale} {s.at_s / 60:g}", c.words(), f"{s.at_s / 60:g}", result, charted, after])
        return out.getvalue()


def trainee_actions(events: Iterable[StoredEvent], alarms: Iterable[AlarmEvent], start: float) -> list[Action]:
    """What people (not the scenario script) did, in session seconds, in time order."""
    out = [Action(a.t - start, f"acknowledge:{a.alarm_id}", a.who) for a in alarms if a.event == "acknowledged"]
    out += [Action(a.t - start, "pause_audio", a.who) for a in alarms if a.event == "audio_paused"]
    for e in events:
        if e.kind not in TRAINEE_EVENT_KINDS or e.who in (None, "scenario"):
            continue
        if e.kind == "action":
            out.append(Action(e.t - start, str(e.data.get("action")), e.who))
        elif e.kind == "observation":
            out.append(Action(e.t - start, f"chart:{e.data.get('scale')}:{e.data.get('level')}", e.who))
        elif e.kind == "note":
            out.append(Action(e.t - start, f"note:{e.data.get('text', '')}", e.who))
        else:
            out.append(Action(e.t - start, e.kind, e.who))
    return sorted(out, key=lambda a: a.t)


def matches(spec: str, action: str) -> bool:
    """``acknowledge`` matches any acknowledgement; ``acknowledge:spo2`` one whose alarm starts with
    spo2; ``note:oxygen`` a note containing "oxygen" (any case)."""
    base, _, detail = spec.partition(":")
    name, _, what = action.partition(":")
    if base != name:
        return False
    if not detail:
        return True
    if base == "note":
        return detail.lower() in what.lower()
    return what.startswith(detail)


def judge(expectation: dict, actions: Sequence[Action], ended_s: float | None = None) -> Outcome:
    """The trainee's response to one expectation (``ended_s``: when the session ended, in session seconds)."""
    due, within = expectation["at_s"], expectation["within_s"]
    negative = [s.removeprefix("not:") for s in expectation["actions"] if s.startswith("not:")]
    positive = [s for s in expectation["actions"] if not s.startswith("not:")]
    window = [a for a in actions if due <= a.t <= due + within]
    common = {"id": expectation["id"], "what": expectation["what"], "due_s": due, "within_s": within}
    if ended_s is not None and due > ended_s:
        return Outcome(**common, result="not reached", action=None, response_s=None)
    bad = next((a for a in window if any(matches(s, a.name) for s in negative)), None)
    if negative and not positive:
        if bad is None:
            return Outcome(**common, result="avoided", action=None, response_s=None)
        return Outcome(**common, result="violated", action=bad.name, response_s=bad.t - due)
    good = next((a for a in window if any(matches(s, a.name) for s in positive)), None)
    if good is None:
        return Outcome(**common, result="missed", action=None, response_s=None)
    return Outcome(**common, result="done", action=good.name, response_s=good.t - due)


def _did(e: StoredEvent) -> str:
    """What a person's event says they did, in words."""
    d = e.data
    if e.kind == "action":
        return ACTION_LABELS.get(str(d.get("action")), str(d.get("action")))
    if e.kind == "note":
        return f"note \u201c{d.get('text', '')}\u201d"
    if e.kind == "manual_nibp":
        return f"manual BP {d.get('sbp', 0):g}/{d.get('dbp', 0):g}"
    if e.kind == "observation":
        scale, level = d.get("scale"), d.get("level")
        if observation_problem(scale, level) or not isinstance(level, int | float):
            return f"charted {scale} {level}"
        return f"charted {level_text(str(scale), int(level))}"
    return f"dose {d.get('drug', '')} {d.get('mg', 0):g} mg"


def presented(states: Sequence[PatientState], so_far_s: float) -> list[TimelineRow]:
    """Each scripted change in the patient reached by ``so_far_s``, as the page showed it."""
    return [
        TimelineRow(s.at_s, f"patient: {s.cue} ({SCALES[s.scale].label} {s.level})", "", None, "scenario")
        for s in states
        if s.at_s <= so_far_s
    ]


def timeline(
    events: Sequence[StoredEvent],
    alarms: Sequence[AlarmEvent],
    start: float,
    states: Sequence[PatientState] = (),
    so_far_s: float = 0.0,
) -> list[TimelineRow]:
    """Scenario and instructor events (with the patient's scripted presentation reached by ``so_far_s``), every
    alarm raised with how long until it was acknowledged, and what the trainee did (acknowledgements are shown
    on their alarm's row)."""
    rows = presented(states, so_far_s)
    for e in events:
        if e.kind == "injection":
            label = e.data.get("label", e.data.get("kind"))
            rows.append(TimelineRow(e.t - start, f"{e.who or 'instructor'}: {label}", "", None, "instructor"))
        elif e.kind in ("note", "phase") and e.who == "scenario":
            rows.append(TimelineRow(e.t - start, f"scenario: {e.data.get('text', '')}", "", None, "scenario"))
        elif e.kind in TRAINEE_EVENT_KINDS and e.who not in (None, "scenario"):
            rows.append(TimelineRow(e.t - start, f"{e.who}: {_did(e)}", "", None, "trainee"))
    rows += [TimelineRow(a.t - start, f"{a.who}: paused audio", "", None, "trainee") for a in alarms if a.event == "audio_paused"]
    acks: dict[str, list[AlarmEvent]] = {}
    for a in alarms:
        if a.event == "acknowledged":
            acks.setdefault(a.alarm_id, []).append(a)
    for a in alarms:
        if a.event != "raised":
            continue
        ack = next((k for k in acks.get(a.alarm_id, []) if k.t >= a.t), None)
        response = f"acknowledged by {ack.who}" if ack else "not acknowledged"
        rows.append(
            TimelineRow(a.t - start, f"alarm {a.priority}: {a.message}", response, None if ack is None else ack.t - a.t, "alarm")
        )
    return sorted(rows, key=lambda r: r.t_s)


def last_recorded(store: Store, session_id: str, events: Sequence[StoredEvent], alarms: Sequence[AlarmEvent]) -> float:
    """The session time of the last thing recorded: a reading, an event or an alarm transition."""
    latest = (store.latest(session_id, vital) for vital in LAST_VITALS)
    return max([r.t for r in latest if r is not None] + [e.t for e in events] + [a.t for a in alarms], default=0.0)


def debrief(store: Store, session_id: str) -> Debrief:
    """The debrief of a stored training session."""
    session = store.session(session_id)
    if session is None:
        raise KeyError(f"no session {session_id}")
    training = session.metadata.get("training", {})
    events = store.events(session_id)
    alarms = [a for _, a in store.alarm_events(session_id)]
    actions = trainee_actions(events, alarms, session.started)
    ended = next((e.t for e in events if e.kind == "end"), None)
    ended_s = None if ended is None else ended - session.started
    # Still running (or never closed): nothing after the last recorded moment was due yet.
    so_far_s = ended_s if ended_s is not None else last_recorded(store, session_id, events, alarms) - session.started
    outcomes = tuple(judge(e, actions, so_far_s) for e in training.get("expectations", []))
    states = states_of(training.get("patient_states", []))
    doses = [e.t for e in events if e.kind == "dose"]
    given = [e.t for e in events if e.kind == "dose" and e.who not in (None, "scenario")]
    return Debrief(
        training.get("title", session_id),
        training.get("trainee", ""),
        outcomes,
        tuple(timeline(events, alarms, session.started, states, so_far_s)),
        session.started,
        min(doses) - session.started if doses else None,
        ended_s,
        tuple(judge_charting(states, store.observations(session_id), session.started, so_far_s)),
        tuple(overdue_reminders(alarms, session.started, so_far_s)),
        tuple(doses_on_hold(alarms, session.started, given)),
    )


def patient_now(metadata: dict, t_s: float) -> list[PatientState]:
    """What a training session's patient presents ``t_s`` into the session (nothing when it scripts no states)."""
    return cues_at(states_of(metadata.get("training", {}).get("patient_states", [])), t_s)
