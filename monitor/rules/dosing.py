"""The dosing decision: may the next dose be given now, and if not, why.

Judged on the actual readings, separately from the baseline that rise alarms use:

- **Blood pressure gates and blocks** on the most recent cuff measurement (systolic and diastolic
  taken together). A gate with ``recheck_after_min`` stays open until a reading below its limit is
  taken at least that long after the last reading that breached it (rest, then re-measure).
- **SpO2 gates** on the median of the trusted SpO2 readings in the last ``window_s`` (the baseline
  rule's window), so one noisy sample neither opens nor closes a gate.
- **No pre-dose BP**: where the route asks for one, dosing is gated until a cuff reading exists.
- **Screening** blocks and gates from the plan.
- **Holds**: an alarm whose limit ``holds_dosing`` holds dosing while its condition is present.

Doses: :func:`dose_problems` says where a dose is outside the protocol's bounds for its route (per
dose, per session, infusion length); the rules raise an alarm for a dose recorded outside them or
while dosing is not clear, and the page refuses one unless a physician overrides.

A physician's override lifts the finding it names (holds from alarms cannot be overridden: they
end when the condition ends). The state is ``blocked`` if any block is open, ``gated`` if any
gate or hold is open, else ``clear``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from devices.reading import Reading
from devices.vocabulary import HIGH, MEDIUM, OK
from monitor.rules.plan import BLOCK, GATE, Finding, Plan
from monitor.rules.protocol import DoseBounds, Gate

CLEAR, GATED, BLOCKED = "clear", "gated", "blocked"
PREDOSE_BP = "predose_bp_missing"  # the finding: no pre-dose BP, or the latest one is too old
STATES = (CLEAR, GATED, BLOCKED)


@dataclass(frozen=True, slots=True)
class Decision:
    """The dosing state and the open findings behind it."""

    state: str
    findings: tuple[Finding, ...]

    @property
    def key(self) -> tuple:
        """What makes two decisions different: the state and which findings are open."""
        return self.state, tuple((f.id, f.action) for f in self.findings)

    @property
    def reasons(self) -> list[str]:
        return [f"{f.action} {f.id}: {f.text}" for f in self.findings]

    def headline(self) -> str:
        """One line for a banner or a terminal: ``DOSING BLOCKED: psychosis (...)``."""
        if self.state == CLEAR:
            return "Dosing: clear to dose"
        head = "DOSING BLOCKED" if self.state == BLOCKED else "DOSING ON HOLD"
        first = next((f for f in self.findings if f.action == BLOCK), self.findings[0])
        more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        return f"{head}: {first.text}{more}"


@dataclass(frozen=True, slots=True)
class Cuff:
    """The latest cuff measurement: the values taken together at one time by one source."""

    t: float
    source: str
    sbp: float | None = None
    dbp: float | None = None

    def text(self) -> str:
        return "/".join("-" if v is None else f"{v:g}" for v in (self.sbp, self.dbp))


class PredoseReadings:
    """The readings a dosing decision is judged on (trusted values only)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.cuff: Cuff | None = None
        self._spo2: deque[tuple[float, float]] = deque()
        self._spo2_sorted: list[float] = []  # the window's values in order: its median without sorting each time
        self.breached_at: dict[str, float] = {}  # gate id -> time of the last cuff reading that breached it
        self.spo2_open: set[str] = set()  # SpO2 gates open now (they close only above their limit + hysteresis)
        self.version = 0  # counts the changes a decision on these readings could show (``decide`` reads nothing else)

    def add(self, r: Reading, gates: Sequence[Gate], age: object) -> None:
        """Take one reading into account; ``gates`` and ``age`` say which breaches to remember."""
        if r.status != OK or r.value is None:
            return
        if r.vital == "spo2":
            was_open = frozenset(self.spo2_open)
            self._spo2.append((r.t, r.value))
            insort(self._spo2_sorted, r.value)
            while self._spo2 and self._spo2[0][0] < r.t - self.window_s:
                del self._spo2_sorted[bisect_left(self._spo2_sorted, self._spo2.popleft()[1])]
            spo2 = self.spo2()
            for gate in gates:
                if gate.spo2_below is None or not applies_to_age(gate, age) or spo2 is None:
                    continue
                if spo2 < gate.spo2_below:
                    if gate.id not in self.spo2_open:  # a new spell below the limit (an override was for the last)
                        self.breached_at[gate.id] = r.t
                    self.spo2_open.add(gate.id)
                elif spo2 >= gate.spo2_below + gate.hysteresis:
                    self.spo2_open.discard(gate.id)
            if self.spo2_open or self.spo2_open != was_open:  # an open gate's finding quotes the median
                self.version += 1
        elif r.vital in ("sbp", "dbp"):
            same = self.cuff is not None and self.cuff.t == r.t and self.cuff.source == r.source
            base = self.cuff if same and self.cuff is not None else Cuff(r.t, r.source)
            self.cuff = Cuff(
                base.t, base.source, r.value if r.vital == "sbp" else base.sbp, r.value if r.vital == "dbp" else base.dbp
            )
            for gate in gates:
                if gate.on_bp and applies_to_age(gate, age) and breaches(gate, self.cuff.sbp, self.cuff.dbp, None):
                    self.breached_at[gate.id] = r.t
            self.version += 1

    def spo2(self) -> float | None:
        """Median SpO2 over the window (None without trusted readings)."""
        values = self._spo2_sorted
        n = len(values)
        if not n:
            return None
        return float(values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2)  # as statistics.median


