"""Training: the scenario library (TOML files over the simulator), and starting training sessions
that run through the same hub, alarm engine and live page as a real session.

A library file names a simulator scenario (``base``), optional overrides of its numbers,
perturbations scripted on top (``[[perturbation]]``), what the patient presents on an observation
scale and from when (``[[observation]]``: shown to the trainee as a cue, charted by the trainee, judged in
the debrief) and what a trainee should do and when (``[[expect]]``). Training sessions are stored with
``kind = "training"``, never as clinical ones.

What a page may start is limited to the library and one recordings folder (``choice_source``): no
other path on the server, no ``..``, no symlink out of the folder. Speeds are checked (``check_speed``)
before they reach a clock.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import Field, field_validator, model_validator

from devices.errors import ConfigError, KapmonError
from devices.schema import FieldProblem, FileModel, check, read_toml, toml_lines
from devices.source import PlaybackClock
from devices.uri import parse_uri
from devices.virtual.perturb import OverlaySource, Perturbation
from devices.virtual.replay import open_replay
from devices.virtual.scenarios import SCENARIOS, Scenario, get_scenario
from devices.virtual.simulator import SimSource
from devices.vocabulary import SCALES
from monitor.session.hub import Hub
from monitor.session.start import start_session
from monitor.session.store import Store
from monitor.training.charting import PatientState, presentation
from monitor.training.debrief import ACTION_LABELS

LIBRARY = Path(__file__).parent / "scenarios"
SAMPLE_RECORDINGS = Path(__file__).resolve().parents[2] / "sample_data"
# Design proposal: 1x is real time; at 60x a 90-min scenario plays in 90 s, about as fast as a trainee can
# follow and still well within what the 1-s page tick shows.
SPEED_MIN, SPEED_MAX = 1.0, 60.0
ACTIONS = (
    "acknowledge",
    "note",
    "hold_dosing",
    "stop_dosing",
    "resume_dosing",
    "call_help",
    "manual_nibp",
    "dose",
    "pause_audio",
    "chart",  # charted an observation: "chart:moaas"
)
# Design proposal: a change in the patient is to be charted within 5 min, the grace the shipped protocols give
# MOAA/S, breathing and dissociation before their reminder (monitor/rules/protocols/*.toml [[observation]]).
CHART_WITHIN_MIN = 5.0
OVERRIDABLE = {f.name for f in fields(Scenario)} - {"name", "screening", "doses", "episodes", "events"}


# What a trainee can do on the live page beyond any nurse's actions, and what an instructor can inject.
TRAINEE_ACTIONS = ACTION_LABELS


class Injection(TypedDict):
    """The perturbation an instructor's button starts (``amount`` 0 when it has none)."""

    kind: str
    duration: float
    amount: NotRequired[float]


INJECTIONS: dict[str, tuple[str, Injection]] = {
    "bp_rise": ("Raise BP +40", {"kind": "bp_rise", "amount": 40, "duration": 900}),
    "desaturation": ("Drop SpO2 to 84", {"kind": "desaturation", "amount": 84, "duration": 300}),
    "probe_off": ("Pull probe 60 s", {"kind": "probe_off", "duration": 60}),
    "disconnect": ("Disconnect oximeter 90 s", {"kind": "disconnect", "duration": 90}),
}


class ScenarioFileError(ConfigError):
    """A training scenario file that cannot be used, located by file, line and field."""


class TrainingInputError(KapmonError, ValueError):
    """A training request that is refused (unknown scenario, a path outside the recordings folder, a bad
    speed); the message says what was wrong."""


def check_speed(value: object) -> float:
    """``value`` as a playback speed: a finite number from 1 to 60, else ``TrainingInputError``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not SPEED_MIN <= value <= SPEED_MAX
    ):
        raise TrainingInputError(f"speed must be a number from {SPEED_MIN:g} to {SPEED_MAX:g} (got {str(value)[:20]!r})")
    return float(value)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a trainee should do (any of ``actions``) within ``within_s`` of ``at_s``; ``not:X`` means must not."""

    id: str
    at_s: float
    within_s: float
    actions: tuple[str, ...]
    what: str

    def as_dict(self) -> dict:
        return {"id": self.id, "at_s": self.at_s, "within_s": self.within_s, "actions": list(self.actions), "what": self.what}


