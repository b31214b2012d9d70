"""Training: the scenario library (TOML files over the simulator), and starting training sessions
that run through the same hub, alarm engine and live page as a real session.

A library file names a simulator scenario (``base``), optional overrides of its numbers,
perturbations scripted on top (``[[perturbation]]``) and what a trainee should do and when
(``[[expect]]``). Training sessions are stored with ``kind = "training"``, never as clinical ones.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from devices.perturb import OverlaySource, Perturbation
from devices.replay import open_replay
from devices.scenarios import SCENARIOS, Scenario, get_scenario
from devices.simulator import SimSource
from devices.source import PlaybackClock
from devices.uri import parse_uri
from monitor.hub import Hub
from monitor.running import start_session
from monitor.store import Store

LIBRARY = Path(__file__).parent / "scenarios"
ACTIONS = ("acknowledge", "note", "hold_dosing", "stop_dosing", "resume_dosing", "call_help", "manual_nibp", "dose",
           "pause_audio")
SCENARIO_KEYS = {"title", "base", "seed", "duration_min", "summary", "doses", "overrides"}
OVERRIDABLE = {f.name for f in fields(Scenario)} - {"name", "screening", "doses", "episodes", "events"}


# What a trainee can do on the live page beyond any nurse's actions, and what an instructor can inject.
TRAINEE_ACTIONS = {"hold_dosing": "Hold dosing", "resume_dosing": "Resume dosing", "stop_dosing": "Stop dosing",
                   "call_help": "Call for help"}
INJECTIONS = {
    "bp_rise": ("Raise BP +40", {"kind": "bp_rise", "amount": 40, "duration": 900}),
    "desaturation": ("Drop SpO2 to 84", {"kind": "desaturation", "amount": 84, "duration": 300}),
    "probe_off": ("Pull probe 60 s", {"kind": "probe_off", "duration": 60}),
    "disconnect": ("Disconnect oximeter 90 s", {"kind": "disconnect", "duration": 90}),
}


class ScenarioFileError(ValueError):
    """A training scenario file that cannot be used; the message names the file and field."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a trainee should do (any of ``actions``) within ``within_s`` of ``at_s``; ``not:X`` means must not."""

    id: str
    at_s: float
    within_s: float
    actions: tuple[str, ...]
    what: str

    def as_dict(self) -> dict:
        return {"id": self.id, "at_s": self.at_s, "within_s": self.within_s, "actions": list(self.actions),
                "what": self.what}


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

    def training_metadata(self) -> dict:
        """What the session record keeps so its debrief can be made later from the store alone."""
        return {
            "scenario": self.name, "title": self.title, "summary": self.summary,
            "expectations": [e.as_dict() for e in self.expectations],
            "perturbations": [{"kind": p.kind, "t": p.t, "duration": p.duration, "amount": p.amount,
                               "source": p.source, "text": p.text} for p in self.perturbations],
        }


def _fail(path: Path, where: str, message: str) -> ScenarioFileError:
    return ScenarioFileError(f"{path}: {where}: {message}")


