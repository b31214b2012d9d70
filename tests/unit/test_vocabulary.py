"""The vocabulary is defined once, in devices/vocabulary.py (screening questions in devices/screening.py), and
every other module imports it: a second list of routes, priorities, conditions or kinds, a priority colour or a
freshness table anywhere else fails here. The routes a session accepts are the routes protocols cover."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from devices import vocabulary as v
from devices.io.recording import RecordingError, validate_metadata
from devices.screening import QUESTIONS
from monitor.rules.protocol import DEFAULT_PROTOCOL, ProtocolError, load, parse, shipped
from monitor.session.model import Session
from tests.helpers import ROOT

VOCABULARY = ROOT / "devices" / "vocabulary.py"
SCREENING = ROOT / "devices" / "screening.py"

# Word sets: a literal tuple, list or set (or the keys of a dict) holding at least this many words of one set is a
# second definition of that part of the vocabulary. Fewer is logic over a few of them (the conditions a
# transport raises itself, the alarm events that close an episode), and "low"/"high" are also field names.
WORD_SETS = {
    "routes": (set(v.ROUTES), 2),
    "priorities": (set(v.PRIORITIES), len(v.PRIORITIES)),
    "conditions": (set(v.CONDITIONS), 8),
    "session kinds": (set(v.SESSION_KINDS), 2),
    "alarm kinds": (set(v.ALARM_KINDS), 2),
    "alarm events": (set(v.ALARM_EVENTS), 5),
    "reading statuses": (set(v.STATUSES), 2),
    "screening keys": (set(QUESTIONS), 4),
}
# Names only the vocabulary defines.
DEFINED_ONCE = re.compile(r"^\s*(ROUTES|ROUTE_SPECS|PRIORITIES|PRIORITY_RANK|PRIORITY_COLOURS?|PRIORITY_MARKS?|FRESH_S|"
                          r"VITALS|CONDITIONS|STATUSES|SESSION_KINDS|ALARM_KINDS|ALARM_EVENTS|QUESTIONS)\s*[:=]", re.M)
HEX = re.compile("|".join(re.escape(c) for c in v.PRIORITY_COLOUR.values()), re.IGNORECASE)


def sources() -> list[Path]:
    return [p for pkg in ("devices", "monitor", "layouts", "benchmarks") for p in sorted((ROOT / pkg).rglob("*.py"))]


def word_lists(path: Path, words: set[str], least: int) -> list[int]:
    """Lines of ``path`` where a literal collection (or a dict's keys) holds ``least`` or more of ``words``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        items = node.keys if isinstance(node, ast.Dict) else node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else []
        found = {k.value for k in items if isinstance(k, ast.Constant) and isinstance(k.value, str)} & words
        if len(found) >= least:
            lines.append(node.lineno)
    return lines


def second_definitions(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        own = {VOCABULARY: set(WORD_SETS) - {"screening keys"}, SCREENING: {"screening keys"}}.get(path, set())
        out += [f"{where}:{line}: a list of {name}" for name, (words, least) in WORD_SETS.items()
                if name not in own for line in word_lists(path, words, least)]
        if path not in (VOCABULARY, SCREENING):
            out += [f"{where}: defines {m.group(1)}" for m in DEFINED_ONCE.finditer(text)]
            out += [f"{where}: priority colour {m.group(0)}" for m in HEX.finditer(text)]
    return out


def test_nothing_outside_the_vocabulary_defines_vocabulary():
    assert second_definitions(sources()) == []


@pytest.mark.parametrize("text", [
    'ROUTES = ("iv", "im", "sublingual", "intranasal")\n',
    'ALLOWED = {"iv", "subcutaneous", "oral"}\n',
    'DRUG = {"intranasal": "esketamine", "iv": "ketamine"}\n',
    'FILL = {"high": "#E0191B"}\n',
    'FRESH_S = {"spo2": 10}\n',
    'KNOWN = ["psychosis", "glaucoma", "porphyria", "pregnancy"]\n',
    'SEEN = ("sensor_off", "motion", "stale", "disconnected", "low_battery", "searching", "invalid", "probe_error")\n',
    'ORDER = ("low", "medium", "high")\n',
    'def f(kind):\n    return kind in ("clinical", "demo")\n',
])
def test_the_check_finds_a_second_definition(tmp_path, text):
    path = tmp_path / "elsewhere.py"
    path.write_text(text)
    assert second_definitions([path]) != []


def test_using_the_vocabulary_is_not_a_second_definition(tmp_path):
    path = tmp_path / "user.py"
    path.write_text('from devices.vocabulary import HIGH, LOW, ROUTES\nSEVERITY = {HIGH: "high", LOW: "low"}\n'
                    'ok = "iv" in ROUTES\n')
    assert second_definitions([path]) == []


def test_the_page_colours_are_the_vocabulary_colours():
    css = (ROOT / "layouts" / "assets" / "kapmon.css").read_text(encoding="utf-8")
    for priority, colour in v.PRIORITY_COLOUR.items():
        assert re.search(rf"--{priority}:\s*{colour};", css, re.IGNORECASE), priority


def test_every_priority_has_a_rank_a_colour_and_a_mark():
    assert set(v.PRIORITY_RANK) == set(v.PRIORITY_COLOUR) == set(v.PRIORITY_MARK) == set(v.PRIORITIES)


def sidecar(route: str) -> dict:
    return {"format": "kapmon-recording/1", "route": route}


def session(route: str) -> Session:
    return Session("s1", "P-1", 0.0, route)


@pytest.mark.parametrize("route", v.ROUTES)
def test_every_route_a_session_accepts_has_a_protocol_for_it(route):
    assert session(route).route == route
    assert route in load(DEFAULT_PROTOCOL[route]).routes
    assert validate_metadata(sidecar(route), "sidecar.json")["route"] == route


def test_every_protocol_route_is_a_session_route():
    covered = {route for name in shipped() for route in load(name).routes}
    assert covered == set(v.ROUTES) == set(DEFAULT_PROTOCOL)


@pytest.mark.parametrize("route", ["subcutaneous", "IV", "", "oral "])
def test_a_route_outside_the_vocabulary_is_refused_everywhere(route):
    with pytest.raises(ValueError, match="route"):
        session(route)
    with pytest.raises(RecordingError, match="route"):
        validate_metadata(sidecar(route), "sidecar.json")
    text = (ROOT / "monitor" / "rules" / "protocols" / "kap-oral.toml").read_text(encoding="utf-8")
    with pytest.raises(ProtocolError, match="route"):
        parse(text.replace("[route.oral", f'[route."{route}"'), "kap-oral.toml")


def test_the_default_drug_follows_the_route():
    assert v.default_drug("intranasal") == v.ESKETAMINE
    assert v.default_drug("iv") == v.KETAMINE
    assert v.default_drug("unknown") == v.KETAMINE
