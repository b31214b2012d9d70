"""PCD-01 observation reports (``ORU^R01``) and PCD-04 alarm reports (``ORU^R40``) built from kapmon items,
in the shape of the IHE PCD TF-2 examples: an MDS row naming the equipment (OBX-18, EUI-64), then one OBX
per metric with its MDC code, containment (OBX-4), value, MDC unit and time. What ``kapmon emulate
hl7-monitor`` sends; the decoder reads it back."""

from __future__ import annotations

from collections.abc import Sequence

from devices.hl7 import mdc
from devices.hl7.alarms import condition_of
from devices.hl7.dtm import format_dtm
from devices.reading import Condition, Reading
from devices.vocabulary import CONDITIONS, QUESTIONABLE

APPLICATION = "KAPMON-EMU"
PCD01_PROFILE = "PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
PCD04_PROFILE = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO"
MDS_ROW = "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0"

# vital (and whether the cuff measured it) -> (metric code, metric name, VMD number, unit code, unit name)
METRIC_ROWS: dict[tuple[str, bool], tuple[str, str, int, str, str]] = {
    ("sbp", True): ("150021", "MDC_PRESS_BLD_NONINV_SYS", 1, "266016", "MDC_DIM_MMHG"),
    ("dbp", True): ("150022", "MDC_PRESS_BLD_NONINV_DIA", 1, "266016", "MDC_DIM_MMHG"),
    ("map", True): ("150023", "MDC_PRESS_BLD_NONINV_MEAN", 1, "266016", "MDC_DIM_MMHG"),
    ("pr", True): ("149546", "MDC_PULS_RATE_NON_INV", 1, "264864", "MDC_DIM_BEAT_PER_MIN"),
    ("spo2", False): ("150456", "MDC_PULS_OXIM_SAT_O2", 3, "262688", "MDC_DIM_PERCENT"),
    ("pr", False): ("149530", "MDC_PULS_OXIM_PULS_RATE", 3, "264864", "MDC_DIM_BEAT_PER_MIN"),
    ("hr", False): ("147842", "MDC_ECG_HEART_RATE", 5, "264864", "MDC_DIM_BEAT_PER_MIN"),
    ("rr", False): ("151562", "MDC_RESP_RATE", 14, "264928", "MDC_DIM_RESP_PER_MIN"),
    ("temp", False): ("150344", "MDC_TEMP", 2, "268192", "MDC_DIM_DEGC"),
}
assert all(mdc.BY_CODE[code].vital == vital for (vital, _), (code, *_) in METRIC_ROWS.items())


def event(condition: str) -> str:
    """The vendor-private event name a condition is sent as (``MDCX_EVT_SENSOR_OFF``)."""
    return f"MDCX_EVT_{condition.upper()}"


# The conditions a monitor raises as technical alarms and the decoder reads back as themselves; other
# conditions (motion, a questionable value) are how a value was measured, not alarms, and are not sent.
ALARMED = tuple(c for c in CONDITIONS if condition_of(event(c), "", "ST") == c)


def _header(kind: str, profile: str, device: str, control_id: str, sent: float, purpose: str) -> list[str]:
    stamp = format_dtm(sent)
    return [
        f"MSH|^~\\&|{APPLICATION}^{device}^EUI-64||||{stamp}||ORU^{kind}^ORU_{kind}|{control_id}|P|2.6|||NE|AL||"
        f"UNICODE UTF-8|||{profile}",
        "PID|||EMULATED^^^kapmon^PI",
        f"OBR|1|{control_id}^{APPLICATION}|{control_id}^{APPLICATION}|{purpose}|||{stamp}",
        f"OBX|1||{MDS_ROW}|||||||X|||||||{device}^EUI-64",
    ]


def observation_report(observations: Sequence[tuple[Reading, bool]], device: str, control_id: str, sent: float) -> str:
    """An ``ORU^R01`` with one OBX per ``(reading, measured by the cuff)`` kapmon can send (others are left
    out); a no-value reading is an empty OBX-5 with OBX-11 ``X``, a questionable one is flagged ``QUES``."""
    segments = _header("R01", PCD01_PROFILE, device, control_id, sent, "182777000^monitoring of patient^SCT")
    for n, (r, cuff) in enumerate((o for o in observations if (o[0].vital, o[1]) in METRIC_ROWS), start=2):
        code, name, vmd, unit_code, unit_name = METRIC_ROWS[(r.vital, cuff)]
        value, status = ("", "X") if r.value is None else (f"{r.value:g}", "R")
        flag = "QUES" if r.status == QUESTIONABLE else ""
        segments.append(
            f"OBX|{n}|NM|{code}^{name}^MDC|1.{vmd}.1.{n}|{value}|{unit_code}^{unit_name}^MDC||{flag}|||"
            f"{status}|||{format_dtm(r.t)}"
        )
    return "\r".join(segments) + "\r"


def alarm_report(condition: Condition, device: str, control_id: str, sent: float) -> str:
    """An ``ORU^R40`` reporting one of the ``ALARMED`` conditions as the monitor's technical alarm starting or
    ending (``MDCX_EVT_<CONDITION>``, a vendor-private event name as some monitors send), with a no-value row
    for each vital it concerns."""
    segments = _header("R40", PCD04_PROFILE, device, control_id, sent, "196616^MDC_EVT_ALARM^MDC")
    prefix = f"1.0.0.{ALARMED.index(condition.condition) + 1}"
    phase, state = ("start", "active") if condition.active else ("end", "inactive")
    segments.append(
        f"OBX|2|ST|0^{event(condition.condition)}^MDC|{prefix}.1|{CONDITIONS[condition.condition]}||||||R|||"
        f"{format_dtm(condition.t)}"
    )
    for vital in condition.vitals:
        if (vital, False) in METRIC_ROWS:
            code, name, _, unit_code, unit_name = METRIC_ROWS[(vital, False)]
            segments.append(f"OBX|{len(segments) - 2}|NM|{code}^{name}^MDC|{prefix}.2||{unit_code}^{unit_name}^MDC|||||X")
    n = len(segments) - 2
    segments += [
        f"OBX|{n}|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|{prefix}.3|{phase}||||||R",
        f"OBX|{n + 1}|ST|68482^MDC_ATTR_ALARM_STATE^MDC|{prefix}.4|{state}||||||R",
        f"OBX|{n + 2}|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|{prefix}.6|PL||||||R",
        f"OBX|{n + 3}|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|{prefix}.7|ST||||||R",
    ]
    return "\r".join(segments) + "\r"
