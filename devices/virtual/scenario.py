"""What a simulated KAP session is: patient, screening answers, doses, the haemodynamic response to the
drug, and the episodes (artefacts, desaturation, vasovagal) the session contains.

The named sessions are data files, ``devices/virtual/scenarios/*.toml`` (read by ``devices.virtual.scenarios``);
their numbers follow the project's clinical reference, section 5 ("Expected physiology"): IV racemic ketamine
0.5 mg/kg over 40 min raises SBP by about +12-16 and DBP by +8-11 mmHg, peaking 30-40 min after the start of
the infusion and back near baseline by about 90 min. ``devices.virtual.simulator`` turns a scenario into readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devices.screening import QUESTIONS
from devices.vocabulary import ROUTES

# Episode kinds the simulator understands.
PROBE_OFF = "probe_off"  # SpO2 probe off the finger: sensor_off condition + no-value SpO2/PR
MOTION = "motion"  # patient moving: motion condition, noisy SpO2/PR/pleth with false dips
PHYSIOLOGY = "physiology"  # a true change in the patient: deltas on SBP/DBP/HR/SpO2
EPISODE_KINDS = (PROBE_OFF, MOTION, PHYSIOLOGY)

SIM_STARTED = "2025-03-03T09:00:00+00:00"  # the fixed start used for generated sample data


@dataclass(frozen=True, slots=True)
class Dose:
    """One administration: ``t`` seconds from session start, ``end`` for an infusion (else None)."""

    t: float
    mg: float
    route: str
    drug: str
    end: float | None = None

    def as_dict(self) -> dict:
        return {"t": self.t, "route": self.route, "drug": self.drug, "mg": self.mg, "end": self.end}


@dataclass(frozen=True, slots=True)
class Episode:
    """Something that happens during a session, from ``t`` for ``duration`` seconds.

    ``probe_off`` and ``motion`` are artefacts (technical); ``physiology`` is a true change:
    the deltas ramp in over ``ramp_in`` seconds, hold, and ramp out over the last ``ramp_out``
    seconds of the episode.
    """

    kind: str
    t: float
    duration: float
    ramp_in: float = 0.0
    ramp_out: float = 0.0
    sbp: float = 0.0
    dbp: float = 0.0
    hr: float = 0.0
    spo2: float = 0.0
    pi_factor: float = 1.0
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EPISODE_KINDS:
            raise ValueError(f"unknown episode kind {self.kind!r} (known: {', '.join(EPISODE_KINDS)})")
        if self.duration <= 0 or self.ramp_in + self.ramp_out > self.duration:
            raise ValueError(f"episode at t={self.t}: ramps longer than the episode")

    @property
    def end(self) -> float:
        return self.t + self.duration

    def envelope(self, offset: float) -> float:
        """0..1: how much of the episode's deltas apply at ``offset`` seconds from session start."""
        x = offset - self.t
        if x < 0 or x >= self.duration:
            return 0.0
        if self.ramp_in and x < self.ramp_in:
            return _smoothstep(x / self.ramp_in)
        left = self.duration - x
        if self.ramp_out and left < self.ramp_out:
            return _smoothstep(left / self.ramp_out)
        return 1.0


@dataclass(frozen=True, slots=True)
class Event:
    """A note in the session's timeline (what happened, what phase began)."""

    t: float
    kind: str
    text: str

    def as_dict(self) -> dict:
        return {"t": self.t, "kind": self.kind, "text": self.text}


def _smoothstep(x: float) -> float:
    x = 0.0 if x < 0 else 1.0 if x > 1 else x
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class Scenario:
    """One simulated session. Times are seconds from session start.

    The drug response: nothing until ``dose_start + onset_s``; a smooth rise to the full
    ``sbp_rise``/``dbp_rise``/``hr_rise`` at ``dose_start + peak_s``; held for ``plateau_s``;
    then exponential decay with half-life ``half_life_s``.
    """

    name: str
    description: str
    route: str
    drug: str
    dose_mg: float
    weight_kg: float
    age: int
    sex: str
    screening: dict
    duration_s: float
    doses: tuple[Dose, ...]
    baseline_sbp: float = 128.0
    baseline_dbp: float = 80.0
    baseline_hr: float = 74.0
    baseline_spo2: float = 97.6
    baseline_pi: float = 3.2
    sbp_rise: float = 14.0
    dbp_rise: float = 10.0
    hr_rise: float = 3.0
    onset_s: float = 300.0
    peak_s: float = 2400.0
    plateau_s: float = 0.0
    half_life_s: float = 1200.0
    nibp_interval_s: float = 300.0
    extra_nibp: tuple[float, ...] = ()
    episodes: tuple[Episode, ...] = ()
    events: tuple[Event, ...] = ()
    teaching: str = ""
    pseudonym: str = "SIM-0001"

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"scenario {self.name}: route {self.route!r} not in {ROUTES}")
        if not self.doses:
            raise ValueError(f"scenario {self.name}: no doses")
        if set(self.screening) != set(QUESTIONS):
            raise ValueError(f"scenario {self.name}: screening must answer exactly the questions {list(QUESTIONS)}")

    @property
    def dose_start(self) -> float:
        return min(d.t for d in self.doses)

    @property
    def dose_end(self) -> float:
        return max(d.t if d.end is None else d.end for d in self.doses)

    def response(self, offset: float) -> float:
        """0..1: the fraction of the peak drug response at ``offset`` seconds from session start."""
        x = offset - self.dose_start
        if x <= self.onset_s:
            return 0.0
        if x < self.peak_s:
            return _smoothstep((x - self.onset_s) / (self.peak_s - self.onset_s))
        x -= self.peak_s + self.plateau_s
        if x <= 0:
            return 1.0
        return 0.5 ** (x / self.half_life_s)

    def metadata(self, seed: int = 0, started: str | None = SIM_STARTED) -> dict:
        """The recording sidecar describing a session simulated from this scenario."""
        if started is not None:
            datetime.fromisoformat(started)  # raises on a malformed timestamp
        return {
            "format": "kapmon-recording/1",
            "scenario": self.name,
            "seed": seed,
            "description": self.description,
            "started": started,
            "duration_s": self.duration_s,
            "patient": {"pseudonym": self.pseudonym, "age": self.age, "weight_kg": self.weight_kg, "sex": self.sex},
            "route": self.route,
            "drug": self.drug,
            "screening": dict(self.screening),
            "doses": [d.as_dict() for d in self.doses],
            "events": [e.as_dict() for e in sorted(self.events, key=lambda e: e.t)],
            "sources": dict(SOURCES),
            "teaching": self.teaching,
        }


# Which simulated device reports which vital.
OXIMETER, ECG, NIBP = "sim-oximeter", "sim-ecg", "sim-nibp"
SOURCES = {"sbp": NIBP, "dbp": NIBP, "map": NIBP, "hr": ECG, "pr": OXIMETER, "spo2": OXIMETER, "pi": OXIMETER, "pleth": OXIMETER}
