"""The IEEE 11073-10101 (MDC) terms kapmon reads from HL7 v2 observations: metric codes to vitals,
unit codes to units, and the attribute names of a PCD-04 alarm.

Codes are reference ids (partition x 65536 + term code), as OBX-3 and OBX-6 carry them
(``150456^MDC_PULS_OXIM_SAT_O2^MDC``); clinical-reference §8 and the IHE PCD TF-2 examples. A term
is also recognised by its reference name, since vendors disagree on codes more often than on names
(e.g. ``150031^MDC_PRESS_CUFF_SYS``, ``150017^MDC_PRESS_BLD_NONINV_SYS`` in public messages).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    """One MDC metric kapmon records: the vital it is, and whether a cuff measured it."""

    code: str
    name: str
    vital: str
    cuff: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("150021", "MDC_PRESS_BLD_NONINV_SYS", "sbp", cuff=True),
    Metric("150022", "MDC_PRESS_BLD_NONINV_DIA", "dbp", cuff=True),
    Metric("150023", "MDC_PRESS_BLD_NONINV_MEAN", "map", cuff=True),
    Metric("150301", "MDC_PRESS_CUFF_SYS", "sbp", cuff=True),
    Metric("150302", "MDC_PRESS_CUFF_DIA", "dbp", cuff=True),
    Metric("150303", "MDC_PRESS_CUFF_MEAN", "map", cuff=True),
    Metric("149546", "MDC_PULS_RATE_NON_INV", "pr", cuff=True),
    Metric("150456", "MDC_PULS_OXIM_SAT_O2", "spo2"),
    Metric("149530", "MDC_PULS_OXIM_PULS_RATE", "pr"),
    Metric("147842", "MDC_ECG_HEART_RATE", "hr"),
    Metric("151562", "MDC_RESP_RATE", "rr"),
    Metric("151578", "MDC_TTHOR_RESP_RATE", "rr"),
    Metric("150344", "MDC_TEMP", "temp"),
)
BY_CODE = {m.code: m for m in METRICS}
BY_NAME = {m.name: m for m in METRICS}


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit an observation may carry: the kind of quantity, and how to reach kapmon's unit."""

    kind: str  # pressure, percent, rate, temperature
    scale: float = 1.0
    offset: float = 0.0

    def convert(self, value: float) -> float:
        return (value + self.offset) * self.scale


MMHG = Unit("pressure")
KPA = Unit("pressure", scale=7.50062)  # 1 kPa = 7.50062 mmHg
PERCENT = Unit("percent")
PER_MIN = Unit("rate")
CELSIUS = Unit("temperature")
FAHRENHEIT = Unit("temperature", scale=5 / 9, offset=-32.0)

# OBX-6 identifier (MDC code or name) or text (UCUM or what vendors write) -> unit.
UNITS: dict[str, Unit] = {
    "266016": MMHG,
    "MDC_DIM_MMHG": MMHG,
    "mmHg": MMHG,
    "mm[Hg]": MMHG,
    "mm Hg": MMHG,
    "265987": KPA,
    "MDC_DIM_KILO_PA": KPA,
    "kPa": KPA,
    "262688": PERCENT,
    "MDC_DIM_PERCENT": PERCENT,
    "%": PERCENT,
    "264864": PER_MIN,
    "MDC_DIM_BEAT_PER_MIN": PER_MIN,
    "bpm": PER_MIN,
    "{beats}/min": PER_MIN,
    "/min": PER_MIN,
    "264928": PER_MIN,
    "MDC_DIM_RESP_PER_MIN": PER_MIN,
    "{breaths}/min": PER_MIN,
    "rpm": PER_MIN,
    "1/min": PER_MIN,
    "268192": CELSIUS,
    "MDC_DIM_DEGC": CELSIUS,
    "Cel": CELSIUS,
    "degC": CELSIUS,
    "°C": CELSIUS,
    "266560": FAHRENHEIT,
    "MDC_DIM_FAHR": FAHRENHEIT,
    "[degF]": FAHRENHEIT,
    "degF": FAHRENHEIT,
    "°F": FAHRENHEIT,
}

# The kind of unit each vital must come in.
UNIT_KIND = {
    "sbp": "pressure",
    "dbp": "pressure",
    "map": "pressure",
    "spo2": "percent",
    "pr": "rate",
    "hr": "rate",
    "rr": "rate",
    "temp": "temperature",
}

# Metric rows that only build the containment tree (MDS, VMD, channel) carry no value: not an error.
DEVICE_ROW_PREFIXES = ("MDC_DEV_", "MDC_ATTR_", "MDC_TIME_")

# 11073 and vendor "no value" markers seen in OBX-5: 16-bit SFLOAT NaN/NRes/+-INF, 32-bit FLOAT NaN/NRes/+-INF,
# and the integer maxima vendors send for "invalid" (clinical-reference §8; device-protocols §2.2).
INVALID_MARKERS = frozenset(
    {2047.0, -2048.0, 2046.0, -2046.0, 8388607.0, -8388608.0, 8388606.0, -8388606.0, 32767.0, -32768.0, 65535.0}
)

# PCD-04 (ORU^R40) attribute rows, by reference name (GE and the IHE examples use different codes for them).
EVENT_PHASE = ("MDC_ATTR_EVENT_PHASE", "MDC_ATTR_EVT_PHASE")
ALARM_STATE = ("MDC_ATTR_ALARM_STATE", "MDC_ATTR_ALERT_STATE")
ALARM_PRIORITY = ("MDC_ATTR_ALARM_PRIORITY",)
ALERT_TYPE = ("MDC_ATTR_ALERT_TYPE",)
ALERT_TEXT = ("MDC_ATTR_ALERT_TEXT",)
ALERT_SOURCE = ("MDC_ATTR_ALERT_SOURCE",)
ENDED_PHASES = frozenset({"end", "stop", "tpoint"})  # a one-instant event ends where it starts
INACTIVE_STATES = frozenset({"inactive", "off"})
PRIORITY_BY_CODE = {"PH": "high", "PM": "medium", "PL": "low", "PN": "none"}

# Technical alarms named by these words become kapmon's own conditions; any other alarm a monitor raises is
# ``device_alarm`` with its text (design proposal: vendors name technical alarms in their own words).
TECHNICAL_WORDS: tuple[tuple[str, str], ...] = (
    ("LEAD_OFF", "sensor_disconnected"),
    ("LEAD_DISCONN", "sensor_disconnected"),
    ("ELECTRODE", "sensor_disconnected"),
    ("SENSOR_OFF", "sensor_off"),
    ("PROBE_OFF", "sensor_off"),
    ("FINGER", "sensor_off"),
    ("SENSOR_DISCONN", "sensor_disconnected"),
    ("PROBE_DISCONN", "sensor_disconnected"),
    ("CUFF", "nibp_error"),
    ("BATT", "low_battery"),
    ("SEARCH", "searching"),
    ("PERF", "low_perfusion"),
)