def applies_to_age(gate: Gate, age: object) -> bool:
    """Whether a gate's age band covers the patient, in whole years (64.5 is 64); an unknown age gets
    the gates without a minimum age."""
    if isinstance(age, (int, float)) and not isinstance(age, bool):
        years = math.floor(age)
        return not ((gate.min_age is not None and years < gate.min_age) or (gate.max_age is not None and years > gate.max_age))
    return gate.min_age is None


def breaches(gate: Gate, sbp: float | None, dbp: float | None, spo2: float | None) -> bool:
    """Whether these values are beyond any of the gate's limits."""
    return any(
        (
            gate.sbp_above is not None and sbp is not None and sbp > gate.sbp_above,
            gate.dbp_above is not None and dbp is not None and dbp > gate.dbp_above,
            gate.sbp_at_least is not None and sbp is not None and sbp >= gate.sbp_at_least,
            gate.dbp_at_least is not None and dbp is not None and dbp >= gate.dbp_at_least,
            gate.spo2_below is not None and spo2 is not None and spo2 < gate.spo2_below,
        )
    )


def _gate_finding(gate: Gate, readings: PredoseReadings) -> Finding | None:
    """The finding a pre-dose gate gives on the readings, or None when it is not open."""

    def finding(text: str) -> Finding:
        return Finding(gate.id, gate.action, f"{gate.message} ({text})", gate.cited.source, gate.cited.verified)

    if not gate.on_bp:
        spo2 = readings.spo2()
        return finding(f"SpO2 {spo2:g} over the last {readings.window_s / 60:g} min") if gate.id in readings.spo2_open else None
    cuff = readings.cuff
    if cuff is None:
        return None
    if breaches(gate, cuff.sbp, cuff.dbp, None):
        return finding(f"latest BP {cuff.text()}")
    last = readings.breached_at.get(gate.id)
    missing = [
        name
        for name, needed, value in (
            ("systolic", gate.sbp_above or gate.sbp_at_least, cuff.sbp),
            ("diastolic", gate.dbp_above or gate.dbp_at_least, cuff.dbp),
        )
        if needed and value is None
    ]
    if last is not None and missing:
        return finding(f"BP {cuff.text()}: the re-measure gave no trusted {' or '.join(missing)}; re-measure")
    if gate.recheck_after_min is not None and last is not None and cuff.t - last < gate.recheck_after_min * 60:
        waited = (cuff.t - last) / 60
        return finding(
            f"BP {cuff.text()} was re-measured {waited:.0f} min after a reading above the limit; "
            f"re-measure after {gate.recheck_after_min:g} min rest"
        )
    return None


def bp_expires(plan: Plan, readings: PredoseReadings) -> float | None:
    """When the latest cuff reading becomes too old to dose on (None: no reading, or no limit)."""
    limit = plan.route.predose_bp_max_age_min
    return None if readings.cuff is None or limit is None else readings.cuff.t + limit * 60


