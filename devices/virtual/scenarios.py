"""Named KAP sessions for the simulator: patient, screening answers, doses, the haemodynamic
response to the drug, and the episodes (artefacts, desaturation, vasovagal) the session contains.

The numbers follow the project's clinical reference, section 5 ("Expected physiology"):
IV racemic ketamine 0.5 mg/kg over 40 min raises SBP by about +12-16 and DBP by +8-11 mmHg,
peaking 30-40 min after the start of the infusion and back near baseline by about 90 min.
A scenario is plain data; ``devices.virtual.simulator`` turns it into readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from devices.screening import QUESTIONS
from devices.screening import complete as screening
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

KETAMINE = "ketamine"
ESKETAMINE = "esketamine"


def _iv(t: float, mg: float, minutes: float = 40.0) -> tuple[Dose, ...]:
    return (Dose(t=t, mg=mg, route="iv", drug=KETAMINE, end=t + minutes * 60),)


def _infusion_events(start: float, end: float) -> tuple[Event, ...]:
    return (
        Event(0.0, "phase", "pre-dose baseline"),
        Event(start, "phase", "infusion started"),
        Event(end, "phase", "infusion ended; observation"),
    )


_TYPICAL_IV = Scenario(
    name="typical_iv",
    description="Typical IV session: racemic ketamine 0.5 mg/kg over 40 min after a 10-min baseline; "
    "expected BP rise peaking near 40 min, one reading above 160 during peak dissociation, "
    "an SpO2 probe that slips off at 5 min.",
    route="iv",
    drug=KETAMINE,
    dose_mg=35.0,
    weight_kg=70.0,
    age=42,
    sex="F",
    screening=screening(42),
    duration_s=7800.0,
    doses=_iv(600.0, 35.0),
    baseline_sbp=128.0,
    baseline_dbp=80.0,
    baseline_hr=74.0,
    sbp_rise=14.0,
    dbp_rise=10.0,
    hr_rise=3.0,
    onset_s=300.0,
    peak_s=2400.0,
    half_life_s=1200.0,
    episodes=(
        Episode(PROBE_OFF, 300.0, 25.0, text="SpO2 probe slipped off; reseated"),
        Episode(
            PHYSIOLOGY, 2460.0, 540.0, ramp_in=180.0, ramp_out=240.0, sbp=28.0, dbp=9.0, hr=9.0,
            text="anxious during peak dissociation; reassured",
        ),
        Episode(MOTION, 4500.0, 20.0, text="patient shifts position"),
    ),
    events=_infusion_events(600.0, 3000.0)
    + (
        Event(300.0, "note", "SpO2 probe off the finger for ~25 s; reseated"),
        Event(2640.0, "note", "patient anxious during peak dissociation; reassured"),
    ),
    teaching="Expect SBP to rise by ~12-16 and DBP by ~8-11 mmHg, peaking near 40 min after the infusion "
    "starts and back near baseline by ~90 min. The probe-off at 5 min is a technical alarm (reseat the "
    "probe), not a desaturation. The single reading above 160 at ~35 min comes with anxiety during "
    "dissociation: reassure, re-check in 5 min, and look for symptoms before acting on one number.",
    pseudonym="SIM-TIV-01",
)

_TYPICAL_IM = Scenario(
    name="typical_im",
    description="Typical IM session: racemic ketamine 0.75 mg/kg IM after a 10-min baseline; "
    "quicker, shorter BP rise peaking near 15 min.",
    route="im",
    drug=KETAMINE,
    dose_mg=60.0,
    weight_kg=80.0,
    age=35,
    sex="M",
    screening=screening(35),
    duration_s=7200.0,
    doses=(Dose(t=600.0, mg=60.0, route="im", drug=KETAMINE),),
    baseline_sbp=124.0,
    baseline_dbp=78.0,
    baseline_hr=70.0,
    sbp_rise=16.0,
    dbp_rise=10.0,
    hr_rise=6.0,
    onset_s=120.0,
    peak_s=900.0,
    plateau_s=300.0,
    half_life_s=1500.0,
    episodes=(Episode(MOTION, 3000.0, 15.0, text="patient shifts position"),),
    events=(Event(0.0, "phase", "pre-dose baseline"), Event(600.0, "phase", "IM injection (deltoid)")),
    teaching="IM ketamine acts within minutes: expect the BP rise to peak at 10-20 min and fade over the "
    "next hour. A motion artefact at 50 min gives noisy SpO2/PR: check the patient, not just the number.",
    pseudonym="SIM-TIM-01",
)

_TYPICAL_SL = Scenario(
    name="typical_sublingual",
    description="Typical sublingual session: 300 mg ketamine rapid-dissolve tablets held for 15 min; "
    "slow onset, BP rise peaking near 50 min.",
    route="sublingual",
    drug=KETAMINE,
    dose_mg=300.0,
    weight_kg=68.0,
    age=38,
    sex="F",
    screening=screening(38),
    duration_s=9000.0,
    doses=(Dose(t=600.0, mg=300.0, route="sublingual", drug=KETAMINE, end=1500.0),),
    baseline_sbp=122.0,
    baseline_dbp=76.0,
    baseline_hr=72.0,
    sbp_rise=10.0,
    dbp_rise=7.0,
    hr_rise=3.0,
    onset_s=900.0,
    peak_s=3000.0,
    plateau_s=300.0,
    half_life_s=1800.0,
    episodes=(Episode(PROBE_OFF, 4200.0, 12.0, text="SpO2 probe briefly off"),),
    events=(
        Event(0.0, "phase", "pre-dose baseline"),
        Event(600.0, "phase", "tablets placed under the tongue"),
        Event(1500.0, "note", "saliva spat out"),
    ),
    teaching="Sublingual ketamine starts slowly (15-20 min) and peaks around 40-60 min; BP rises are "
    "smaller and later than IV.",
    pseudonym="SIM-TSL-01",
)

_ESKETAMINE_IN = Scenario(
    name="esketamine_intranasal",
    description="Esketamine nasal spray 84 mg (three 28 mg devices 5 min apart); BP rise ~+8/+5 peaking "
    "near 40 min, back to baseline by ~2 h.",
    route="intranasal",
    drug=ESKETAMINE,
    dose_mg=84.0,
    weight_kg=75.0,
    age=55,
    sex="M",
    screening=screening(55),
    duration_s=8400.0,
    doses=tuple(Dose(t=t, mg=28.0, route="intranasal", drug=ESKETAMINE) for t in (600.0, 900.0, 1200.0)),
    baseline_sbp=130.0,
    baseline_dbp=82.0,
    baseline_hr=70.0,
    sbp_rise=9.0,
    dbp_rise=5.0,
    hr_rise=2.0,
    onset_s=420.0,
    peak_s=2400.0,
    plateau_s=300.0,
    half_life_s=1500.0,
    episodes=(Episode(MOTION, 1320.0, 12.0, text="patient reclines"),),
    events=(
        Event(0.0, "phase", "pre-dose baseline"),
        Event(600.0, "phase", "device 1 (28 mg)"),
        Event(900.0, "phase", "device 2 (28 mg)"),
        Event(1200.0, "phase", "device 3 (28 mg)"),
    ),
    teaching="Spravato: BP pre-dose, at 40 min and until stable; observe at least 2 h after the first device.",
    pseudonym="SIM-ESK-01",
)

_HYPERTENSIVE_SURGE = Scenario(
    name="hypertensive_surge",
    description="Hypertensive surge: 63-year-old with treated hypertension, IV 0.5 mg/kg over 40 min; "
    "BP climbs to >=180/110 about 35 min after the infusion starts.",
    route="iv",
    drug=KETAMINE,
    dose_mg=41.0,
    weight_kg=82.0,
    age=63,
    sex="M",
    screening=screening(63, known_hypertension=True),
    duration_s=8400.0,
    doses=_iv(600.0, 41.0),
    baseline_sbp=136.0,
    baseline_dbp=85.0,
    baseline_hr=72.0,
    sbp_rise=52.0,
    dbp_rise=30.0,
    hr_rise=8.0,
    onset_s=240.0,
    peak_s=2100.0,
    plateau_s=300.0,
    half_life_s=1200.0,
    events=_infusion_events(600.0, 3000.0)
    + (Event(2700.0, "note", "patient reports a mild headache"),),
    teaching="SBP >=180 or DBP >=110 during the infusion: hold (pause the infusion), re-check in 5 min, ask "
    "about headache, chest pain, visual change, and call the prescriber. Age and known hypertension predict "
    "larger rises: tighter limits and more frequent cuffs in the peak window.",
    pseudonym="SIM-HTN-01",
)

_DESATURATION = Scenario(
    name="desaturation",
    description="Desaturation: patient on a benzodiazepine with sleep apnoea, IV 0.5 mg/kg over 40 min; "
    "a probe-off artefact at 4 min, then a true desaturation to ~85% at ~25 min after the infusion starts.",
    route="iv",
    drug=KETAMINE,
    dose_mg=45.0,
    weight_kg=90.0,
    age=58,
    sex="M",
    screening=screening(58, cns_depressant=True, sleep_apnoea=True),
    duration_s=7800.0,
    doses=_iv(600.0, 45.0),
    baseline_sbp=126.0,
    baseline_dbp=79.0,
    baseline_hr=76.0,
    baseline_spo2=96.6,
    sbp_rise=12.0,
    dbp_rise=8.0,
    hr_rise=2.0,
    episodes=(
        Episode(PROBE_OFF, 240.0, 40.0, text="SpO2 probe off the finger"),
        Episode(
            PHYSIOLOGY, 2100.0, 540.0, ramp_in=180.0, ramp_out=210.0, spo2=-11.0, hr=12.0, sbp=6.0, dbp=3.0,
            pi_factor=0.8, text="true desaturation: airway obstruction",
        ),
    ),
    events=_infusion_events(600.0, 3000.0)
    + (
        Event(240.0, "note", "SpO2 probe off the finger for ~40 s"),
        Event(2250.0, "note", "snoring, SpO2 falling"),
        Event(2340.0, "note", "jaw thrust, verbal stimulation, supplemental oxygen"),
    ),
    teaching="The probe-off at 4 min is technical: no SpO2 value, not a low SpO2. At ~25 min SpO2 falls "
    "to ~85% over 3 minutes with a good pleth: a true desaturation in a patient on a benzodiazepine with "
    "sleep apnoea. Stimulate, reposition the airway (jaw thrust), give oxygen, pause the infusion and call "
    "for help if it does not recover.",
    pseudonym="SIM-DES-01",
)

_VASOVAGAL = Scenario(
    name="vasovagal_bradycardia",
    description="Vasovagal bradycardia at cannulation: HR falls to ~40 and BP to ~85/50 for a few "
    "minutes, recovering; dosing then starts at 15 min.",
    route="iv",
    drug=KETAMINE,
    dose_mg=30.0,
    weight_kg=60.0,
    age=27,
    sex="F",
    screening=screening(27),
    duration_s=8100.0,
    doses=_iv(900.0, 30.0),
    baseline_sbp=118.0,
    baseline_dbp=74.0,
    baseline_hr=70.0,
    sbp_rise=12.0,
    dbp_rise=8.0,
    hr_rise=3.0,
    extra_nibp=(480.0, 540.0, 720.0),
    episodes=(
        Episode(
            PHYSIOLOGY, 420.0, 420.0, ramp_in=45.0, ramp_out=240.0, sbp=-28.0, dbp=-21.0, hr=-27.0,
            pi_factor=0.5, text="vasovagal reaction at cannulation",
        ),
        Episode(MOTION, 440.0, 15.0, text="patient restless, pale, sweating"),
    ),
    events=(
        Event(0.0, "phase", "pre-dose baseline"),
        Event(420.0, "note", "IV cannulation"),
        Event(470.0, "note", "pale, clammy, lightheaded; legs raised"),
        Event(900.0, "phase", "infusion started"),
        Event(3300.0, "phase", "infusion ended; observation"),
    ),
    teaching="Bradycardia with low BP at cannulation is most often vasovagal: lay the patient flat, raise "
    "the legs, check responsiveness and pulse; it recovers over a few minutes. Delay dosing until HR and BP "
    "are back to baseline.",
    pseudonym="SIM-VV-01",
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _TYPICAL_IV,
        _TYPICAL_IM,
        _TYPICAL_SL,
        _ESKETAMINE_IN,
        _HYPERTENSIVE_SURGE,
        _DESATURATION,
        _VASOVAGAL,
    )
}

DEFAULT_SCENARIO = "typical_iv"


def get_scenario(scenario: str | Scenario) -> Scenario:
    """The scenario named ``scenario`` (or ``scenario`` itself); ``ValueError`` listing known names."""
    if isinstance(scenario, Scenario):
        return scenario
    try:
        return SCENARIOS[scenario]
    except KeyError:
        raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})") from None
