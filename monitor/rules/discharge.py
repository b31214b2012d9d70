"""Discharge readiness: an advisory that says what is met and what is still missing.

Criteria (from the protocol's ``[discharge]`` table and the plan): the minimum observation since
the last dose has passed; SBP and DBP are within ``bp_within_pct`` of the pre-dose baseline; SpO2
is above ``spo2_above``; and, if the protocol asks, no alarm is active. The decision stays the
clinician's: this only lists the criteria.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.rules.alarms import AlarmEngine
from monitor.rules.baseline import Baseline
from monitor.rules.plan import Plan


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    met: tuple[str, ...]
    missing: tuple[str, ...]

    def describe(self) -> str:
        head = "Discharge criteria met (clinician decides)" if self.ready else "Not ready for discharge"
        return "\n".join([head, *(f"  missing: {m}" for m in self.missing), *(f"  met: {m}" for m in self.met)])


def _observation(plan: Plan, last_dose_end: float | None, now: float) -> tuple[bool, str]:
    need = plan.observation_s / 60
    if last_dose_end is None:
        return False, "no dose recorded"
    done = (now - last_dose_end) / 60
    if done >= need:
        return True, f"observed {done:.0f} min since the last dose (minimum {need:g})"
    return False, f"observation: {need - done:.0f} more min (minimum {need:g} min since the last dose)"


def _bp(plan: Plan, baseline: Baseline | None, latest: Callable[[str], float | None]) -> list[tuple[bool, str]]:
    pct = plan.protocol.discharge.bp_within_pct
    out = []
    for vital in ("sbp", "dbp"):
        base, now = (baseline.get(vital) if baseline else None), latest(vital)
        if base is None:
            out.append((False, f"{vital.upper()}: no pre-dose baseline"))
        elif now is None:
            out.append((False, f"{vital.upper()}: no reading"))
        else:
            change = 100 * (now - base) / base
            ok = abs(change) <= pct
            out.append((ok, f"{vital.upper()} {now:g} is {change:+.0f}% of baseline {base:g} (within +/-{pct:g}% needed)"))
    return out


def readiness(
    plan: Plan,
    baseline: Baseline | None,
    latest: Callable[[str], float | None],
    last_dose_end: float | None,
    active_alarms: int,
    now: float,
) -> Readiness:
    """Check every discharge criterion; ``latest(vital)`` gives the newest valid value."""
    crit = plan.protocol.discharge
    checks = [_observation(plan, last_dose_end, now), *_bp(plan, baseline, latest)]
    spo2 = latest("spo2")
    checks.append(
        (False, "SpO2: no reading")
        if spo2 is None
        else (spo2 > crit.spo2_above, f"SpO2 {spo2:g} (above {crit.spo2_above:g} needed)")
    )
    if crit.no_active_alarm:
        checks.append((active_alarms == 0, f"{active_alarms} alarms active" if active_alarms else "no active alarm"))
    met = tuple(text for ok, text in checks if ok)
    missing = tuple(text for ok, text in checks if not ok)
    return Readiness(ready=not missing, met=met, missing=missing)


def engine_readiness(engine: AlarmEngine, now: float) -> Readiness:
    """Discharge readiness from an alarm engine's current state."""
    return readiness(engine.plan, engine.baseline, engine.latest, engine.last_dose_end, len(engine.active()), now)
