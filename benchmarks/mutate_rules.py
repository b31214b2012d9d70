"""A mutation run over the clinical rules: does the clinician's suite notice when a rule changes?

    python3 benchmarks/mutate_rules.py [--module monitor/rules/alarms.py ...] [--list] [--results FILE]

For every comparison (``<  <=  >  >=  ==  !=``), every ``and``/``or`` and every ``min``/``max`` call in
the rule modules, one mutant at a time is written into a temporary copy of the tree (a comparison
moved across its boundary and turned around, ``and`` <-> ``or``, ``min`` <-> ``max``) and the fast
kill suite is run on it (stopping at the first failure):

- tests/unit/test_alarms.py, tests/unit/test_plan.py, tests/unit/test_summary.py, tests/unit/test_observations.py
  (unit tests of the rules);
- tests/clinical/test_thresholds.py (every threshold of every shipped protocol) and
  tests/clinical/test_rule_edges.py;
- the clinical cases (tests/clinical/cases.py and cases_mutation.py) through ``kapmon alarms``
  (benchmarks/mutation_cases.py);
- tests/unit/test_protocol.py as well for mutants of monitor/rules/protocol.py (loading and validation).

A mutant is killed when the suite fails, or runs over the time or memory limit. Every survivor is
printed with file:line, its function and the mutated expression; a survivor listed in ``ALLOWED``
(equivalent, or clinically irrelevant, with the reason) is reported as allowed. The run fails
(exit 1) when a survivor is not allowed. ``--results`` keeps outcomes in a JSON file so that an
interrupted run resumes where it stopped (a mutant is run again when its source changed, and every
survivor with ``--again``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = (
    "monitor/rules/alarms.py", "monitor/rules/dosing.py", "monitor/rules/plausibility.py", "monitor/rules/session_rules.py", "monitor/rules/plan.py",
    "monitor/rules/baseline.py", "monitor/rules/discharge.py", "monitor/analysis/summary.py", "monitor/rules/protocol.py",
    "monitor/rules/observations.py", "monitor/analysis/charted.py",
)
SUITE = (
    "tests/unit/test_alarms.py", "tests/unit/test_plan.py", "tests/unit/test_summary.py", "tests/clinical/test_thresholds.py",
    "tests/clinical/test_rule_edges.py", "tests/unit/test_observations.py", "benchmarks/mutation_cases.py",
)
MEMORY_LIMIT = 2 * 1024**3  # a mutant that piles up events forever must not take the machine with it
EXTRA = {"monitor/rules/protocol.py": ("tests/unit/test_protocol.py",)}

COMPARE_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt), ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}

# Survivors judged equivalent, clinically irrelevant, or a question reported for the rules' owner to
# decide: "file::function: original -> mutated" -> why (one line).
ALLOWED: dict[str, str] = {
    "monitor/rules/alarms.py::AlarmEngine._inside: band.low_ge <= x -> band.low_ge < x":
        "equivalent: a value at the band's edge is then judged limit by limit, which finds it inside the limit",
    "monitor/rules/alarms.py::AlarmEngine._inside: x <= band.high_le -> x < band.high_le":
        "equivalent: a value at the band's edge is then judged limit by limit, which finds it inside the limit",
    "monitor/rules/session_rules.py::SessionRules._feed: self._expired < expires < x.t -> self._expired < expires <= x.t":
        "equivalent: _expire checks again and does nothing for a BP going out of date at or after the input",
    "monitor/rules/session_rules.py::SessionRules._feed: self._expired < expires < x.t -> self._expired <= expires < x.t":
        "equivalent: _expire checks again and does nothing for an expiry already judged",
    "monitor/rules/alarms.py::whole: x >= 0 -> x > 0":
        "equivalent: at 0 both branches give 0",
    "lim.holds_dosing -> a.condition_active or (lim := self._limit_by_id.get(a.alarm_id)) or lim.holds_dosing":
        "irrelevant: AlarmEngine.holding() is not called anywhere (holds are SessionRules._holds)",
    "monitor/rules/alarms.py::AlarmEngine._ask_repeat: limit.repeat_nibp_min is not None and r.value is not None -> "
    "limit.repeat_nibp_min is not None or r.value is not None":
        "equivalent: an assertion of what the caller guarantees",
    "monitor/rules/alarms.py::AlarmEngine._ask_repeat: due < self.repeat_nibp.due -> due <= self.repeat_nibp.due":
        "irrelevant: equal due times come from one cuff reading; only which of its breaches the reminder names changes",
    "monitor/rules/alarms.py::AlarmEngine._raise_limit: PRIORITY_RANK[latched.priority] > PRIORITY_RANK[priority] -> "
    "PRIORITY_RANK[latched.priority] >= PRIORITY_RANK[priority]":
        "equivalent: at equal rank both branches give the same priority",
    "monitor/rules/alarms.py::AlarmEngine._next_timer.consider: (due, kind, name) < best -> (due, kind, name) <= best":
        "equivalent: equal (due, kind, name) tuples name the same timer",
    "monitor/rules/alarms.py::AlarmEngine._advance_checks: due < t -> due <= t":
        "equivalent: _advance_checks is only called with inclusive=True, where due <= t already holds",
    "monitor/rules/alarms.py::AlarmEngine._delay_over: threshold is not None and value is not None and "
    "violates(limit.comparison, value, threshold) -> threshold is not None or value is not None or "
    "violates(limit.comparison, value, threshold)":
        "equivalent: a pending delay is dropped by any reading that does not violate, so when it runs out the "
        "latest value violates",
    "monitor/rules/session_rules.py::scripted_doses: d.get(\"drug\") or \"\" -> d.get('drug') and ''":
        "equivalent: the doses judge_recording builds only feed the engine, which ignores a dose's drug",
    "monitor/rules/session_rules.py::scripted_doses: d.get(\"route\") or route -> d.get('route') and route":
        "equivalent: the doses judge_recording builds only feed the engine, which ignores a dose's route",
    "monitor/rules/session_rules.py::scripted_observations: o.get(\"who\") or \"\" -> o.get('who') and ''":
        "equivalent: the observations judge_recording builds only feed the engine, which ignores who charted them",
    "monitor/rules/plan.py::_tighter: value < limit.threshold -> value <= limit.threshold":
        "irrelevant: an equal 'tightening' leaves the threshold as it is; only a 'X -> X' reason would be added",
    "monitor/rules/plan.py::_tighter: value > limit.threshold -> value >= limit.threshold":
        "irrelevant: an equal 'tightening' leaves the threshold as it is; only a 'X -> X' reason would be added",
    "monitor/rules/plan.py::_plan_limit: delay < limit.delay_s -> delay <= limit.delay_s":
        "irrelevant: an equal delay leaves the limit as it is; only a 'X s -> X s' reason would be added",
    "monitor/rules/plan.py::make_plan: item.nibp_interval_min < nibp_min -> item.nibp_interval_min <= nibp_min":
        "irrelevant: an equal NIBP cycle leaves the plan as it is; only a 'shortened to X' reason would be added",
    "monitor/analysis/summary.py::load_record: max(ends) -> min(ends)":
        "equivalent: a session has at most one end event (only a session without one can be resumed)",
    "monitor/analysis/summary.py::plan_for: route or next(iter(protocol.routes)) -> route and next(iter(protocol.routes))":
        "equivalent for the shipped protocols (one route each): reached only when the session's plan cannot be made",
    "monitor/analysis/summary.py::_criteria_scan: r.t < last_end -> r.t <= last_end":
        "irrelevant: at the last dose's end the minimum observation (60 min or more in every shipped protocol) is not over",
    "monitor/analysis/summary.py::_criteria_scan: marks[k][0] <= limit -> marks[k][0] < limit":
        "irrelevant: only a transition exactly at the record's end with no reading at that instant (a condition ending)",
    "monitor/rules/plausibility.py::_cuff_order: isinstance(sbp, Reading) and isinstance(dbp, Reading) and sbp.value is not "
    "None and dbp.value is not None -> isinstance(sbp, Reading) or isinstance(dbp, Reading) or sbp.value is not None or "
    "(dbp.value is not None)":
        "equivalent: an assertion of what the table guarantees (it holds only readings with a value)",
    "monitor/analysis/summary.py::describe: s.below_90_s >= 60 -> s.below_90_s > 60":
        "irrelevant: exactly 60 s below 90 % reads '60 s' instead of '1 min', the same figure",
    "monitor/rules/protocol.py::_physical: 0 < v <= span -> 0 < v < span":
        "irrelevant: refuses only a rise equal to the vital's whole physical range, which no clinic would write",
    "monitor/rules/protocol.py::_physical: spec.low <= v <= spec.high -> spec.low < v <= spec.high":
        "irrelevant: refuses only a threshold at a vital's physical minimum (SpO2 0, HR 0), which no clinic would write",
    "monitor/rules/protocol.py::_check_screening: VITALS[lim.vital].low <= value <= VITALS[lim.vital].high -> "
    "VITALS[lim.vital].low < value <= VITALS[lim.vital].high":
        "irrelevant: refuses only a tightening to a vital's physical minimum",
    "monitor/rules/protocol.py::_check_screening: VITALS[lim.vital].low <= value <= VITALS[lim.vital].high -> "
    "VITALS[lim.vital].low <= value < VITALS[lim.vital].high":
        "irrelevant: refuses only a tightening to a vital's physical maximum",
    "monitor/rules/protocol.py::_check_screening: value < lim.threshold -> value <= lim.threshold":
        "irrelevant: refuses only a 'tightening' equal to the default, which changes nothing",
    "monitor/rules/protocol.py::_check_screening: value > lim.threshold -> value >= lim.threshold":
        "irrelevant: refuses only a 'tightening' equal to the default, which changes nothing",
    "monitor/rules/protocol.py::_check_screening: value > lim.delay_s -> value >= lim.delay_s":
        "irrelevant: refuses only a screening delay equal to the limit's, which changes nothing",
}


@dataclass(frozen=True)
class Mutant:
    """One change to one rule module: where, what it was, what it became, and the mutated source."""

    path: str
    line: int
    function: str
    original: str
    mutated: str
    source: str

    @property
    def key(self) -> str:
        return f"{self.path}::{self.function}: {self.original} -> {self.mutated}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- mutants


def _offset(lines: list[str], line: int, col: int) -> int:
    """Character offset of an AST position (``col`` counts UTF-8 bytes)."""
    before = sum(len(x) for x in lines[: line - 1])
    return before + len(lines[line - 1].encode()[:col].decode())


def _changes(node: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(node to replace, its mutated copy) for each mutation of ``node`` itself."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for swap in COMPARE_SWAPS.get(type(op), ()):
                new = copy.deepcopy(node)
                new.ops[i] = swap()
                yield node, new
    elif isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield node, new
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
        new = copy.deepcopy(node.func)
        new.id = "max" if node.func.id == "min" else "min"
        yield node.func, new


def _functions(tree: ast.AST) -> dict[int, str]:
    """The qualified function name enclosing each node (by ``id``)."""
    names: dict[int, str] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{scope}.{child.name}" if scope else child.name
            names[id(child)] = inner or "<module>"
            visit(child, inner)

    visit(tree, "")
    return names


def mutants(path: str) -> list[Mutant]:
    """Every mutant of one module, each checked to differ from the original in exactly the one node."""
    text = (ROOT / path).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    scope = _functions(tree)
    out: list[Mutant] = []
    for node in ast.walk(tree):
        for old, new in _changes(node):
            start = _offset(lines, old.lineno, old.col_offset)
            end = _offset(lines, old.end_lineno, old.end_col_offset)  # type: ignore[arg-type]
            replacement = ast.unparse(new)
            if not isinstance(old, ast.Name):
                replacement = f"({replacement})"
            source = text[:start] + replacement + text[end:]
            _check_one_change(tree, old, new, source, f"{path}:{old.lineno}")
            original = " ".join(ast.get_source_segment(text, node).split())  # type: ignore[union-attr]
            shown = " ".join(ast.unparse(new if old is node else _with(node, old, new)).split())
            out.append(Mutant(path, old.lineno, scope.get(id(node), "<module>"), original, shown, source))
    return sorted(out, key=lambda m: (m.line, m.mutated))


def _with(node: ast.AST, old: ast.AST, new: ast.AST) -> ast.AST:
    """A copy of ``node`` with its child ``old`` replaced by ``new`` (for showing a min/max swap)."""
    shown = copy.deepcopy(node)
    assert isinstance(shown, ast.Call) and isinstance(new, ast.Name)
    shown.func = new
    return shown


def _check_one_change(tree: ast.AST, old: ast.AST, new: ast.AST, source: str, where: str) -> None:
    """The mutated source must parse to the original tree with exactly ``old`` replaced by ``new``."""
    if ast.dump(ast.parse(source)) != ast.dump(_clone_with(tree, old, new)):
        raise SystemExit(f"{where}: the mutated source does not differ in exactly one place")


def _clone_with(tree: ast.AST, old: ast.AST, new: ast.AST) -> ast.AST:
    """The module tree with ``old`` swapped for ``new`` (the original tree is left untouched)."""

    class Swap(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            if node is old:
                return new
            fresh = copy.copy(node)
            for name, value in ast.iter_fields(node):
                if isinstance(value, list):
                    setattr(fresh, name, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
                elif isinstance(value, ast.AST):
                    setattr(fresh, name, self.visit(value))
            return fresh

    return Swap().visit(tree)


# ------------------------------------------------------------------------------------------- running


def _limit_memory() -> None:
    """In the suite's process: at most ``MEMORY_LIMIT`` bytes of address space."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


