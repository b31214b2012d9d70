"""The patient's observable state in a training scenario, and the trainee's charting judged against it.

A scenario scripts what the patient presents on an observation scale from a time on (a ``PatientState``:
"from minute 40, MOAA/S 2"). The training page shows it as a cue in words ("Sedation: responds only to mild
prodding or shaking"), never as a charted observation: charting it is the trainee's job. The debrief judges
each scripted state: charted on time or how late, the level charted against the scripted one, and lists the
overdue reminders the trainee let run and any dose given while dosing was held. Pure functions over what the
store holds; times are seconds from the session's start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from devices.patient import observation_problem
from devices.vocabulary import SCALES
from monitor.rules.alarm_events import AlarmEvent
from monitor.session.model import Observation

ON_TIME, LATE, NEVER, PENDING, NOT_REACHED = "on time", "late", "never", "pending", "not reached"
RIGHT, WRONG = "right", "wrong"
HOLD_DOSE_ALARM = "dose_on_hold"  # the engine's alarm for a dose given while dosing was not clear
OVERDUE_SUFFIX = "_overdue"


def presentation(scale: str, level: int) -> str:
    """What the patient shows at ``level`` of ``scale``, from the scale's words without their grade
    ("mild: altered perception" shows as "altered perception"): "Sedation: responds only to mild prodding or shaking"."""
    spec = SCALES[scale]
    return f"{spec.title}: {spec.words(level).split(': ', 1)[-1]}"


def level_text(scale: str, level: int) -> str:
    """A level with its words: "MOAA/S 2 (responds only to mild prodding or shaking)"."""
    spec = SCALES[scale]
    return f"{spec.label} {level} ({spec.words(level)})"


def minutes_text(seconds: float) -> str:
    """A duration in words: "45 s", "2 min 05 s"."""
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def clock_text(t_s: float) -> str:
    """A time into the session: "session 40:00"."""
    whole = round(t_s)
    return f"session {whole // 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True, slots=True)
class PatientState:
    """From ``at_s`` the patient presents ``level`` on ``scale`` (``cue``: in words, for the page); the trainee
    should chart it within ``within_s``, at that level or within ``tolerance`` levels of it."""

    at_s: float
    scale: str
    level: int
    within_s: float
    tolerance: int
    cue: str

    def as_dict(self) -> dict:
        return asdict(self)


def states_of(rows: Iterable[object]) -> list[PatientState]:
    """Scripted states as a session's metadata keeps them, in time order; a row that is not a state of a known
    scale (metadata written by other code) is left out rather than breaking the page or the debrief."""
    out = []
    for row in rows:
        try:
            state = PatientState(**row)  # type: ignore[arg-type]
        except TypeError:
            continue
        if observation_problem(state.scale, state.level) is None and isinstance(state.at_s, int | float):
            out.append(state)
    return sorted(out, key=lambda s: s.at_s)


def cues_at(states: Sequence[PatientState], t_s: float) -> list[PatientState]:
    """What the patient presents at ``t_s``: the latest state of each scale begun by then, scales in the order
    they are first scripted."""
    now: dict[str, PatientState] = {}
    for s in sorted(states, key=lambda s: s.at_s):
        if s.at_s <= t_s:
            now[s.scale] = s
    return list(now.values())


@dataclass(frozen=True, slots=True)
class ChartingOutcome:
    """One scripted state judged: ``timing`` (on time, late, never, pending: its window is still open,
    not reached: the session ended before it), what was charted and how long after the state began, and
    ``level_result`` (right, within N level(s), wrong; "" when nothing was charted)."""

    state: PatientState
    timing: str
    charted_level: int | None
    after_s: float | None
    level_result: str

    @property
    def late_s(self) -> float | None:
        """How long after the window closed it was charted (None unless late)."""
        return None if self.timing != LATE or self.after_s is None else self.after_s - self.state.within_s

    @property
    def met(self) -> bool:
        return self.timing == ON_TIME and self.level_result != WRONG

    @property
    def missed(self) -> bool:
        return self.timing in (LATE, NEVER) or self.level_result == WRONG

    def words(self) -> str:
        """The debrief's sentence for it."""
        s = self.state
        head = f"{level_text(s.scale, s.level)} from {clock_text(s.at_s)}"
        if self.timing in (NEVER, PENDING, NOT_REACHED):
            say = {
                NEVER: f"never charted (due within {s.within_s / 60:g} min)",
                PENDING: "not charted yet (its window is still open)",
                NOT_REACHED: "the session ended before it",
            }
            return f"{head}: {say[self.timing]}"
        assert self.after_s is not None and self.charted_level is not None
        when = f"charted after {minutes_text(self.after_s)}"
        when += ", on time" if self.timing == ON_TIME else f", {minutes_text(self.late_s or 0.0)} late"
        if self.level_result == RIGHT:
            level = "level right"
        elif self.level_result == WRONG:
            level = f"wrong level: charted {level_text(s.scale, self.charted_level)}, the patient was {s.level}"
        else:
            level = f"charted {self.charted_level}, {self.level_result} of the patient's {s.level}"
        return f"{head}: {when}; {level}"

    def as_dict(self) -> dict:
        return {
            **self.state.as_dict(),
            "timing": self.timing,
            "charted_level": self.charted_level,
            "after_s": self.after_s,
            "late_s": self.late_s,
            "level_result": self.level_result,
            "met": self.met,
            "words": self.words(),
        }


