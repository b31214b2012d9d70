"""The named simulated sessions: one TOML file per scenario in this folder, read through ``devices.schema``.

A file holds the fields of ``devices.virtual.scenario.Scenario`` (its name is the file's name), a
``[screening]`` table with the answers other than "no", and ``[[dose]]``, ``[[episode]]`` and ``[[event]]``
tables. Each table's model takes its fields, types and defaults from the dataclass it builds. A file that
cannot be used raises ``ScenarioError`` reading ``<file>:<line>: <field.path>: <what is wrong>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

from pydantic import Field, create_model, model_validator

from devices.errors import ConfigError
from devices.patient import AGE_YEARS, dose_problem, weight_problem
from devices.schema import FieldProblem, FileModel, check, one_of, parse_toml, read_text, rule, toml_lines
from devices.screening import ScreeningAnswers
from devices.screening import complete as screening
from devices.virtual.scenario import EPISODE_KINDS, Dose, Episode, Event, Scenario
from devices.vocabulary import DRUGS, ROUTES

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Scenario", "ScenarioError", "get_scenario", "load_scenario", "screening"]

DEFAULT_SCENARIO = "typical_iv"


class ScenarioError(ConfigError):
    """A scenario file that cannot be used, located by file, line and field."""


M = TypeVar("M", bound=FileModel)
TABLES = ("screening", "dose", "episode", "event")


def _table(cls: type, name: str, base: type[M], skip: Iterable[str] = (), **overrides: Any) -> type[M]:
    """A model (derived from ``base``) of dataclass ``cls``'s fields with their types and defaults, less
    ``skip``; ``overrides`` maps a field to the type it is read as (with its validators) and its default."""
    hints = get_type_hints(cls)
    fields: dict[str, Any] = {
        f.name: (hints[f.name], ... if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(cls)
        if f.name not in skip
    }
    return create_model(name, __base__=base, **(fields | overrides))


def _items(table: str, rows: list[dict[str, Any]], make: Callable[..., Any], **defaults: Any) -> tuple:
    """Each ``[[table]]`` row (its set fields) made into its dataclass; a check the dataclass makes names the row."""
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(make(**defaults | row))
        except ValueError as exc:
            raise FieldProblem(f"{table}[{i}]", str(exc)) from None
    return tuple(out)


class _ScenarioFileBase(FileModel):
    """A scenario file whose fields build a :class:`Scenario` (checked when the file is read)."""

    @model_validator(mode="after")
    def _builds(self) -> _ScenarioFileBase:
        self.scenario("scenario")
        return self

    def scenario(self, name: str) -> Scenario:
        """The scenario named ``name`` that this file describes (defaults from the dataclasses where unset)."""
        data = self.model_dump(exclude_unset=True)
        head = {k: v for k, v in data.items() if k not in TABLES}
        if "extra_nibp" in head:
            head["extra_nibp"] = tuple(head["extra_nibp"])
        return Scenario(
            name=name,
            screening=screening(head["age"], **data.get("screening", {})),
            **head,
            doses=_items("dose", data["dose"], Dose, route=head["route"], drug=head["drug"]),
            episodes=_items("episode", data.get("episode", []), Episode),
            events=_items("event", data.get("event", []), Event),
        )


# The patient and the amounts are held to the bounds a recording's sidecar is (devices.patient), so a
# scenario never writes a sidecar that reading it back refuses.
Mg = Annotated[float, rule(dose_problem)]

DoseTable = _table(
    Dose,
    "DoseTable",
    FileModel,
    mg=(Mg, ...),  # route and drug default to the scenario's
    route=(Annotated[str | None, one_of(ROUTES)], None),
    drug=(Annotated[str | None, one_of(DRUGS)], None),
)
EpisodeTable = _table(Episode, "EpisodeTable", FileModel, kind=(Annotated[str, one_of(EPISODE_KINDS)], ...))
EventTable = _table(Event, "EventTable", FileModel)

# A file: the scenario's own fields, then its tables (the name comes from the file's name).
ScenarioFile = _table(
    Scenario,
    "ScenarioFile",
    _ScenarioFileBase,
    skip=("name", "screening", "doses", "episodes", "events"),
    route=(Annotated[str, one_of(ROUTES)], ...),
    drug=(Annotated[str, one_of(DRUGS)], ...),
    extra_nibp=(list[float], []),
    dose_mg=(Mg, ...),
    weight_kg=(Annotated[float, rule(weight_problem)], ...),
    age=(Annotated[int, Field(ge=AGE_YEARS[0], le=AGE_YEARS[1])], ...),
    screening=(ScreeningAnswers | None, None),
    dose=(
        Annotated[list[DoseTable], rule(lambda d: None if d else "no doses: give at least one [[dose]] table")],  # type: ignore[valid-type]
        Field([], validate_default=True),
    ),
    episode=(list[EpisodeTable], []),  # type: ignore[valid-type]
    event=(list[EventTable], []),  # type: ignore[valid-type]
)


def parse(text: str, path: str) -> Scenario:
    """The scenario in TOML ``text`` (its name is ``path``'s stem); ``ScenarioError`` naming the line and field."""
    data = parse_toml(text, path, ScenarioError)
    return check(ScenarioFile, data, path, toml_lines(text), ScenarioError).scenario(Path(path).stem)


def load_scenario(path: str | Path) -> Scenario:
    """Read one scenario file; ``ScenarioError`` naming the file, line and field."""
    return parse(read_text(Path(path), ScenarioError), str(path))


def _shipped() -> dict[str, Scenario]:
    folder = resources.files(__name__)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    return {(s := parse(f.read_text(encoding="utf-8"), f.name)).name: s for f in files}


SCENARIOS: dict[str, Scenario] = _shipped()


def get_scenario(scenario: str | Scenario) -> Scenario:
    """The scenario named ``scenario`` (or ``scenario`` itself); ``ValueError`` listing known names."""
    if isinstance(scenario, Scenario):
        return scenario
    try:
        return SCENARIOS[scenario]
    except KeyError:
        raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})") from None
