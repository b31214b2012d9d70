"""Figures for the clinical findings, measured through a kapmon tree's own command line.

Builds small recordings (long-form CSV + JSON sidecar, the part of the recording format every
kapmon version reads) in a temporary directory, runs the tree's CLI on them in a subprocess and
prints one line per finding. Given ``--before OLD``, runs both trees and prints a table
``finding | before | after``. A figure the tree's CLI does not offer is printed as
``n/a (not offered: why)``.

    python3 benchmarks/clinical_findings.py [--tree PATH] [--before PATH]

How a session is stored for the summary and FHIR findings: ``kapmon import`` where the tree has
it; otherwise ``kapmon replay RECORDING --speed 60`` into a temporary store, ended once every
reading is stored. The summary figures come from ``kapmon summary --json`` where offered,
otherwise from the rows of the HTML report (``kapmon export --format report``).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MINUTE = 60.0
SOURCES = {"sbp": "nibp", "dbp": "nibp", "map": "nibp", "hr": "ecg", "spo2": "oximeter", "pr": "oximeter"}
REPLAY_SPEED = 60
STEP_TIMEOUT_S = 600


class NotOffered(Exception):
    """The tree's CLI does not offer what a finding needs; the message says why."""


# --- recordings -------------------------------------------------------------------------------


Row = tuple[float, str, float | None]


@dataclass
class Recording:
    """Readings (t, vital, value; None = no value) and the sidecar's route, drug and doses."""

    name: str
    route: str = "iv"
    drug: str = "ketamine"
    doses: list[dict] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def cuff(self, t: float, sbp: float, dbp: float, mean: float | None = None) -> Recording:
        mean = round((sbp + 2 * dbp) / 3) if mean is None else mean
        self.rows += [(t, "sbp", sbp), (t, "dbp", dbp), (t, "map", mean)]
        return self

    def oximeter(self, t: float, spo2: float | None, pr: float | None) -> Recording:
        self.rows += [(t, "spo2", spo2), (t, "pr", pr)]
        return self

    def ecg(self, t: float, hr: float | None) -> Recording:
        self.rows.append((t, "hr", hr))
        return self

    def dose(self, t: float, mg: float, end: float | None = None) -> Recording:
        self.doses.append({"t": t, "route": self.route, "drug": self.drug, "mg": mg, "end": end})
        return self

    @property
    def readings(self) -> int:
        return len(self.rows)

    def write(self, folder: Path, screening: dict[str, object] | None = None) -> Path:
        """Write ``NAME.csv`` and its sidecar ``NAME.json`` into ``folder``; return the CSV's path."""
        rows = sorted(self.rows, key=lambda r: r[0])
        duration = rows[-1][0] if rows else 0.0
        lines = ["t,vital,value,source"] + [
            f"{t:g},{vital},{'-' if value is None else f'{value:g}'},{SOURCES[vital]}" for t, vital, value in rows
        ]
        csv = folder / f"{self.name}.csv"
        csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sidecar = {
            "format": "kapmon-recording/1", "description": f"clinical finding: {self.name}",
            "started": "2025-03-03T09:00:00+00:00", "duration_s": duration,
            "patient": {"pseudonym": f"BENCH-{self.name[:12]}", "age": 42, "weight_kg": 70.0, "sex": "F"},
            "route": self.route, "drug": self.drug, "doses": self.doses,
            "screening": screening or {},
        }
        csv.with_suffix(".json").write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
        return csv


def steady(rec: Recording, start: float, end: float, every: float = MINUTE, spo2: float = 97, pr: float = 72,
           hr: float | None = 72) -> Recording:
    """Oximeter (and ECG) readings at ``every`` seconds over [start, end)."""
    t = start
    while t < end:
        rec.oximeter(t, spo2, pr)
        if hr is not None:
            rec.ecg(t, hr)
        t += every
    return rec


def cuffs_every(rec: Recording, start: float, end: float, every: float, sbp: float = 125, dbp: float = 78) -> Recording:
    t = start
    while t < end:
        rec.cuff(t, sbp, dbp)
        t += every
    return rec


# --- running a tree ---------------------------------------------------------------------------