def level_result(state: PatientState, charted: int) -> str:
    """``right`` (the scripted level), ``within N level(s)`` (off, but within the state's tolerance) or ``wrong``."""
    off = abs(charted - state.level)
    if off == 0:
        return RIGHT
    return f"within {off} level{'s' if off > 1 else ''}" if off <= state.tolerance else WRONG


def judge_state(
    state: PatientState, until_s: float | None, charted: Sequence[tuple[float, int]], so_far_s: float
) -> ChartingOutcome:
    """One state against the trainee's chartings of its scale (session seconds, level) made while it lasted
    (from ``at_s`` until the scale's next state, ``until_s``); ``so_far_s``: how far the session has got."""
    if state.at_s > so_far_s:
        return ChartingOutcome(state, NOT_REACHED, None, None, "")
    first = next(((t, level) for t, level in charted if state.at_s <= t and (until_s is None or t < until_s)), None)
    if first is None:
        timing = PENDING if so_far_s < state.at_s + state.within_s else NEVER
        return ChartingOutcome(state, timing, None, None, "")
    after = first[0] - state.at_s
    timing = ON_TIME if after <= state.within_s else LATE
    return ChartingOutcome(state, timing, first[1], after, level_result(state, first[1]))


def judge_charting(
    states: Sequence[PatientState], observations: Iterable[Observation], start: float, so_far_s: float
) -> list[ChartingOutcome]:
    """Every scripted state judged against the trainee's chartings (``observations`` by a person, not the
    scenario; absolute times from ``start``)."""
    by_scale: dict[str, list[tuple[float, int]]] = {}
    for o in sorted(observations, key=lambda o: o.t):
        if o.who and o.who != "scenario":
            by_scale.setdefault(o.scale, []).append((o.t - start, o.level))
    ordered = sorted(states, key=lambda s: s.at_s)
    out = []
    for i, s in enumerate(ordered):
        until = next((n.at_s for n in ordered[i + 1 :] if n.scale == s.scale), None)
        out.append(judge_state(s, until, by_scale.get(s.scale, []), so_far_s))
    return out


@dataclass(frozen=True, slots=True)
class Reminder:
    """An overdue reminder the trainee let run: raised at ``raised_s``, for ``ran_s`` (until charted, or until
    the session's end or now when ``cleared`` is False)."""

    scale: str
    raised_s: float
    ran_s: float
    cleared: bool

    def words(self) -> str:
        spec = SCALES[self.scale]
        end = "until charted" if self.cleared else "and was never cleared"
        return f"{spec.name_text} overdue reminder from {clock_text(self.raised_s)} ran {minutes_text(self.ran_s)} {end}"

    def as_dict(self) -> dict:
        return {**asdict(self), "words": self.words()}


def overdue_reminders(alarms: Sequence[AlarmEvent], start: float, so_far_s: float) -> list[Reminder]:
    """Each observation-overdue reminder raised, and how long it ran."""
    out = []
    for i, a in enumerate(alarms):
        scale = a.alarm_id.removesuffix(OVERDUE_SUFFIX)
        if a.event != "raised" or not a.alarm_id.endswith(OVERDUE_SUFFIX) or scale not in SCALES:
            continue
        cleared = next((c for c in alarms[i + 1 :] if c.alarm_id == a.alarm_id and c.event == "cleared"), None)
        end = so_far_s if cleared is None else cleared.t - start
        out.append(Reminder(scale, a.t - start, max(0.0, end - (a.t - start)), cleared is not None))
    return out


@dataclass(frozen=True, slots=True)
class HoldDose:
    """A dose the trainee gave while dosing was held; ``message`` is the alarm it raised."""

    t_s: float
    message: str

    def words(self) -> str:
        return f"Dose given during a hold at {clock_text(self.t_s)}: {self.message}"

    def as_dict(self) -> dict:
        return {**asdict(self), "words": self.words()}


def doses_on_hold(alarms: Iterable[AlarmEvent], start: float, given: Iterable[float]) -> list[HoldDose]:
    """The trainee's doses (``given``: their absolute times) given while dosing was not clear, from the alarm the
    engine raises for each; a scripted dose is the scenario's, not the trainee's."""
    times = set(given)
    return [
        HoldDose(a.t - start, a.message) for a in alarms if a.event == "raised" and a.alarm_id == HOLD_DOSE_ALARM and a.t in times
    ]