@dataclass(frozen=True)
class TrainingScenario:
    name: str
    title: str
    summary: str
    scenario: Scenario
    seed: int
    duration_s: float | None
    scripted_doses: bool
    perturbations: tuple[Perturbation, ...]
    expectations: tuple[Expectation, ...]
    patient_states: tuple[PatientState, ...] = ()

    def training_metadata(self) -> dict:
        """What the session record keeps so its debrief can be made later from the store alone."""
        return {
            "scenario": self.name,
            "title": self.title,
            "summary": self.summary,
            "expectations": [e.as_dict() for e in self.expectations],
            "patient_states": [s.as_dict() for s in self.patient_states],
            "perturbations": [
                {"kind": p.kind, "t": p.t, "duration": p.duration, "amount": p.amount, "source": p.source, "text": p.text}
                for p in self.perturbations
            ],
        }


class ExpectSchema(FileModel):
    """``[[expect]]``: what a trainee should do (``at_min`` after the start, within ``within_s``)."""

    id: str
    at_min: float = Field(ge=0)
    within_s: float = Field(gt=0)
    actions: list[str] = Field(min_length=1)
    what: str

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, actions: list[str]) -> list[str]:
        for action in actions:
            if action.removeprefix("not:").split(":", 1)[0] not in ACTIONS:
                raise ValueError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        return actions

    def expectation(self) -> Expectation:
        return Expectation(self.id, self.at_min * 60, self.within_s, tuple(self.actions), self.what)


class PerturbationSchema(FileModel):
    """``[[perturbation]]``: a scripted change over the simulator (checked as :class:`Perturbation` checks it)."""

    kind: str
    at_min: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    amount: float = 0.0
    source: str = "sim-oximeter"
    text: str = ""

    @model_validator(mode="after")
    def _valid(self) -> PerturbationSchema:
        self.perturbation()
        return self

    def perturbation(self) -> Perturbation:
        return Perturbation(
            kind=self.kind, t=self.at_min * 60, duration=self.duration_s, amount=self.amount, source=self.source, text=self.text
        )


class PatientStateSchema(FileModel):
    """``[[observation]]``: from ``at_min`` the patient presents ``level`` on ``scale``; the trainee should chart
    it within ``within_min`` at that level (or within ``tolerance`` levels). ``cue``: the words the page shows
    (default: the level's words)."""

    at_min: float = Field(ge=0)
    scale: str
    level: int
    within_min: float = Field(CHART_WITHIN_MIN, gt=0)
    tolerance: int = Field(0, ge=0)
    cue: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _on_the_scale(self) -> PatientStateSchema:
        spec = SCALES.get(self.scale)
        if spec is None:
            raise FieldProblem("scale", f"unknown observation scale {self.scale!r} (known: {', '.join(SCALES)})")
        if not 0 <= self.level <= spec.top:
            raise FieldProblem("level", f"{spec.label} level {self.level} is not one of 0-{spec.top}")
        if self.tolerance > spec.top:
            raise FieldProblem(
                "tolerance", f"{spec.label} has levels 0-{spec.top}: a tolerance of {self.tolerance} accepts any level"
            )
        return self

    def state(self) -> PatientState:
        cue = self.cue or presentation(self.scale, self.level)
        return PatientState(self.at_min * 60, self.scale, self.level, self.within_min * 60, self.tolerance, cue)


class ScenarioHeadSchema(FileModel):
    """``[scenario]``: the simulator scenario it builds on, and the overrides of its numbers."""

    base: str
    title: str | None = None
    seed: int = Field(0, ge=0)
    duration_min: float | None = Field(None, gt=0)
    summary: str = ""
    doses: Literal["scripted", "trainee"] = "scripted"
    overrides: dict[str, Any] = {}

    @field_validator("base")
    @classmethod
    def _known_base(cls, base: str) -> str:
        if base not in SCENARIOS:
            raise ValueError(f"{base!r} is not a simulator scenario ({', '.join(SCENARIOS)})")
        return base

    @model_validator(mode="after")
    def _overridable(self) -> ScenarioHeadSchema:
        for key in sorted(self.overrides):
            if key not in OVERRIDABLE:
                raise FieldProblem(f"overrides.{key}", "cannot be overridden")
        try:
            self.scenario()
        except (TypeError, ValueError) as exc:
            raise FieldProblem("overrides", str(exc)) from None
        return self

    def scenario(self) -> Scenario:
        return replace(get_scenario(self.base), **self.overrides)


