"""Training: the scenario library (TOML files over the simulator), and starting training sessions
that run through the same hub, alarm engine and live page as a real session.

A library file names a simulator scenario (``base``), optional overrides of its numbers,
perturbations scripted on top (``[[perturbation]]``) and what a trainee should do and when
(``[[expect]]``). Training sessions are stored with ``kind = "training"``, never as clinical ones.

What a page may start is limited to the library and one recordings folder (``choice_source``): no
other path on the server, no ``..``, no symlink out of the folder. Speeds are checked (``check_speed``)
before they reach a clock.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from devices.errors import KapmonError
from devices.virtual.perturb import OverlaySource, Perturbation
from devices.virtual.replay import open_replay
from devices.virtual.scenarios import SCENARIOS, Scenario, get_scenario
from devices.virtual.simulator import SimSource
from devices.source import PlaybackClock
from devices.uri import parse_uri
from monitor.training.debrief import ACTION_LABELS
from monitor.session.hub import Hub
from monitor.session.start import start_session
from monitor.session.store import Store

LIBRARY = Path(__file__).parent / "scenarios"
SAMPLE_RECORDINGS = Path(__file__).resolve().parents[2] / "sample_data"
# Design proposal: 1x is real time; at 60x a 90-min scenario plays in 90 s, about as fast as a trainee can
# follow and still well within what the 1-s page tick shows.
SPEED_MIN, SPEED_MAX = 1.0, 60.0
ACTIONS = ("acknowledge", "note", "hold_dosing", "stop_dosing", "resume_dosing", "call_help", "manual_nibp", "dose",
           "pause_audio")
SCENARIO_KEYS = {"title", "base", "seed", "duration_min", "summary", "doses", "overrides"}
OVERRIDABLE = {f.name for f in fields(Scenario)} - {"name", "screening", "doses", "episodes", "events"}


# What a trainee can do on the live page beyond any nurse's actions, and what an instructor can inject.
TRAINEE_ACTIONS = ACTION_LABELS
INJECTIONS = {
    "bp_rise": ("Raise BP +40", {"kind": "bp_rise", "amount": 40, "duration": 900}),
    "desaturation": ("Drop SpO2 to 84", {"kind": "desaturation", "amount": 84, "duration": 300}),
    "probe_off": ("Pull probe 60 s", {"kind": "probe_off", "duration": 60}),
    "disconnect": ("Disconnect oximeter 90 s", {"kind": "disconnect", "duration": 90}),
}


class ScenarioFileError(KapmonError, ValueError):
    """A training scenario file that cannot be used; the message names the file and field."""


class TrainingInputError(KapmonError, ValueError):
    """A training request that is refused (unknown scenario, a path outside the recordings folder, a bad
    speed); the message says what was wrong."""


def check_speed(value: object) -> float:
    """``value`` as a playback speed: a finite number from 1 to 60, else ``TrainingInputError``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not SPEED_MIN <= value <= SPEED_MAX:
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
    """Start a training session (paused-able playback clock) of a scenario or recording; a speed outside
    1-60 raises ``TrainingInputError`` before anything starts."""
    speed = check_speed(speed)
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
    perturbation = Perturbation(kind=spec["kind"], t=hub.now(), duration=spec["duration"],
                                amount=spec.get("amount", 0.0))
    source.overlay.add(perturbation)
    hub.add_event("injection", {"kind": perturbation.kind, "label": label, "amount": perturbation.amount,
                                "duration": perturbation.duration}, f"instructor {who}")
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
    return Choice(name, Path(name).stem, "recording", float(length) if isinstance(length, int | float) else None,
                  str(meta.get("description", "")), str(meta.get("teaching", "")))


def choices(folder: Path | None) -> list[Choice]:
    """Everything a trainer can start: library scenarios, then recordings in ``folder``."""
    out = [Choice(name, spec.title, "scenario", spec.duration_s or spec.scenario.duration_s, spec.summary,
                  " ".join(e.what for e in spec.expectations)) for name, spec in library().items()]
    out += [_recording_choice(name, path) for name, path in recordings(folder).items()]
    return out
