"""kapmon's vocabulary, defined once: reading statuses, vitals (unit, label, physical range), device
conditions, observation scales, routes of administration, drugs, session kinds, alarm priorities (rank, colour, mark) and kinds,
and how long a vital's latest value counts as current on a page.

Every package imports these from here (``devices`` is the leaf every other package may import); the
screening questions are the other half of the vocabulary and live with their parser in
``devices.screening``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OK = "ok"
NO_VALUE = "no_value"
QUESTIONABLE = "questionable"  # a number kept in the record but not trusted: never alarmed on, summarised or a baseline
STATUSES = (OK, NO_VALUE, QUESTIONABLE)


@dataclass(frozen=True, slots=True)
class VitalSpec:
    """What one vital is: its unit and the physically possible range of its values."""

    name: str
    label: str
    unit: str
    low: float
    high: float


VITALS: dict[str, VitalSpec] = {
    spec.name: spec
    for spec in (
        VitalSpec("sbp", "Systolic BP", "mmHg", 0, 300),
        VitalSpec("dbp", "Diastolic BP", "mmHg", 0, 250),
        VitalSpec("map", "Mean arterial pressure", "mmHg", 0, 300),
        VitalSpec("hr", "Heart rate", "/min", 0, 350),
        VitalSpec("pr", "Pulse rate", "/min", 0, 350),
        VitalSpec("spo2", "SpO2", "%", 0, 100),
        VitalSpec("pi", "Perfusion index", "%", 0, 100),
        VitalSpec("pleth", "Plethysmogram", "au", -1e6, 1e6),
        VitalSpec("rr", "Respiratory rate", "/min", 0, 150),
        VitalSpec("etco2", "End-tidal CO2", "mmHg", 0, 150),
        VitalSpec("cuff", "Cuff pressure", "mmHg", 0, 350),
        VitalSpec("temp", "Temperature", "Cel", 0, 50),  # recorded, not drawn or alarmed on
    )
}

NIBP_VITALS = ("sbp", "dbp", "map")
# Vitals sampled as a waveform (many samples a second, drawn as a trace, never shown as a number): the store
# keeps them as blocks of samples, the recorder drops them first when it cannot store everything. ECG,
# respiration or capnography traces join here when a source yields them.
WAVEFORMS = ("pleth",)


SCORE_UNIT = "{score}"  # UCUM's annotation for a unitless score: the unit of every observation scale's level


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """One structured observation a nurse charts at the bedside: what it observes, the words of each level
    (level 0 first), which end is worse, the level that means "not affected", and its code where one exists."""

    name: str
    label: str  # short, for buttons, tiles and alarm messages: "MOAA/S"
    title: str  # what it observes: "Sedation"
    levels: tuple[str, ...]
    worse: str  # "low": lower levels are worse (MOAA/S), "high": higher levels are worse
    source: str
    code: tuple[str, str, str] | None = None  # (system, code, display) for FHIR; None: the Observation says it in text

    @property
    def top(self) -> int:
        return len(self.levels) - 1

    @property
    def name_text(self) -> str:
        """What it observes and on which scale, once: "Sedation (MOAA/S)", "Nausea"."""
        return self.title if self.label == self.title else f"{self.title} ({self.label})"

    @property
    def normal(self) -> int:
        """The level that means the patient is not affected."""
        return self.top if self.worse == "low" else 0

    def words(self, level: int) -> str:
        """What ``level`` means, in the scale's words."""
        return self.levels[level]

    def level_text(self, level: int) -> str:
        """A charted level with its words, once: "MOAA/S 2 (responds only to mild prodding or shaking)"."""
        return f"{self.label} {level} ({self.words(level)})"

    def worst(self, levels: Iterable[int]) -> int:
        """The worst of some levels of this scale."""
        return min(levels) if self.worse == "low" else max(levels)

    def affected(self, level: int) -> bool:
        """Whether ``level`` shows any effect (sedated, dissociated, nauseated...)."""
        return level != self.normal


# The observations kapmon knows. A protocol names the ones it wants charted and how often ([[observation]]) and
# what a level triggers ([[limit]] on the scale's name). Sources: clinical-reference §3, §5.4 and §1.1.
# No scale carries a code: no LOINC or SNOMED CT code for MOAA/S was found in a source, and the other four are
# bedside ratings of kapmon's own (not CADSS or another coded instrument), so a code for a different instrument
# would misstate them. A FHIR export names each in text (``name_text``); a scale that gains a sourced code sets
# ``code`` with the source beside it.
SCALES: dict[str, ScaleSpec] = {
    spec.name: spec
    for spec in (
        ScaleSpec(
            "moaas",
            "MOAA/S",
            "Sedation",
            (
                "no response to a painful trapezius squeeze",
                "responds only to a painful trapezius squeeze",
                "responds only to mild prodding or shaking",
                "responds only when the name is called loudly or repeatedly",
                "lethargic response to the name in a normal tone",
                "responds readily to the name in a normal tone",
            ),
            "low",
            "clinical-reference §3, §5.4: USMed-35 (MOAA/S 5 = responds readily to name ... 0 = no response to "
            "trapezius squeeze; any drop from pre-dose = sedation); JNJ-sedation (sedation peaks 30-45 min)",
        ),
        ScaleSpec(
            "dissociation",
            "Dissociation",
            "Dissociation",
            (
                "none",
                "mild: altered perception, oriented, talks",
                "moderate: detached or confused, answers when asked",
                "severe: cannot communicate or is distressed",
            ),
            "high",
            "clinical-reference §5.4: PI-mirror-B, Janssen-MI (dissociation in 61-75 %, peak ~40 min, resolves in "
            "1.5-2 h; trials used CADSS); a four-level bedside rating is a design proposal",
        ),
        ScaleSpec(
            "nausea",
            "Nausea",
            "Nausea",
            ("none", "nausea", "retching", "vomiting"),
            "high",
            "clinical-reference §5.4: MDedge-esk, ASPIRE (nausea 27-32 %, vomiting 6-12 %); the levels are a design proposal",
        ),
        ScaleSpec(
            "anxiety",
            "Anxiety",
            "Anxiety",
            ("calm", "mild: settles by itself", "moderate: needs reassurance", "severe: panic, cannot be settled"),
            "high",
            "clinical-reference §5.4: Dovepress (psychotomimetic effects 14.8 % with IV ketamine); the levels are a "
            "design proposal",
        ),
        ScaleSpec(
            "breathing",
            "Breathing",
            "Breathing",
            ("normal", "shallow or slow", "snoring or obstructed", "not breathing"),
            "high",
            "clinical-reference §1.1, §5.3: NHS-resp, BurgSimpson (respiratory depression boxed warning); ACEP "
            "(apnoea or respiratory depression 0.8 %); the levels are a design proposal",
        ),
    )
}

