"""The packages' imports point one way: cli -> layouts -> monitor -> devices, and devices/ has no circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tests.helpers import ROOT

PACKAGES = ("devices", "monitor", "layouts")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imported(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere in it (top level or inside a function)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        out |= {n for n in names if n in known}
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported(path, set(mods)) - {name} for name, path in mods.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle among ``edges`` (as the list of modules round it), or ``None``."""
    state: dict[str, int] = {}  # 1 being visited, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_function_level_imports():
    edges = graph()
    assert "devices.serial.formats" in edges["devices.formats"]  # imported inside all_formats()
    assert "devices.decoding" in edges["devices.serial.formats"]


def test_devices_has_no_import_circle():
    devices = {m: {n for n in e if n.startswith("devices")} for m, e in graph().items() if m.startswith("devices")}
    assert cycle(devices) is None


@pytest.mark.parametrize(("package", "forbidden", "allowed"), [
    ("devices", ("monitor", "layouts"), ()),
    ("monitor", ("layouts",), ("monitor.cli",)),
])
def test_arrows_point_one_way(package, forbidden, allowed):
    def within(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    wrong = sorted(f"{m} imports {n}" for m, e in graph().items()
                   if within(m, package) and not any(within(m, a) for a in allowed)
                   for n in e if any(within(n, f) for f in forbidden))
    assert wrong == []