@dataclass
class Tree:
    """One kapmon checkout and how its CLI is started."""

    path: Path
    module: str = ""
    _help: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        main = self.path / "monitor" / "cli" / "main.py"
        self.module = "monitor.cli.main" if main.exists() else "monitor.cli"

    def screening(self) -> dict[str, object]:
        """The tree's own no-findings screening answers (its typical IV sample, in that tree's vocabulary)."""
        sample = self.path / "sample_data" / "typical_iv.json"
        answers = json.loads(sample.read_text(encoding="utf-8")).get("screening")
        if not isinstance(answers, dict):
            raise SystemExit(f"{sample}: no screening answers to use")
        return answers

    def run(self, *args: str, timeout: float = STEP_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", self.module, *args], cwd=self.path, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.path)}

    def help(self, command: str = "") -> str:
        if command not in self._help:
            done = self.run(*([command] if command else []), "--help")
            self._help[command] = done.stdout if done.returncode == 0 else ""
        return self._help[command]

    def offers(self, command: str) -> bool:
        return re.search(rf"^\s+{command}\s", self.help(), re.MULTILINE) is not None

    def option(self, command: str, flag: str) -> bool:
        return self.offers(command) and flag in self.help(command)

    def check(self, *args: str, timeout: float = STEP_TIMEOUT_S) -> str:
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
            raise NotOffered(f"kapmon {args[0]} failed: {last[0][:160]}")
        return done.stdout


def alarm_log(tree: Tree, rec: Recording, folder: Path, protocol: str = "kap-iv") -> list[dict]:
    """Every line of ``kapmon alarms REC --protocol P --json`` for a recording written into ``folder``."""
    if not tree.option("alarms", "--json"):
        raise NotOffered("no `kapmon alarms --json`")
    csv = rec.write(folder, tree.screening())
    out = tree.check("alarms", str(csv), "--protocol", protocol, "--json")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stored_readings(tree: Tree, db: Path, session_id: str) -> int:
    out = tree.check("sessions", "--db", str(db), "--json")
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return next((int(r.get("readings", 0)) for r in rows if r.get("id") == session_id), 0)


def replay_session(tree: Tree, csv: Path, db: Path, readings: int) -> str:
    """Store a recording through ``kapmon replay`` at full replay speed; end it once all is stored."""
    args = ["replay", str(csv), "--speed", str(REPLAY_SPEED), "--db", str(db), "--port", str(free_port())]
    proc = subprocess.Popen([sys.executable, "-m", tree.module, *args], cwd=tree.path, env=tree.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"session (\S+);", first)
        if match is None:
            raise NotOffered(f"kapmon replay printed no session id: {first.strip()[:120]!r}")
        session_id = match.group(1)
        deadline = time.monotonic() + readings / REPLAY_SPEED + STEP_TIMEOUT_S
        while stored_readings(tree, db, session_id) < readings:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise NotOffered("kapmon replay did not store every reading")
            time.sleep(1.0)
        time.sleep(2.0)  # the flush after the last reading also writes its alarm transitions
        return session_id
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def store_session(tree: Tree, rec: Recording, folder: Path, protocol: str) -> tuple[Path, str]:
    """Store a recording as a session in a new store; (store, session id)."""
    csv, db = rec.write(folder, tree.screening()), folder / f"{rec.name}.db"
    if tree.offers("import"):
        out = tree.check("import", str(csv), "--db", str(db), "--protocol", protocol)
        return db, out.strip().splitlines()[-1]
    if tree.offers("replay") and tree.option("sessions", "--json"):
        return db, replay_session(tree, csv, db, rec.readings)
    raise NotOffered("neither `kapmon import` nor `kapmon replay` to store a session")


@dataclass(frozen=True)
class Summary:
    lowest_spo2: str
    below_90: str
    spo2_episodes: str


def summary_of(tree: Tree, db: Path, session_id: str, folder: Path) -> Summary:
    """The summary's SpO2 figures: ``summary --json`` where offered, else the HTML report's rows."""
    if tree.option("summary", "--json"):
        data = json.loads(tree.check("summary", session_id, "--db", str(db), "--json"))
        spo2 = [a for a in raised(data.get("alarm_transitions", []))
                if a.get("vital") == "spo2" and a.get("kind") == "physiological"]
        return Summary(f"{data['lowest_spo2']:g} %", f"{data['time_spo2_below_90_s']:g} s",
                       "SpO2 episodes " + count_ids(a["alarm_id"] for a in spo2) + " (summary)")
    if not tree.offers("export"):
        raise NotOffered("neither `kapmon summary --json` nor `kapmon export`")
    out = folder / f"{session_id}.html"
    tree.check("export", session_id, "--db", str(db), "--format", "report", "--out", str(out))
    page = out.read_text(encoding="utf-8")
    cells = {html.unescape(a): html.unescape(b) for a, b in re.findall(r"<td>([^<]*)</td><td>([^<]*)</td>", page)}
    episodes = [html.unescape(row) for row in re.findall(r"<tr>(<td>T\+.*?)</tr>", page)]
    spo2_ids = [m.group(1) for row in episodes if (m := re.search(r": (spo2\w*)\)", row))]
    return Summary(cells.get("Lowest SpO2", "?") + " (report)", cells.get("Time SpO2 < 90 %", "?") + " (report)",
                   "SpO2 episodes " + count_ids(spo2_ids) + " (report's alarm list)")


# --- findings ---------------------------------------------------------------------------------


def dosing_before(events: list[dict], t: float) -> str:
    """The dosing decision last printed at or before ``t``, with the ids of its blocks and gates."""
    decisions = [e for e in events if e.get("event") == "dosing" and e.get("t", 0) <= t]
    if not decisions:
        raise NotOffered("`kapmon alarms` prints no dosing decision")
    last = decisions[-1]
    ids = [r.split(":")[0].split()[-1] for r in last.get("reasons", [])]
    return last["state"] + (f" ({', '.join(ids)})" if ids else "")


def predose_case(tree: Tree, folder: Path, protocol: str, route: str, drug: str,
                 cuffs: Iterable[tuple[float, float]]) -> str:
    """Three pre-dose cuffs 5 min apart, then a dose; the decision just before the dose."""
    name = f"predose-{protocol}-" + "-".join(f"{s:g}_{d:g}" for s, d in cuffs)
    rec = Recording(name, route=route, drug=drug)
    for i, (sbp, dbp) in enumerate(cuffs):
        rec.cuff(i * 300.0, sbp, dbp)
    steady(rec, 0, 1200)
    rec.dose(900.0, 28.0 if drug == "esketamine" else 35.0, None if route == "intranasal" else 3300.0)
    return dosing_before(alarm_log(tree, rec, folder, protocol), 899.0)


def finding_predose_kap_iv(tree: Tree, folder: Path) -> str:
    cases = [[(185, 105)] * 3, [(165, 95)] * 3, [(150, 105)] * 3]
    return "; ".join(f"{c[0][0]}/{c[0][1]}: {predose_case(tree, folder, 'kap-iv', 'iv', 'ketamine', c)}" for c in cases)


def finding_predose_esketamine(tree: Tree, folder: Path) -> str:
    cuffs = [(128, 80), (130, 82), (150, 96)]
    return predose_case(tree, folder, "esketamine-intranasal", "intranasal", "esketamine", cuffs)


def sparse_recording(name: str, hours: float, outage: tuple[float, float] | None = None) -> Recording:
    """SpO2/PR/HR once a minute and NIBP every 15 min, with an optional outage (no rows at all)."""
    rec = Recording(name)
    end = hours * 3600
    steady(rec, 0, end)
    cuffs_every(rec, 0, end, 15 * MINUTE)
    if outage is not None:
        rec.rows = [r for r in rec.rows if not (outage[0] <= r[0] < outage[1] and r[1] in ("spo2", "pr", "hr"))]
    return rec.dose(30 * MINUTE, 35.0, 70 * MINUTE)


def raised(events: list[dict]) -> list[dict]:
    return [e for e in events if e.get("event") == "raised"]


def technical_raised(events: list[dict]) -> list[dict]:
    return [e for e in raised(events) if e.get("kind") == "technical"]


def count_ids(ids: Iterable[str]) -> str:
    """``spo2_low x2, spo2_critical x2``, or ``none``."""
    counts = Counter(ids)
    return ", ".join(f"{i} x{n}" for i, n in counts.most_common()) or "none"


def finding_sparse_flood(tree: Tree, folder: Path) -> str:
    tech = technical_raised(alarm_log(tree, sparse_recording("sparse-32h", 32), folder))
    return f"{len(tech)} technical alarms raised: " + count_ids(e["alarm_id"].split(":")[0] for e in tech)


def finding_sparse_outage(tree: Tree, folder: Path) -> str:
    outage = (120 * MINUTE, 130 * MINUTE)
    events = alarm_log(tree, sparse_recording("sparse-outage", 4, outage), folder)
    inside = [e for e in technical_raised(events) if outage[0] <= e["t"] <= outage[1] + MINUTE]
    if not inside:
        return "no technical alarm during the outage"
    first = inside[0]["t"] - outage[0]
    return f"yes, first at +{first:g} s: " + count_ids(e["alarm_id"].split(":")[0] for e in inside)


def desaturation_recording(name: str, dips: list[tuple[float, float]], low: float, minutes: float) -> Recording:
    """One SpO2 reading a minute at 97 %, at ``low`` inside each (start, end) dip; cuffs every 5 min."""
    rec = Recording(name)
    t = 0.0
    while t < minutes * MINUTE:
        inside = any(a <= t < b for a, b in dips)
        rec.oximeter(t, low if inside else 97, 72).ecg(t, 72)
        t += MINUTE
    cuffs_every(rec, 0, minutes * MINUTE, 5 * MINUTE)
    return rec.dose(10 * MINUTE, 35.0, 50 * MINUTE)


def session_summary(tree: Tree, folder: Path, rec: Recording) -> Summary:
    db, session_id = store_session(tree, rec, folder, "kap-iv")
    return summary_of(tree, db, session_id, folder)


def finding_time_below(tree: Tree, folder: Path) -> str:
    rec = desaturation_recording("desat-15min", [(20 * MINUTE, 35 * MINUTE)], 86, 45)
    return f"time SpO2 < 90 %: {session_summary(tree, folder, rec).below_90} (true: 900 s)"


def finding_lowest(tree: Tree, folder: Path) -> str:
    rec = desaturation_recording("desat-89_5", [(20 * MINUTE, 23 * MINUTE)], 89.5, 30)
    return f"lowest SpO2: {session_summary(tree, folder, rec).lowest_spo2} (true: 89.5 %)"


def finding_repeat_episodes(tree: Tree, folder: Path) -> str:
    dips = [(15 * MINUTE, 19 * MINUTE), (24 * MINUTE, 28 * MINUTE)]
    rec = desaturation_recording("desat-twice", dips, 84, 35)
    return f"{session_summary(tree, folder, rec).spo2_episodes} (true: 2)"


def describe_raised(events: list[dict]) -> str:
    if not events:
        return "none raised"
    return ", ".join(f"{e['alarm_id']} {e.get('priority', '?').upper()} {e.get('kind', '?')}" for e in events)


def finding_low_map(tree: Tree, folder: Path) -> str:
    rec = steady(Recording("map-31"), 0, 20 * MINUTE)
    cuffs_every(rec, 0, 10 * MINUTE, 5 * MINUTE)
    rec.cuff(10 * MINUTE, 96, 60, mean=31).dose(5 * MINUTE, 35.0, 45 * MINUTE)
    events = [e for e in raised(alarm_log(tree, rec, folder)) if e.get("vital") == "map"]
    return describe_raised(events)


def artefact_case(tree: Tree, folder: Path, name: str, spo2: float, pr: float) -> str:
    """An oximeter reading every 5 s; for one minute from t = 10 min it sends ``spo2``/``pr``."""
    rec = steady(Recording(name), 0, 10 * MINUTE, every=5.0, hr=None)
    cuffs_every(rec, 0, 15 * MINUTE, 5 * MINUTE)
    steady(rec, 10 * MINUTE, 11 * MINUTE, every=5.0, spo2=spo2, pr=pr, hr=None)
    steady(rec, 11 * MINUTE, 15 * MINUTE, every=5.0, hr=None).dose(2 * MINUTE, 35.0, 40 * MINUTE)
    artefact = (10 * MINUTE, 11 * MINUTE + 30)
    return describe_raised([e for e in raised(alarm_log(tree, rec, folder)) if artefact[0] <= e["t"] <= artefact[1]])


def finding_zeros(tree: Tree, folder: Path) -> str:
    return artefact_case(tree, folder, "zeros", 0, 0)


def finding_pr_277(tree: Tree, folder: Path) -> str:
    return artefact_case(tree, folder, "pr-277", 97, 277)


def finding_repeat_nibp(tree: Tree, folder: Path) -> str:
    rec = steady(Recording("critical-bp"), 0, 30 * MINUTE)
    cuffs_every(rec, 0, 10 * MINUTE, 5 * MINUTE)
    rec.cuff(15 * MINUTE, 185, 105).cuff(25 * MINUTE, 150, 90).dose(5 * MINUTE, 35.0, 45 * MINUTE)
    events = alarm_log(tree, rec, folder)
    asks = [e for e in raised(events) if "repeat" in e["alarm_id"] or "repeat" in e.get("message", "").lower()]
    if not asks:
        return "no repeat NIBP asked (next cuff 10 min later)"
    first = asks[0]
    return f"yes: {first['alarm_id']} {first.get('priority', '?').upper()} at +{first['t'] - 15 * MINUTE:g} s after the 185/105"


def fhir_bundle(tree: Tree, folder: Path) -> dict:
    rec = Recording("fhir")
    for t in (0.0, 0.0, 60.0):  # two PR readings at the same time and source
        rec.oximeter(t, 97, 72).ecg(t, 72)
    rec.cuff(0.0, 125, 78).cuff(120.0, 126, 79)
    steady(rec, 120, 180).dose(60.0, 35.0, 2400.0)
    db, session_id = store_session(tree, rec, folder, "kap-iv")
    out = folder / "fhir.json"
    tree.check("export", session_id, "--db", str(db), "--format", "fhir", "--out", str(out))
    return json.loads(out.read_text(encoding="utf-8"))


def pulse_rate_loinc(resource: dict) -> list[str]:
    """The LOINC codes of an Observation of the oximeter's pulse rate (its text or a display says so)."""
    code = resource.get("code", {})
    words = [code.get("text", "")] + [c.get("display", "") for c in code.get("coding", [])]
    if not any("pulse rate" in w.lower() or "PULS_RATE" in w for w in words):
        return []
    return [c.get("code", "") for c in code.get("coding", []) if c.get("system") == "http://loinc.org"]


def finding_fhir(tree: Tree, folder: Path) -> str:
    entries = fhir_bundle(tree, folder).get("entry", [])
    pulse = {code for e in entries for code in pulse_rate_loinc(e.get("resource", {}))}
    urls = [e.get("fullUrl") for e in entries]
    duplicates = len(urls) - len(set(urls))
    return f"pulse rate LOINC {', '.join(sorted(pulse)) or '?'}; {duplicates} duplicate fullUrl(s) in {len(urls)} entries"


FINDINGS: list[tuple[str, Callable[[Tree, Path], str]]] = [
    ("pre-dose decision, 3 cuffs (kap-iv)", finding_predose_kap_iv),
    ("pre-dose 128/80,130/82,150/96 (esketamine-intranasal)", finding_predose_esketamine),
    ("technical alarms, 32 h at 1/min (NIBP 15 min)", finding_sparse_flood),  # kap-iv asks a cuff more often
    ("10-min real outage at 1/min still alarms?", finding_sparse_outage),
    ("time SpO2 < 90 %, 15-min desaturation at 1/min", finding_time_below),
    ("lowest SpO2 for a value of 89.5", finding_lowest),
    ("episodes for two desaturations 5 min apart", finding_repeat_episodes),
    ("MAP 31 (alarms raised on map)", finding_low_map),
    ("SpO2 0 / PR 0 for 1 min (alarms raised)", finding_zeros),
    ("PR 277 for 1 min (alarms raised)", finding_pr_277),
    ("repeat NIBP asked after 185/105 post-dose?", finding_repeat_nibp),
    ("FHIR: pulse-rate LOINC, duplicate fullUrls", finding_fhir),
]


def measure(tree: Tree) -> dict[str, str]:
    """Every finding's figure for one tree."""
    figures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="kapmon-findings-") as tmp:
        for title, finding in FINDINGS:
            folder = Path(tmp) / re.sub(r"\W+", "-", title)[:40]
            folder.mkdir()
            try:
                figures[title] = finding(tree, folder)
            except NotOffered as exc:
                figures[title] = f"n/a (not offered: {exc})"
            except subprocess.TimeoutExpired as exc:
                figures[title] = f"n/a (timed out after {exc.timeout:g} s)"
            print(f"  measured [{tree.path.name}] {title}", file=sys.stderr, flush=True)
    return figures


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=REPO, help="the kapmon tree to measure (default: this repository)")
    parser.add_argument("--before", type=Path, help="an older tree: print finding | before | after")
    args = parser.parse_args(argv)
    after = Tree(args.tree.resolve())
    if args.before is None:
        for title, figure in measure(after).items():
            print(f"{title}: {figure}")
        return 0
    before = Tree(args.before.resolve())
    old, new = measure(before), measure(after)
    print(table([("finding", f"before ({before.path.name})", f"after ({after.path.name})"),
                 *((title, old[title], new[title]) for title, _ in FINDINGS)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
