"""One schema mechanism for every configuration kapmon reads: protocols, screening answers, training
scenarios and recording sidecars.

Each kind is a pydantic model derived from :class:`FileModel` (unknown fields refused, types checked
strictly, numbers finite); its clinical cross-field checks are validators on the model that raise
:class:`FieldProblem` naming the field at fault. :func:`check` runs a model over parsed data and turns
the first problem into one :class:`~devices.errors.ConfigError` (or a subclass) reading
``<file>:<line>: <field.path>: <what is wrong>``, the line found in the TOML or JSON text.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from devices.errors import ConfigError, KapmonError

M = TypeVar("M", bound=BaseModel)


class FileModel(BaseModel):
    """A table of a configuration file: unknown fields refused, no coercion between types, finite numbers."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True, populate_by_name=True)


class FieldProblem(KapmonError, ValueError):
    """Raised by a model's validator: what is wrong with ``field`` (relative to the model; "" the model)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def rule(problem: Callable[[Any], str | None], *, nullable: bool = True) -> AfterValidator:
    """A field validator from a rule saying what is wrong with a value (None: nothing); a null passes
    unless not ``nullable``."""

    def check_value(value: Any) -> Any:
        if (value is not None or not nullable) and (why := problem(value)) is not None:
            raise ValueError(why)
        return value

    return AfterValidator(check_value)


def one_of(options: tuple[str, ...]) -> AfterValidator:
    """A field validator: the value is one of ``options``."""
    return rule(lambda v: None if v in options else f"must be one of {', '.join(options)}, got {shown(v)}")


# ---------------------------------------------------------------- locating fields in the text

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"']+)\s*=")
_INLINE_KEY = re.compile(r"([A-Za-z0-9_\-]+)\s*=")


def clean_key(raw: str) -> str:
    """A dotted TOML key without quotes or spaces around its parts."""
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def toml_lines(text: str) -> dict[str, int]:
    """Map each table (``limit[2]``, ``route.iv``) and field (``limit[2].delay_s``, and the keys of an
    inline table, ``screening[3].tighten.hr_high``) to its 1-based line."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if m := _ARRAY_HEADER.match(line):
            name = clean_key(m.group(1))
            counts[name] = counts.get(name, -1) + 1
            table = f"{name}[{counts[name]}]"
            lines.setdefault(table, number)
        elif m := _TABLE_HEADER.match(line):
            table = clean_key(m.group(1))
            lines.setdefault(table, number)
        elif m := TOML_KEY.match(line):
            key = f"{table}.{clean_key(m.group(1))}" if table else clean_key(m.group(1))
            parts = key.split(".")
            for n in range(1, len(parts) + 1):  # a dotted key (a.b = 1) also writes its table (a) here
                lines.setdefault(".".join(parts[:n]), number)
            rest = line[m.end() :].strip()
            if rest.startswith("{"):
                for inner in _INLINE_KEY.finditer(rest):
                    lines.setdefault(f"{key}.{inner.group(1)}", number)
    return lines


def json_lines(text: str) -> dict[str, int]:
    """Map each key of a JSON document (``patient.age``, ``doses[1].mg``) to the 1-based line it is on
    ({} when the text is not JSON)."""
    decoder = json.JSONDecoder()
    lines: dict[str, int] = {}
    known = [0, 1]  # a position whose line is known, and that line: keys come in order, so each newline is counted once

    def line_at(pos: int) -> int:
        at, line = known
        known[:] = [pos, line + text.count("\n", at, pos)]
        return known[1]

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def value(pos: int, where: str) -> int:
        pos = skip(pos)
        if text[pos] not in "{[":
            return decoder.raw_decode(text, pos)[1]
        closing, pos, index = ("}" if text[pos] == "{" else "]"), skip(pos + 1), 0
        while text[pos] != closing:
            if closing == "}":
                key, after = decoder.raw_decode(text, pos)
                path = f"{where}.{key}" if where else str(key)
                lines.setdefault(path, line_at(pos))
                pos = value(skip(after) + 1, path)
            else:
                path = f"{where}[{index}]"
                lines.setdefault(path, line_at(skip(pos)))
                pos, index = value(pos, path), index + 1
            pos = skip(pos)
            pos = skip(pos + 1) if text[pos] == "," else pos
        return pos + 1

    try:
        value(0, "")
    except (ValueError, IndexError):
        return {}
    return lines


def line_of(lines: Mapping[str, int], where: str, fallback: int | None) -> int | None:
    """The line of ``where`` or of its nearest enclosing field or table, else ``fallback``."""
    while where:
        if where in lines:
            return lines[where]
        where = where[: max(where.rfind("."), where.rfind("["), 0)]
    return fallback


# ---------------------------------------------------------------- reading the text