# Every measure a limit may be set on: the vitals, and each observation scale with its levels as the range.
MEASURES: dict[str, VitalSpec] = {
    **VITALS,
    **{s.name: VitalSpec(s.name, s.label, SCORE_UNIT, 0, s.top) for s in SCALES.values()},
}

# Device and technical conditions. Decoders and transports report these by name; the
# alarm engine turns them into technical alarms. A condition is never a physiological value.
CONDITIONS: dict[str, str] = {
    "sensor_off": "sensor off the patient",
    "sensor_disconnected": "sensor disconnected from the device",
    "sensor_displaced": "sensor displaced",
    "sensor_fault": "sensor or cable fault",
    "searching": "searching for a pulse",
    "probe_error": "probe error",
    "low_perfusion": "low perfusion",
    "poor_signal": "poor or inadequate signal",
    "interference": "signal interference",
    "motion": "body movement",
    "cuff_loose": "cuff too loose",
    "irregular_pulse": "irregular pulse",
    "improper_position": "improper measurement position",
    "pulse_rate_out_of_range": "pulse rate outside the cuff's range",
    "questionable": "questionable measurement",
    "invalid": "invalid measurement",
    "unavailable": "measurement unavailable",
    "out_of_range": "value out of the device's range",
    "equipment_malfunction": "equipment malfunction",
    "low_battery": "low battery",
    "nibp_error": "blood-pressure measurement failed",
    "disconnected": "device disconnected",
    "stale": "no data from the device",
    "device_alarm": "the device itself is alarming",
}


KETAMINE, ESKETAMINE = "ketamine", "esketamine"
DRUGS = (KETAMINE, ESKETAMINE)


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route of administration: its words, the drug usually given by it, the shipped protocol used when
    none is named, and its SNOMED CT code (for FHIR exports)."""

    name: str
    label: str
    drug: str
    protocol: str
    snomed: tuple[str, str]


ROUTE_SPECS: dict[str, RouteSpec] = {
    spec.name: spec
    for spec in (
        RouteSpec("iv", "IV", KETAMINE, "kap-iv", ("47625008", "Intravenous route")),
        RouteSpec("im", "IM", KETAMINE, "kap-im", ("78421000", "Intramuscular route")),
        RouteSpec("sublingual", "sublingual", KETAMINE, "kap-sublingual", ("37839007", "Sublingual route")),
        RouteSpec("oral", "oral", KETAMINE, "kap-oral", ("26643006", "Oral route")),
        RouteSpec("intranasal", "intranasal", ESKETAMINE, "esketamine-intranasal", ("46713006", "Nasal route")),
    )
}
ROUTES = tuple(ROUTE_SPECS)


def default_drug(route: str) -> str:
    """The drug usually given by ``route`` (ketamine for a route kapmon does not know)."""
    spec = ROUTE_SPECS.get(route)
    return spec.drug if spec else KETAMINE


CLINICAL, TRAINING, DEMO = "clinical", "training", "demo"
SESSION_KINDS = (CLINICAL, TRAINING, DEMO)

HIGH, MEDIUM, LOW = "high", "medium", "low"
PRIORITIES = (HIGH, MEDIUM, LOW)
PRIORITY_RANK = {HIGH: 3, MEDIUM: 2, LOW: 1}
# IEC 60601-1-8 colours: red for high, yellow for medium, cyan for low priority. layouts/assets/kapmon.css
# repeats them as --high, --medium, --low (a test keeps the two equal).
PRIORITY_COLOUR = {HIGH: "#e0191b", MEDIUM: "#f5c400", LOW: "#00bcd4"}
# IEC 60601-1-8 priority marks beside the colour, so priority is never told by colour alone.
PRIORITY_MARK = {HIGH: "!!!", MEDIUM: "!!", LOW: "!"}

PHYSIOLOGICAL, TECHNICAL = "physiological", "technical"
ALARM_KINDS = (PHYSIOLOGICAL, TECHNICAL)
# The transitions of one alarm. "latched": a latching alarm's condition ended; its signal stays until
# acknowledged (the episode is over).
ALARM_EVENTS = (
    "raised",
    "escalated",
    "latched",
    "acknowledged",
    "audio_paused",
    "audio_resumed",
    "cleared",
    "reset",
    "overridden",
)

# How long (seconds) a vital's latest value is shown as current before its tile says it is old. Design
# proposal: SpO2 and HR stream every second, so 10 s without one is a lost stream; a cuff measures every
# few minutes, so its value stays current for 30 min; any other vital for 30 s.
FRESH_S = {"spo2": 10.0, "hr": 10.0, "sbp": 1800.0}
FRESH_DEFAULT_S = 30.0