class ScenarioFileSchema(FileModel):
    """A training scenario file."""

    scenario: ScenarioHeadSchema
    perturbation: list[PerturbationSchema] = []
    observation: list[PatientStateSchema] = []
    expect: list[ExpectSchema] = []

    @model_validator(mode="after")
    def _within_the_scenario(self) -> ScenarioFileSchema:
        """Every scripted time falls inside the scenario, and a scale has one state at a time."""
        head = self.scenario
        length_min = head.duration_min if head.duration_min is not None else head.scenario().duration_s / 60
        tables: list[tuple[str, list[Any]]] = [
            ("perturbation", self.perturbation),
            ("observation", self.observation),
            ("expect", self.expect),
        ]
        for table, rows in tables:
            for i, row in enumerate(rows):
                if row.at_min >= length_min:
                    raise FieldProblem(
                        f"{table}[{i}].at_min", f"{row.at_min:g} min is not inside the scenario (0 to {length_min:g} min)"
                    )
        seen: dict[tuple[str, float], int] = {}
        for i, row in enumerate(self.observation):
            if (first := seen.setdefault((row.scale, row.at_min), i)) != i:
                raise FieldProblem(
                    f"observation[{i}].at_min", f"{row.scale} already has a state at {row.at_min:g} min (observation[{first}])"
                )
        return self


def load_scenario(path: str | Path) -> TrainingScenario:
    """Read one library file; raise ``ScenarioFileError`` naming the file, line and field."""
    path = Path(path)
    text, data = read_toml(path, ScenarioFileError)
    spec = check(ScenarioFileSchema, data, str(path), toml_lines(text), ScenarioFileError)
    head = spec.scenario
    return TrainingScenario(
        name=path.stem,
        title=head.title or path.stem,
        summary=head.summary,
        scenario=head.scenario(),
        seed=head.seed,
        duration_s=None if head.duration_min is None else head.duration_min * 60,
        scripted_doses=head.doses == "scripted",
        perturbations=tuple(p.perturbation() for p in spec.perturbation),
        expectations=tuple(e.expectation() for e in spec.expect),
        patient_states=tuple(sorted((o.state() for o in spec.observation), key=lambda s: s.at_s)),
    )


def library() -> dict[str, TrainingScenario]:
    """Every scenario in the shipped library, by name."""
    return {p.stem: load_scenario(p) for p in sorted(LIBRARY.glob("*.toml"))}


def resolve(name_or_path: str) -> tuple[OverlaySource, dict]:
    """The source (open to instructor injections) and metadata for a library scenario, a simulator
    scenario or a recording (CSV) path. A scenario whose doses are the trainee's has none scripted."""
    lib = library()
    if name_or_path in lib or name_or_path.endswith(".toml"):
        spec = lib.get(name_or_path) or load_scenario(name_or_path)
        sim = SimSource(spec.scenario, seed=spec.seed, duration=spec.duration_s, uri=f"sim://{spec.scenario.name}")
        meta = dict(sim.metadata)
        meta["training"] = spec.training_metadata()
        if not spec.scripted_doses:
            meta["doses"] = []
        return OverlaySource(sim, spec.perturbations), meta
    if name_or_path in SCENARIOS:
        sim = SimSource(name_or_path, seed=0)
        return OverlaySource(sim), dict(sim.metadata)
    replay = open_replay(parse_uri(f"replay://{name_or_path}"))
    return OverlaySource(replay), dict(replay.metadata)


def start_training(store: Store, name_or_path: str, speed: float = 10.0, trainee: str = "") -> Hub:
    """Start a training session (paused-able playback clock) of a scenario or recording; a speed outside
    1-60 raises ``TrainingInputError`` before anything starts."""
    speed = check_speed(speed)
    source, meta = resolve(name_or_path)
    meta.setdefault(
        "training", {"scenario": name_or_path, "title": name_or_path, "summary": "", "expectations": [], "perturbations": []}
    )
    meta["training"]["trainee"] = trainee
    patient = meta.get("patient", {})
    return start_session(
        store,
        [source],
        patient=patient.get("pseudonym", "TRAIN"),
        route=meta.get("route", "iv"),
        weight_kg=patient.get("weight_kg"),
        speed=speed,
        kind="training",
        metadata=meta,
        scripted=True,
        playback=True,
    )


def playback(hub: Hub) -> PlaybackClock | None:
    """The clock a trainer can pause, speed up and skip, if this session has one."""
    return hub.clock if isinstance(hub.clock, PlaybackClock) else None