ErrorType = type[ConfigError] | Callable[[str, int | None, str, str], ConfigError]


def parse_toml(text: str, path: str, error: ErrorType = ConfigError) -> dict[str, Any]:
    """TOML text as a dict; a syntax error names its line and the key written on that line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        line = int(m.group(1)) if m else 1
        source_lines = text.splitlines()
        key = TOML_KEY.match(source_lines[line - 1]) if 0 < line <= len(source_lines) else None
        reason = re.sub(r"\s*\(at line.*\)$", "", str(exc))
        raise error(path, line, clean_key(key.group(1)) if key else "(syntax)", f"TOML syntax error: {reason}") from None


def read_text(path: Path, error: ErrorType = ConfigError) -> str:
    """A configuration file's text; one that cannot be read or is not UTF-8 raises ``error``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), None, "(file)", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(str(path), None, "(file)", f"not UTF-8 text ({exc.reason})") from None


def read_toml(path: Path, error: ErrorType = ConfigError) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and its data."""
    text = read_text(path, error)
    return text, parse_toml(text, str(path), error)


def read_json(path: Path, error: ErrorType = ConfigError) -> tuple[str, Any]:
    """A JSON file's text and its data; invalid JSON names its line."""
    text = read_text(path, error)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(str(path), exc.lineno, "(syntax)", f"invalid JSON at column {exc.colno}: {exc.msg}") from None


# ---------------------------------------------------------------- one error from a validation failure

_TYPE_NAMES = {
    "string": "str",
    "bool": "bool",
    "int": "int",
    "float": "float",
    "list": "list",
    "tuple": "list",
    "dict": "table",
    "model": "table",
    "dataclass": "table",
    "literal": "one of the listed values",
}


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("limit", 2, "delay_s")`` -> ``limit[2].delay_s``. (The schemas use no unions but ``X | None``: a union
    would put the member tried into the location.)"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _known_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """The field names a model nested at ``loc`` accepts (for "unknown field (did you mean / known: ...)")."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            info = current.model_fields.get(part)
            current = _inner_model(info.annotation) if info else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return tuple(info.alias or name for name, info in current.model_fields.items())
    return ()


def _inner_model(annotation: Any) -> Any:
    """The model inside ``X``, ``X | None``, ``list[X]``, ``tuple[X, ...]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _inner_model(arg)) is not None:
            return found
    return None


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so an error stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_field(name: str, known: tuple[str, ...]) -> str:
    """``unknown field (did you mean 'dose_mg'?)`` when a known name is close, else the known names."""
    near = difflib.get_close_matches(name, known, n=1)
    if near:
        return f"unknown field (did you mean {near[0]!r}?)"
    return f"unknown field (known: {', '.join(known)})" if known else "unknown field"


def _reason(error: Mapping[str, Any], model: type[BaseModel]) -> tuple[str, str]:
    """(extra field path, message) for one pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if isinstance(ctx.get("error"), FieldProblem):
        return ctx["error"].field, str(ctx["error"])
    if kind == "extra_forbidden":
        return "", unknown_field(str(error["loc"][-1]), _known_fields(model, tuple(error["loc"][:-1])))
    if kind == "missing":
        return "", "missing required field"
    if kind in ("finite_number",):
        return "", f"must be a finite number, got {shown(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        return "", f"must be {sign} {bound:g}, got {shown(value)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return "", f"must be one of {expected}, got {shown(value)}"
    if kind in ("too_short", "too_long"):
        return "", f"must have {ctx.get('min_length', ctx.get('max_length'))} items, got {shown(value)}"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "model_attributes_type":
        name = _TYPE_NAMES.get(kind.split("_")[0], kind.split("_")[0])
        return "", f"must be {name}, got {shown(value)}"
    if kind == "value_error":
        return "", str(ctx.get("error", error["msg"]))
    return "", str(error["msg"])


def _first(errors: list[Any]) -> Any:
    """The error to report: an unknown field first (a misspelt name also shows up as a missing one)."""
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def check(
    model: type[M],
    data: object,
    path: str,
    lines: Mapping[str, int] | None = None,
    error: ErrorType = ConfigError,
    *,
    fallback_line: int | None = 1,
    prefix: str = "",
) -> M:
    """``data`` validated as ``model``; else ``error(path, line, field, reason)`` for its first problem.

    ``lines`` maps field paths to lines in the source text (None: no line is known); a field not in it is
    placed on its nearest enclosing table, else ``fallback_line``. ``prefix`` is put before every field
    path (``screening`` for answers read from inside a larger document)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = _first(exc.errors(include_url=False))
        extra, reason = _reason(first, model)
        where = ".".join(p for p in (prefix, dotted(tuple(first["loc"])), extra) if p)
        line = line_of(lines, where, fallback_line) if lines is not None else None
        raise error(path, line, where, reason) from None