def _expectation(path: Path, i: int, raw: dict) -> Expectation:
    where = f"expect[{i}]"
    missing = {"id", "at_min", "within_s", "actions", "what"} - set(raw)
    if missing:
        raise _fail(path, where, f"missing {', '.join(sorted(missing))}")
    actions = tuple(raw["actions"])
    for action in actions:
        base = action.removeprefix("not:").split(":", 1)[0]
        if base not in ACTIONS:
            raise _fail(path, f"{where}.actions", f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    if not actions:
        raise _fail(path, f"{where}.actions", "needs at least one action")
    return Expectation(str(raw["id"]), float(raw["at_min"]) * 60, float(raw["within_s"]), actions, str(raw["what"]))


def _perturbation(path: Path, i: int, raw: dict) -> Perturbation:
    where = f"perturbation[{i}]"
    try:
        return Perturbation(kind=raw["kind"], t=float(raw["at_min"]) * 60, duration=float(raw["duration_s"]),
                            amount=float(raw.get("amount", 0)), source=raw.get("source", "sim-oximeter"),
                            text=raw.get("text", ""))
    except KeyError as exc:
        raise _fail(path, where, f"missing {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise _fail(path, where, str(exc)) from None


def load_scenario(path: str | Path) -> TrainingScenario:
    """Read one library file; raise ``ScenarioFileError`` naming the file and field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, "file", str(exc)) from None
    head = data.get("scenario")
    if not isinstance(head, dict):
        raise _fail(path, "scenario", "missing [scenario] table")
    unknown = set(head) - SCENARIO_KEYS
    if unknown:
        raise _fail(path, f"scenario.{sorted(unknown)[0]}", "unknown field")
    if head.get("base") not in SCENARIOS:
        raise _fail(path, "scenario.base", f"{head.get('base')!r} is not a simulator scenario ({', '.join(SCENARIOS)})")
    overrides = head.get("overrides", {})
    bad = set(overrides) - OVERRIDABLE
    if bad:
        raise _fail(path, f"scenario.overrides.{sorted(bad)[0]}", "cannot be overridden")
    try:
        scenario = replace(get_scenario(head["base"]), **overrides)
    except (TypeError, ValueError) as exc:
        raise _fail(path, "scenario.overrides", str(exc)) from None
    doses = head.get("doses", "scripted")
    if doses not in ("scripted", "trainee"):
        raise _fail(path, "scenario.doses", "must be 'scripted' or 'trainee'")
    return TrainingScenario(
        name=path.stem, title=str(head.get("title", path.stem)), summary=str(head.get("summary", "")),
        scenario=scenario, seed=int(head.get("seed", 0)),
        duration_s=float(head["duration_min"]) * 60 if "duration_min" in head else None,
        scripted_doses=doses == "scripted",
        perturbations=tuple(_perturbation(path, i, p) for i, p in enumerate(data.get("perturbation", []))),
        expectations=tuple(_expectation(path, i, e) for i, e in enumerate(data.get("expect", []))),
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
    """Start a training session (paused-able playback clock) of a scenario or recording."""
    source, meta = resolve(name_or_path)
    meta.setdefault("training", {"scenario": name_or_path, "title": name_or_path, "summary": "",
                                 "expectations": [], "perturbations": []})
    meta["training"]["trainee"] = trainee
    patient = meta.get("patient", {})
    return start_session(
        store, [source], patient=patient.get("pseudonym", "TRAIN"), route=meta.get("route", "iv"),
        weight_kg=patient.get("weight_kg"), speed=speed, kind="training", metadata=meta, scripted=True,
        playback=True,
    )


def playback(hub: Hub) -> PlaybackClock | None:
    """The clock a trainer can pause, speed up and skip, if this session has one."""
    return hub.clock if isinstance(hub.clock, PlaybackClock) else None


def inject(hub: Hub, kind: str, who: str) -> str:
    """An instructor's perturbation, from now, on the session's source; recorded for the debrief.
    Returns its label; ``ValueError`` if the session's source takes no injections."""
    label, spec = INJECTIONS[kind]
    source = next((s for s in hub.sources if isinstance(s, OverlaySource)), None)
    if source is None:
        raise ValueError("This session's source does not take injections.")
    perturbation = Perturbation(kind=spec["kind"], t=hub.now(), duration=spec["duration"],
                                amount=spec.get("amount", 0.0), text=f"injected by {who}")
    source.overlay.add(perturbation)
    hub.add_event("injection", {"kind": perturbation.kind, "label": label, "amount": perturbation.amount,
                                "duration": perturbation.duration}, f"instructor {who}")
    return label


def choices() -> list[tuple[str, str]]:
    """(value, label) of everything a trainer can start: library scenarios, then sample recordings."""
    out = [(name, f"{spec.title} (scenario)") for name, spec in library().items()]
    samples = Path(__file__).resolve().parent.parent / "sample_data"
    out += [(str(p.relative_to(samples.parent)), f"{p.stem} (recording)") for p in sorted(samples.glob("*.csv"))
            if p.with_suffix(".json").exists()]
    return out