def decide(
    plan: Plan, readings: PredoseReadings, holds: Sequence[Finding] = (), now: float | None = None, last_dose: float | None = None
) -> Decision:
    """The dosing decision at ``now``: screening findings, pre-dose gates on the readings, a pre-dose BP
    missing or too old, holds. A physician's override of a pre-dose gate covers the readings it was given
    for: a later reading that breaches the gate again, or a dose given since, needs a new one."""
    age = plan.screening.get("age")
    route = plan.route
    found = [*plan.blocks, *plan.gates]
    expires = bp_expires(plan, readings)
    if route.predose_bp_required and readings.cuff is None:
        found.append(
            Finding(
                PREDOSE_BP,
                GATE,
                "No blood pressure recorded yet: take a pre-dose BP before dosing",
                route.cited.source,
                route.cited.verified,
            )
        )
    elif route.predose_bp_required and expires is not None and now is not None and now >= expires:
        found.append(
            Finding(
                PREDOSE_BP,
                GATE,
                f"The latest BP is {route.predose_bp_max_age_min:g} min old or older: take a new pre-dose BP before dosing",
                route.cited.source,
                route.cited.verified,
            )
        )
    for gate in plan.protocol.gates:
        if applies_to_age(gate, age) and (f := _gate_finding(gate, readings)) is not None:
            found.append(f)
    found += holds
    readings_gates = {g.id for g in plan.protocol.gates} | {PREDOSE_BP}

    def lifted(f: Finding) -> bool:
        o = plan.overridden(f.id)
        if o is None or not f.overridable:
            return False
        if f.id not in readings_gates:
            return True
        return o.t >= readings.breached_at.get(f.id, -math.inf) and (last_dose is None or last_dose <= o.t)

    open_ = tuple(f for f in found if not lifted(f))
    state = BLOCKED if any(f.action == BLOCK for f in open_) else GATED if open_ else CLEAR
    return Decision(state, open_)


@dataclass(frozen=True, slots=True)
class DoseProblem:
    """One way a dose falls outside what the protocol allows (HIGH above a maximum, MEDIUM otherwise)."""

    priority: str
    text: str


def _per_kg(mg: float, weight_kg: float | None) -> str:
    return f" ({mg / weight_kg:.2f} mg/kg)" if weight_kg else ""


def dose_problems(
    bounds: DoseBounds | None,
    mg: float,
    minutes: float | None,
    weight_kg: float | None,
    given_mg: float = 0.0,
) -> list[DoseProblem]:
    """Where a dose of ``mg`` (an infusion over ``minutes``, ``given_mg`` already given this session) is
    outside the protocol's bounds for its route, in words; empty when it is inside them."""
    if bounds is None:
        return []
    out: list[DoseProblem] = []
    total = given_mg + mg

    def check(value: float, span: tuple[float, float] | None, what: str, unit: str) -> None:
        if span is None:
            return
        if value > span[1]:
            out.append(DoseProblem(HIGH, f"{what} {value:g} {unit} is above the protocol maximum {span[1]:g} {unit}"))
        elif value < span[0]:
            out.append(DoseProblem(MEDIUM, f"{what} {value:g} {unit} is below the protocol minimum {span[0]:g} {unit}"))

    if weight_kg:
        check(round(mg / weight_kg, 2), bounds.single_mg_per_kg, "dose", "mg/kg")
        if bounds.session_mg_per_kg is not None and total / weight_kg > bounds.session_mg_per_kg:
            out.append(
                DoseProblem(
                    HIGH,
                    f"session total {total:g} mg ({total / weight_kg:.2f} mg/kg) is above the protocol "
                    f"maximum {bounds.session_mg_per_kg:g} mg/kg",
                )
            )
    elif bounds.single_mg_per_kg is not None or bounds.session_mg_per_kg is not None:
        out.append(DoseProblem(MEDIUM, "weight unknown: the dose per kg cannot be checked"))
    check(mg, bounds.single_mg, "dose", "mg")
    if bounds.session_mg is not None and total > bounds.session_mg:
        out.append(
            DoseProblem(
                HIGH,
                f"session total {total:g} mg{_per_kg(total, weight_kg)} is above the protocol maximum {bounds.session_mg:g} mg",
            )
        )
    if minutes is not None:
        if bounds.infusion_min is None:
            out.append(DoseProblem(MEDIUM, f"an infusion over {minutes:g} min: the protocol gives no infusion on this route"))
        else:
            check(minutes, bounds.infusion_min, "infusion", "min")
    return out