def inject(hub: Hub, kind: object, who: str) -> str:
    """An instructor's perturbation, from now, on the session's source; recorded (with the instructor's
    name and label) for the debrief. The device condition it causes carries no label, so the trainee sees
    what a real fault shows ("sensor off", "disconnected"), never that it was injected. Returns the label;
    ``ValueError`` if the session's source takes no injections."""
    if not isinstance(kind, str) or kind not in INJECTIONS:
        raise ValueError(f"Unknown injection {str(kind)[:40]!r}.")
    label, spec = INJECTIONS[kind]
    source = next((s for s in hub.sources if isinstance(s, OverlaySource)), None)
    if source is None:
        raise ValueError("This session's source does not take injections.")
    perturbation = Perturbation(kind=spec["kind"], t=hub.now(), duration=spec["duration"], amount=spec.get("amount", 0.0))
    source.overlay.add(perturbation)
    hub.add_event(
        "injection",
        {"kind": perturbation.kind, "label": label, "amount": perturbation.amount, "duration": perturbation.duration},
        f"instructor {who}",
    )
    return label


def recording_path(folder: Path, name: str) -> Path:
    """The recording ``name`` (a CSV path relative to ``folder``, with its JSON sidecar beside it), or
    ``TrainingInputError``: absolute paths, ``..`` and symlinks leading out of the folder are refused."""
    where = f"the recordings folder {folder}"
    relative = Path(name)
    if "\0" in name or relative.is_absolute() or name.startswith(("/", "\\")):
        raise TrainingInputError(f"{name[:80]!r}: only recordings in {where} can be started here, not other paths")
    if ".." in relative.parts:
        raise TrainingInputError(f"{name[:80]!r}: '..' is not allowed; choose a recording in {where}")
    root = folder.resolve()
    csv_path, sidecar = (root / relative).resolve(), (root / relative).with_suffix(".json").resolve()
    if not (csv_path.is_relative_to(root) and sidecar.is_relative_to(root)):
        raise TrainingInputError(f"{name[:80]!r} leads outside {where}")
    if csv_path.suffix != ".csv" or not csv_path.is_file() or not sidecar.is_file():
        raise TrainingInputError(f"{name[:80]!r} is not a recording (a .csv with its .json sidecar) in {where}")
    return csv_path


def recordings(folder: Path | None) -> dict[str, Path]:
    """The recordings a page may start, by name relative to ``folder`` (none without a folder)."""
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for csv_path in sorted(folder.rglob("*.csv")):
        name = csv_path.relative_to(folder).as_posix()
        try:
            out[name] = recording_path(folder, name)
        except TrainingInputError:
            continue  # a symlink out of the folder, or a CSV without a sidecar: not offered
    return out


def choice_source(choice: object, folder: Path | None) -> str:
    """What ``start_training`` should open for a choice made on a page: a library scenario's name or a
    recording's path in ``folder``; ``TrainingInputError`` for anything else."""
    if not isinstance(choice, str) or not choice:
        raise TrainingInputError("Choose a scenario or recording.")
    if choice in library():
        return choice
    if folder is None:
        raise TrainingInputError(f"{choice[:80]!r} is not a library scenario (no recordings folder is configured)")
    return str(recording_path(folder, choice))


@dataclass(frozen=True, slots=True)
class Choice:
    """Something a trainer can start, described: what happens, what it teaches (for a library scenario,
    what the trainee is expected to do), how long it runs."""

    value: str
    title: str
    kind: str  # "scenario" or "recording"
    length_s: float | None
    happens: str
    teaches: str

    @property
    def label(self) -> str:
        return f"{self.title} ({self.kind})"


def _recording_choice(name: str, path: Path) -> Choice:
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    length = meta.get("duration_s")
    return Choice(
        name,
        Path(name).stem,
        "recording",
        float(length) if isinstance(length, int | float) else None,
        str(meta.get("description", "")),
        str(meta.get("teaching", "")),
    )


def choices(folder: Path | None) -> list[Choice]:
    """Everything a trainer can start: library scenarios, then recordings in ``folder``."""
    out = [
        Choice(
            name,
            spec.title,
            "scenario",
            spec.duration_s or spec.scenario.duration_s,
            spec.summary,
            " ".join(e.what for e in spec.expectations),
        )
        for name, spec in library().items()
    ]
    out += [_recording_choice(name, path) for name, path in recordings(folder).items()]
    return out