class Sandbox:
    """A temporary copy of the tree whose rule modules are mutated one at a time."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="kapmon-mutants-"))
        ignore = shutil.ignore_patterns(".git", "__pycache__", "*.db", ".pytest_cache", ".hypothesis", "screenshots")
        for name in ("monitor", "devices", "layouts", "tests", "benchmarks", "sample_data"):
            shutil.copytree(ROOT / name, self.dir / name, ignore=ignore)
        shutil.copy2(ROOT / "pyproject.toml", self.dir / "pyproject.toml")
        subprocess.run([sys.executable, "-m", "compileall", "-q", "monitor", "devices", "tests"], cwd=self.dir, check=True)

    def run(self, suite: tuple[str, ...], timeout: float) -> tuple[bool, str]:
        """Run the suite in the copy: (passed, last lines of its output). A mutant that loops or
        grows without bound is stopped by the time limit or the memory limit, and counts as killed."""
        env = {**os.environ, "PYTHONPATH": str(self.dir), "PYTHONDONTWRITEBYTECODE": "1"}
        args = [sys.executable, "-m", "pytest", *[s for s in suite if (self.dir / s).exists()], "-x", "-q",
                "-p", "no:cacheprovider", "-p", "no:randomly"]
        with subprocess.Popen(args, cwd=self.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True, preexec_fn=_limit_memory) as proc:
            try:
                out = proc.communicate(timeout=timeout)[0]
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                return False, f"timed out after {timeout:.0f} s"
        tail = [line for line in out.splitlines() if line.strip()][-3:]
        return proc.returncode == 0, " | ".join(tail)

    def mutate(self, m: Mutant, suite: tuple[str, ...], timeout: float) -> tuple[bool, str]:
        """Run the suite with ``m`` applied; the original file (and its compiled copy) is restored after."""
        target = self.dir / m.path
        original = target.read_bytes()
        stat = target.stat()
        try:
            target.write_text(m.source, encoding="utf-8")
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 7_000_000_000))  # the cached original no longer matches
            return self.run(suite, timeout)
        finally:
            target.write_bytes(original)
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def suite_for(path: str) -> tuple[str, ...]:
    return SUITE + EXTRA.get(path, ())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="append", choices=MODULES, help="only these modules (default: all)")
    ap.add_argument("--match", help="only mutants whose 'file:line original -> mutated' contains this text")
    ap.add_argument("--list", action="store_true", help="list the mutants and stop")
    ap.add_argument("--results", type=Path, help="JSON file of outcomes, to resume an interrupted run")
    ap.add_argument("--again", action="store_true", help="run the survivors in --results again (after adding tests)")
    ap.add_argument("--timeout", type=float, help="seconds before a mutant's run counts as killed (default: 3 times the "
                    "unmutated run, at least 60)")
    args = ap.parse_args(argv)

    todo = [m for path in (args.module or MODULES) for m in mutants(path)]
    if args.match:
        todo = [m for m in todo if args.match in f"{m.path}:{m.line} {m.original} -> {m.mutated}"]
    if args.list:
        for m in todo:
            print(f"{m.path}:{m.line} {m.function}: {m.original} -> {m.mutated}")
        print(f"{len(todo)} mutants")
        return 0
    known = json.loads(args.results.read_text()) if args.results and args.results.exists() else {}
    box = Sandbox()
    try:
        started = time.monotonic()
        ok, tail = box.run(SUITE + tuple(sorted({s for extra in EXTRA.values() for s in extra})), args.timeout or 900.0)
        if not ok:
            print(f"the kill suite fails on the unmutated rules: {tail}")
            return 2
        took = time.monotonic() - started
        timeout = args.timeout or max(60.0, 3 * took)
        print(f"kill suite passes on the unmutated rules in {took:.0f} s; {len(todo)} mutants (time limit {timeout:.0f} s)", flush=True)
        survivors: list[Mutant] = []
        for n, m in enumerate(todo, 1):
            cached = known.get(m.digest)
            if cached is None or (args.again and cached["survived"]):
                t0 = time.monotonic()
                passed, tail = box.mutate(m, suite_for(m.path), timeout)
                cached = known[m.digest] = {"survived": passed, "tail": tail, "key": m.key, "s": round(time.monotonic() - t0, 1)}
                if args.results:
                    args.results.write_text(json.dumps(known, indent=1))
            state = "SURVIVED" if cached["survived"] else "killed"
            print(f"[{n}/{len(todo)}] {state:8} {m.path}:{m.line} {m.original} -> {m.mutated} ({cached['s']} s)", flush=True)
            if cached["survived"]:
                survivors.append(m)
    finally:
        box.remove()
    return report(todo, survivors)


def report(todo: list[Mutant], survivors: list[Mutant]) -> int:
    """Print the counts and every survivor; 1 if a survivor has no recorded reason."""
    allowed = [m for m in survivors if m.key in ALLOWED]
    gaps = [m for m in survivors if m.key not in ALLOWED]
    print(f"\n{len(todo)} mutants: {len(todo) - len(survivors)} killed, {len(survivors)} survived "
          f"({len(allowed)} allowed as equivalent or clinically irrelevant, {len(gaps)} not explained)")
    for m in allowed:
        print(f"  allowed  {m.path}:{m.line} {m.function}: {m.original} -> {m.mutated}\n           {ALLOWED[m.key]}")
    for m in gaps:
        print(f"  SURVIVOR {m.path}:{m.line} {m.function}: {m.original} -> {m.mutated}")
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
