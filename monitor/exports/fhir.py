"""FHIR R4 export: a ``collection`` Bundle of a pseudonymous Patient (identifier only), the Encounter
(the session), one Device per source, vital-sign Observations (LOINC code, IEEE 11073 MDC coding,
UCUM unit; blood pressure as one 85354-9 Observation with 8480-6/8462-4/8478-0 components), one
MedicationAdministration per dose, one survey Observation per charted observation (MOAA/S, dissociation, ...: the
scale's code where ``devices.vocabulary`` gives one, else its name as text; ``valueInteger`` the level, its words in a
note, who charted it the performer; those entered in error left out), and one DetectedIssue per alarm episode:
``identifiedPeriod`` spans raised..cleared, ``severity`` is the highest priority reached, and every later transition
(escalated, acknowledged, audio paused, cleared, reset...) is a ``mitigation`` with its time and
who acted. No-value readings become Observations with a ``dataAbsentReason``. The pleth waveform,
perfusion index, EtCO2 and cuff pressure have no code in the clinical reference and are left out
(they are in the CSV and Parquet exports).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

from devices.vocabulary import HIGH, LOW, MEDIUM, NIBP_VITALS, ROUTE_SPECS, SCALES
from monitor.analysis.record_view import is_ended
from monitor.analysis.summary import Episode, SessionRecord, episodes, load_record
from monitor.exports.contents import iso
from monitor.session.dose_rows import INVALID_DRUG, DoseRow, dose_rows
from monitor.session.model import Observation
from monitor.session.store import Store, StoredReading

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# vital -> (LOINC codes, MDC ref id, MDC name, label, UCUM code, unit shown); clinical-reference §8.
# Pulse rate (from an oximeter or a cuff) is LOINC 8889-8, heart rate (ECG) 8867-4; the MDC coding says which
# device counted it (149530 oximeter, 149546 NIBP).
CODES: dict[str, tuple[tuple[tuple[str, str], ...], str, str, str, str, str]] = {
    "hr": ((("8867-4", "Heart rate"),), "147842", "MDC_ECG_HEART_RATE", "Heart rate", "/min", "/min"),
    "pr": (
        (("8889-8", "Heart rate by Pulse oximetry"),),
        "149530",
        "MDC_PULS_OXIM_PULS_RATE",
        "Pulse rate (oximeter)",
        "/min",
        "/min",
    ),
    "spo2": (
        (("2708-6", "Oxygen saturation in Arterial blood"), ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")),
        "150456",
        "MDC_PULS_OXIM_SAT_O2",
        "SpO2",
        "%",
        "%",
    ),
    "rr": ((("9279-1", "Respiratory rate"),), "151562", "MDC_RESP_RATE", "Respiratory rate", "/min", "/min"),
    "sbp": ((("8480-6", "Systolic blood pressure"),), "150021", "MDC_PRESS_BLD_NONINV_SYS", "Systolic", "mm[Hg]", "mmHg"),
    "dbp": ((("8462-4", "Diastolic blood pressure"),), "150022", "MDC_PRESS_BLD_NONINV_DIA", "Diastolic", "mm[Hg]", "mmHg"),
    "map": ((("8478-0", "Mean blood pressure"),), "150023", "MDC_PRESS_BLD_NONINV_MEAN", "Mean", "mm[Hg]", "mmHg"),
}
CUFF_PULSE = (CODES["pr"][0], "149546", "MDC_PULS_RATE_NON_INV", "Pulse rate (NIBP)", "/min", "/min")
BP_PANEL = (
    (("85354-9", "Blood pressure panel with all children optional"),),
    "150020",
    "MDC_PRESS_BLD_NONINV",
    "Blood pressure (NIBP)",
)
SEVERITY = {HIGH: "high", MEDIUM: "moderate", LOW: "low"}  # FHIR flag severity of each priority


def _uid(session_id: str, *parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kapmon:" + ":".join([session_id, *map(str, parts)])))


def _ref(uid: str) -> dict:
    return {"reference": f"urn:uuid:{uid}"}


def _concept(loinc: tuple[tuple[str, str], ...], mdc: str, mdc_name: str, text: str) -> dict:
    codings = [{"system": LOINC, "code": c, "display": d} for c, d in loinc]
    return {"coding": codings + [{"system": MDC, "code": mdc, "display": mdc_name}], "text": text}


def _quantity(value: float | None, vital: str) -> dict:
    if value is None:
        return {"dataAbsentReason": {"coding": [{"system": ABSENT, "code": "unknown"}], "text": "the device reported no value"}}
    ucum, unit = CODES[vital][4], CODES[vital][5]
    return {"valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum}}


def _observation(uid: str, code: dict, t: float, context: dict, device: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": uid,
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": code,
        "subject": context["subject"],
        "encounter": context["encounter"],
        "effectiveDateTime": iso(t),
        "device": _ref(device),
    }


def cuff_pulse_sources(readings: Sequence[StoredReading]) -> set[str]:
    """Sources that measured blood pressure: a pulse rate from one of them was counted by the cuff."""
    return {r.source for r in readings if r.vital in NIBP_VITALS}


def vital_observation(sid: str, r: StoredReading, context: dict, device: str, cuff: bool = False) -> dict:
    """One vital-sign Observation (HR, PR, SpO2, RR) with LOINC + MDC codes and a UCUM quantity;
    ``cuff``: a pulse rate counted by the NIBP cuff (MDC 149546, not the oximeter's 149530)."""
    loinc, mdc, name, label, _, _ = CUFF_PULSE if cuff and r.vital == "pr" else CODES[r.vital]
    obs = _observation(_uid(sid, "obs", r.id), _concept(loinc, mdc, name, label), r.t, context, device)
    return obs | _quantity(r.value, r.vital)


def cuff_measurements(readings: Sequence[StoredReading]) -> list[dict[str, StoredReading]]:
    """NIBP readings grouped into measurements: one per time and source (a repeated vital at the same
    time and source starts another), each mapping sbp/dbp/map to the readings that were reported."""
    groups: list[dict[str, StoredReading]] = []
    current: dict[tuple[float, str], dict[str, StoredReading]] = {}
    for r in readings:
        if r.vital not in NIBP_VITALS:
            continue
        group = current.get((r.t, r.source))
        if group is None or r.vital in group:
            group = current[(r.t, r.source)] = {}
            groups.append(group)
        group[r.vital] = r
    return groups


def bp_observation(sid: str, measured: dict[str, StoredReading], context: dict, device: str) -> dict:
    """One NIBP measurement: panel 85354-9 with a component for each pressure the cuff reported
    (a "no value" report keeps its dataAbsentReason); a mean pressure alone is an 8478-0 Observation."""
    first = min(measured.values(), key=lambda r: r.id)
    uid = _uid(sid, "bp", first.id)
    if measured.keys() == {"map"}:
        return vital_observation(sid, measured["map"], context, device) | {"id": uid}
    loinc, mdc, name, label = BP_PANEL
    obs = _observation(uid, _concept(loinc, mdc, name, label), first.t, context, device)
    obs["component"] = [
        {"code": _concept(*CODES[vital][:4])} | _quantity(measured[vital].value, vital)
        for vital in NIBP_VITALS
        if vital in measured
    ]
    return obs


def charted_observation(sid: str, key: tuple, o: Observation, context: dict) -> dict:
    """One charted level of an observation scale; ``key`` tells it from every other charting of the session."""
    spec = SCALES[o.scale]
    code: dict = {"text": spec.name_text}
    if spec.code is not None:
        system, value, display = spec.code
        code["coding"] = [{"system": system, "code": value, "display": display}]
    out = {
        "resourceType": "Observation",
        "id": _uid(sid, "charted", *key),
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": code,
        "subject": context["subject"],
        "encounter": context["encounter"],
        "effectiveDateTime": iso(o.t),
        "valueInteger": o.level,
        "note": [{"text": spec.level_text(o.level)}],
    }
    if o.who:
        out["performer"] = [{"display": o.who}]
    return out


def charted_keys(observations: Sequence[Observation]) -> list[tuple]:
    """A key per charting that stays the same when another charting is entered in error: its time, scale and how
    many of the same time and scale came before it."""
    seen: dict[tuple, int] = {}
    keys = []
    for o in observations:
        base = (repr(o.t), o.scale)
        seen[base] = seen.get(base, -1) + 1
        keys.append((*base, seen[base]))
    return keys


def medication_administration(sid: str, n: int, row: DoseRow, weight: float | None, context: dict) -> dict:
    """One stored dose; a field the record holds no valid value for is left out and named in a note."""
    when = (
        {"effectivePeriod": {"start": iso(row.t), "end": iso(row.end)}}
        if row.end is not None
        else {"effectiveDateTime": iso(row.t)}
    )
    per_kg = row.mg_per_kg(weight)
    dosage: dict = {
        "text": " ".join(
            x
            for x in (
                "amount invalid in the record" if row.mg is None else f"{row.mg:g} mg",
                row.route or "",
                f"({per_kg:g} mg/kg)" if per_kg else "",
            )
            if x
        )
    }
    if row.route is not None:
        code, display = ROUTE_SPECS[row.route].snomed
        dosage["route"] = {"coding": [{"system": SNOMED, "code": code, "display": display}]}
    if row.mg is not None:
        dosage["dose"] = {"value": row.mg, "unit": "mg", "system": UCUM, "code": "mg"}
    out = {
        "resourceType": "MedicationAdministration",
        "id": _uid(sid, "dose", n),
        "status": "completed",
        "medicationCodeableConcept": {"text": row.drug or INVALID_DRUG},
        "subject": context["subject"],
        "context": context["encounter"],
        **when,
        "dosage": dosage,
    }
    if row.who:
        out["performer"] = [{"actor": {"display": row.who}}]
    if row.problems:
        out["note"] = [{"text": "stored with invalid fields, left out: " + "; ".join(row.problems)}]
    return out


def detected_issue(sid: str, n: int, ep: Episode, context: dict) -> dict:
    """One alarm episode; every transition after ``raised`` is a mitigation with time and who."""
    period = {"start": iso(ep.start)} | ({"end": iso(ep.end)} if ep.end is not None else {})
    return {
        "resourceType": "DetectedIssue",
        "id": _uid(sid, "alarm", n),
        "status": "final",
        "code": {
            "coding": [{"system": "urn:kapmon:alarm", "code": ep.alarm_id}, {"system": "urn:kapmon:alarm-kind", "code": ep.kind}],
            "text": ep.message,
        },
        "severity": SEVERITY[ep.priority],
        "patient": context["subject"],
        "identifiedPeriod": period,
        "detail": f"{ep.priority.upper()} {ep.kind} alarm: {ep.message}",
        "mitigation": [
            {"action": {"text": f"{a.event} ({a.priority})"}, "date": iso(a.t), "author": {"display": a.who or "kapmon"}}
            for a in ep.transitions[1:]
        ],
    }


def fhir_bundle(record: SessionRecord, interval_s: float = 0.0) -> dict:
    """The session as a FHIR R4 collection Bundle; ``interval_s`` > 0 keeps one HR/PR/SpO2/RR reading
    per vital and source per interval (NIBP measurements and alarms are always all kept). The Encounter
    is ``finished`` (with a period end) only when the session was ended, else ``in-progress``."""
    s = record.session
    sid = s.id
    patient, encounter = _uid(sid, "patient"), _uid(sid, "encounter")
    context = {"subject": _ref(patient), "encounter": _ref(encounter)}
    sources = sorted({r.source for r in record.readings if r.vital in CODES})
    devices = {src: _uid(sid, "device", src) for src in sources}
    ended = is_ended(record)
    period = {"start": iso(s.started)} | ({"end": iso(record.end)} if ended else {})
    resources: list[dict] = [
        {"resourceType": "Patient", "id": patient, "identifier": [{"system": "urn:kapmon:pseudonym", "value": s.patient}]},
        {
            "resourceType": "Encounter",
            "id": encounter,
            "status": "finished" if ended else "in-progress",
            "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "identifier": [{"system": "urn:kapmon:session", "value": sid}],
            "subject": context["subject"],
            "period": period,
        },
    ]
    resources += [
        {
            "resourceType": "Device",
            "id": uid,
            "identifier": [{"system": "urn:kapmon:source", "value": src}],
            "deviceName": [{"name": src, "type": "user-friendly-name"}],
            "patient": context["subject"],
        }
        for src, uid in devices.items()
    ]
    resources += [medication_administration(sid, n, row, s.weight_kg, context) for n, row in enumerate(dose_rows(record.events))]
    resources += [
        bp_observation(sid, m, context, devices[next(iter(m.values())).source]) for m in cuff_measurements(record.readings)
    ]
    cuff = cuff_pulse_sources(record.readings)
    next_due: dict[tuple[str, str], float] = {}
    for r in record.readings:
        if r.vital not in CODES or r.vital in NIBP_VITALS:
            continue
        key = (r.vital, r.source)
        if interval_s > 0 and r.t < next_due.get(key, -1.0):
            continue
        next_due[key] = r.t + interval_s
        resources.append(vital_observation(sid, r, context, devices[r.source], cuff=r.source in cuff))
    resources += [
        charted_observation(sid, key, o, context)
        for key, o in zip(charted_keys(record.observations), record.observations, strict=True)
    ]
    resources += [detected_issue(sid, n, ep, context) for n, ep in enumerate(episodes(record.alarms))]
    return {
        "resourceType": "Bundle",
        "id": _uid(sid, "bundle"),
        "type": "collection",
        "timestamp": iso(record.end),
        "identifier": {"system": "urn:kapmon:session", "value": sid},
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def write_fhir(store: Store, session_id: str, path: Path, interval_s: float = 0.0) -> Path:
    bundle = fhir_bundle(load_record(store, session_id), interval_s)
    path.write_text(json.dumps(bundle, separators=(",", ":"), allow_nan=False), encoding="utf-8")
    return path
