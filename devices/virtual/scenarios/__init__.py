"""The named simulated sessions: one TOML file per scenario in this folder, read and checked here.

A file holds the fields of ``devices.virtual.scenario.Scenario`` (its name is the file's name), a
``[screening]`` table with the answers other than "no", and ``[[dose]]``, ``[[episode]]`` and ``[[event]]``
tables. A file that cannot be used raises ``ScenarioError`` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from devices.errors import KapmonError
from devices.screening import ScreeningError, parse_answers
from devices.screening import complete as screening
from devices.virtual.scenario import EPISODE_KINDS, Dose, Episode, Event, Scenario
from devices.vocabulary import DRUGS, ROUTES

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Scenario", "ScenarioError", "get_scenario", "load_scenario", "screening"]

DEFAULT_SCENARIO = "typical_iv"
TABLES = {"screening", "dose", "episode", "event"}
LISTS = {"extra_nibp"}
# Scenario fields given by the tables (or the file's name) rather than as top-level fields.
FROM_TABLES = {"name", "screening", "doses", "episodes", "events"}


class ScenarioError(KapmonError, ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


def _fail(path: str, field: str, message: str) -> ScenarioError:
    return ScenarioError(f"{path}: field {field}: {message}")


def _kind(field: dataclasses.Field) -> type:
    """The TOML type a scalar dataclass field takes (its annotation is a string under ``annotations``)."""
    return {"str": str, "int": int}.get(str(field.type), float)


def _value(path: str, where: str, raw: object, kind: type) -> Any:
    """``raw`` as ``kind`` (an integer is a float where a float is asked for; a bool is never a number)."""
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if kind is float and number:
        return float(raw)
    if kind is int and number and float(raw).is_integer():
        return int(raw)
    if kind is str and isinstance(raw, str):
        return raw
    return _raise(path, where, f"{raw!r} is not {'a text' if kind is str else 'a whole number' if kind is int else 'a number'}")


def _raise(path: str, where: str, message: str) -> NoReturn:
    raise _fail(path, where, message)


def _fields(path: str, where: str, raw: object, cls: type, skip: set[str] = frozenset(),
            defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The fields of dataclass ``cls`` read from table ``raw``: each typed, none unknown, none missing."""
    if not isinstance(raw, dict):
        _raise(path, where, "must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    out: dict[str, Any] = dict(defaults or {})
    for key, value in raw.items():
        field = fields.get(key)
        name = f"{where}.{key}" if where else key
        if field is None:
            near = difflib.get_close_matches(key, [*fields, *(TABLES if not where else ())], n=1)
            _raise(path, name, "unknown field" + (f" (did you mean {near[0]!r}?)" if near else ""))
        elif key in LISTS:
            if not isinstance(value, list):
                _raise(path, name, "must be a list of numbers")
            out[key] = tuple(_value(path, f"{name}[{i}]", v, float) for i, v in enumerate(value))
        else:
            out[key] = _value(path, name, value, _kind(field))
    missing = [n for n, f in fields.items() if n not in out and f.default is dataclasses.MISSING]
    if missing:
        _raise(path, f"{where}.{missing[0]}" if where else missing[0], "missing")
    return out


def _one_of(path: str, where: str, value: str, known: tuple[str, ...]) -> None:
    if value not in known:
        _raise(path, where, f"{value!r} is not one of {', '.join(known)}")


def _items(path: str, data: dict, table: str, make: Callable[[str, dict], Any]) -> tuple:
    """Every ``[[table]]`` of the file, each made by ``make(where, fields)``."""
    raw = data.get(table, [])
    if not isinstance(raw, list):
        _raise(path, table, f"must be [[{table}]] tables")
    out = []
    for i, item in enumerate(raw):
        where = f"{table}[{i}]"
        try:
            out.append(make(where, item))
        except ValueError as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise _fail(path, where, str(exc)) from None
    return tuple(out)


def parse(text: str, path: str) -> Scenario:
    """The scenario in TOML ``text`` (its name is ``path``'s stem); ``ScenarioError`` naming the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, "(syntax)", f"TOML syntax error: {exc}") from None
    top = {k: v for k, v in data.items() if k not in TABLES}
    head = _fields(path, "", top, Scenario, skip=FROM_TABLES)
    _one_of(path, "route", head["route"], ROUTES)
    _one_of(path, "drug", head["drug"], DRUGS)
    try:
        answers = parse_answers(data.get("screening", {}), path)
    except ScreeningError as exc:
        raise ScenarioError(str(exc)) from None

    def dose(where: str, raw: dict) -> Dose:
        d = _fields(path, where, raw, Dose, defaults={"route": head["route"], "drug": head["drug"]})
        _one_of(path, f"{where}.route", d["route"], ROUTES)
        _one_of(path, f"{where}.drug", d["drug"], DRUGS)
        return Dose(**d)

    def episode(where: str, raw: dict) -> Episode:
        e = _fields(path, where, raw, Episode)
        _one_of(path, f"{where}.kind", e["kind"], EPISODE_KINDS)
        return Episode(**e)

    name = Path(path).stem
    try:
        return Scenario(name=name, screening=screening(head["age"], **answers), **head,
                        doses=_items(path, data, "dose", dose), episodes=_items(path, data, "episode", episode),
                        events=_items(path, data, "event", lambda where, raw: Event(**_fields(path, where, raw, Event))))
    except ScenarioError:
        raise
    except ValueError as exc:
        raise _fail(path, "(scenario)", str(exc)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read one scenario file; ``ScenarioError`` naming the file and the field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(str(path), "(file)", str(exc)) from None
    return parse(text, str(path))


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
