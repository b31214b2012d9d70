"""The Spravato REMS Patient Monitoring Form of one esketamine session, filled from its record.

The form's fields (clinical-reference §1.1 REMS-form; the form as published in 2024): treatment date; dose
administered (56 mg, 84 mg, other) and lot number; total minutes from the first device to the completion
of monitoring (at least 2 h); when the patient would have been ready to leave without the 2-hour minimum
(minutes from the start of administration); whether vital signs were acceptable before administration and
before completion; BP before administration, 40 min after it and before completion; whether the patient
had sedation, dissociation or respiratory depression; serious adverse events; four concomitant medicines.

Each field is filled from the record or listed as missing with why, never guessed:

- **Doses**: the session's esketamine doses (entries marked entered in error left out) and their lots.
- **Completion of monitoring**: the recorded discharge, else the session's end; none: missing.
- **Ready to leave**: the earliest time after the last dose from which the protocol's discharge criteria
  other than the minimum observation (BP within its percentage of baseline, SpO2 above its floor, no
  active alarm) held to the end, from the first device; the clinician confirms sedation and dissociation
  had resolved, which no reading shows.
- **Vital signs acceptable before administration**: the recorded dosing decision at the first dose had no
  open vital-sign finding (pre-dose BP and SpO2 gates, a missing pre-dose BP, an alarm holding dosing).
  **Before completion**: the same discharge criteria held at completion.
- **BP**: the last cuff reading before the first dose; the one nearest the protocol's 40-min checkpoint
  within its window (``monitor.analysis.summary.rems``); the last after the first dose and at most
  ``PREDISCHARGE_BP_S`` before completion (the live page's pre-discharge reminder uses the same time).
- **Sedation, dissociation**: from the MOAA/S and dissociation levels charted after the first dose first ("Yes"
  when any level showed an effect, with the deepest or worst level and when; "No" when charted and never
  affected; the form asks about the time after the medicine). Only when the scale was not charted after the
  dose, and for **respiratory depression**: "Yes" when a note names it (the live
  page's Dissociation button writes such a note), "No" when a note says it was absent ("no dissociation"),
  else missing. Each answer says which it came from. Serious adverse events are the clinician's judgement:
  always listed for them to answer, with the notes and high-priority alarms that bear on it.
- **Ready to leave** also waits for charted sedation and dissociation to be charted back to unaffected (when
  they were only noted, or the last charting still shows them, the clinician answers).
- **Concomitant medicines**: from the screening answers; the screening asks about benzodiazepines with
  other sedatives, and about stimulants with MAOIs, so a "yes" leaves which one missing.

Patient identity, the provider's and the setting's details are not held by kapmon (a session is
pseudonymous) and are listed for the clinic to add.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from devices.errors import KapmonError
from devices.vocabulary import SCALES
from monitor.analysis.charted import ScaleSummary
from monitor.analysis.summary import (
    BP,
    REMS_MIN_S,
    SessionRecord,
    Summary,
    baseline,
    bp_readings,
    discharge,
    episodes,
    load_record,
    plan_for,
    protocol_for,
    recorded_discharge,
    screening_of,
    summarise,
)
from monitor.analysis.timeref import TimeRef, clock_hm
from monitor.exports.contents import ExportError
from monitor.rules.bedside import PREDISCHARGE_BP_S
from monitor.rules.dosing import PREDOSE_BP, applies_to_age, breaches
from monitor.rules.plan import Plan
from monitor.rules.protocol import Protocol
from monitor.session.model import Dose, Observation
from monitor.session.store import Store, StoredEvent

ESKETAMINE_NAMES = ("esketamine", "spravato")
FORM_DOSES_MG = (56.0, 84.0)  # the form's two boxes; anything else is "Other"
SECTIONS = ("Treatment session", "Vital signs", "Blood pressure", "Adverse events", "Concomitant medication")
NOT_HELD = (
    "Patient first name, last name, birthdate (kapmon holds a pseudonym only)",
    "Whether this is the patient's first treatment session, and REMS enrolment",
    "Healthcare provider conducting monitoring: name, telephone, email",
    "Healthcare setting: name and address",
)
# Words in a note that name what the form asks about. Design proposal: the live page's quick notes and the
# label's terms (MOAA/S for sedation); a negation before the word in the same clause makes it a "no".
TERMS = {
    "Sedation": ("sedat", "drowsy", "somnolen", "moaa/s", "unrousable", "hard to rouse"),
    "Dissociation": ("dissociat", "derealis", "derealiz", "depersonalis", "depersonaliz"),
    "Respiratory depression": ("respiratory depression", "apnoea", "apnea", "hypoventil", "shallow breathing"),
}
# The form's questions a charted scale answers; a note answers them only when the scale was never charted.
CHARTED = {"Sedation": "moaas", "Dissociation": "dissociation"}
ADVERSE = ("nausea", "vomit", "anxi", "intervention", "headache", "dizz", "chest pain", "hypertens", "panic", "oxygen", "seizure")
NEGATION = re.compile(r"\b(no|not|without|denies|denied|none|nil|absent)\b[^.;,]*$", re.IGNORECASE)
SCREENING_MEDICINES = (
    ("Benzodiazepines", "cns_depressant", "benzodiazepines, opioids, other sedatives or alcohol"),
    ("Non-benzodiazepine sedative hypnotics", "cns_depressant", "benzodiazepines, opioids, other sedatives or alcohol"),
    ("Psychostimulants", "stimulant_or_maoi", "psychostimulants or MAOIs"),
    ("Monoamine oxidase inhibitors (MAOIs)", "stimulant_or_maoi", "psychostimulants or MAOIs"),
)


class RemsRefused(KapmonError, ValueError):
    """A session the form is not for (not esketamine); the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the form: its answer (``None``: missing) and where the answer came from, or why missing."""

    section: str
    label: str
    answer: str | None
    basis: str
    value: object = None  # the answer as data for JSON (minutes, mmHg...)

    @property
    def missing(self) -> bool:
        return self.answer is None


@dataclass(frozen=True, slots=True)
class RemsForm:
    session: str
    patient: str
    fields: tuple[Field, ...]
    not_held: tuple[str, ...] = NOT_HELD
    notes: tuple[str, ...] = field(default=())

    @property
    def missing(self) -> list[Field]:
        return [f for f in self.fields if f.missing]


# --------------------------------------------------------------------------------------------- pieces


def is_esketamine(drug: str) -> bool:
    return any(name in drug.lower() for name in ESKETAMINE_NAMES)


def for_esketamine(record: SessionRecord, plan: Plan) -> bool:
    """Whether the form is for this session: an esketamine dose, or no dose yet on a route whose protocol
    gives esketamine."""
    return any(is_esketamine(d.drug) for d in record.doses) or (not record.doses and is_esketamine(plan.route.drug))


def esketamine_doses(record: SessionRecord, plan: Plan) -> list[Dose]:
    """The session's esketamine doses; ``RemsRefused`` when the form is not for the session."""
    if for_esketamine(record, plan):
        return [d for d in record.doses if is_esketamine(d.drug)]
    given = ", ".join(sorted({d.drug for d in record.doses})) or f"no dose, protocol {plan.name}"
    raise RemsRefused(
        f"the REMS Patient Monitoring Form is for esketamine (Spravato) sessions: session "
        f"{record.session.id} is {record.session.route.upper()} {given}"
    )


def bp_words(bp: BP, ref: TimeRef) -> str:
    dia = "-" if bp.dbp is None else f"{bp.dbp:.0f}"
    return f"{bp.sbp:.0f}/{dia} mmHg"


def bp_value(bp: BP | None, start: float) -> dict | None:
    return None if bp is None else {"t_s": bp.t - start, "sbp": bp.sbp, "dbp": bp.dbp}


def minutes_from(a: float, b: float) -> int:
    return round((b - a) / 60)


def completion(record: SessionRecord) -> tuple[float | None, str]:
    """When monitoring was completed and how that is known."""
    left = recorded_discharge(record.events)
    if left is not None:
        return left, "the recorded discharge"
    if any(e.kind == "end" for e in record.events):
        return record.end, "the end of the session (no discharge was recorded)"
    return None, "the session has no discharge and no end in the record"


def mentions(notes: Sequence[StoredEvent], words: Sequence[str]) -> tuple[list[StoredEvent], list[StoredEvent]]:
    """Notes that name one of ``words`` (said present) and those that say it was absent."""
    present: list[StoredEvent] = []
    absent: list[StoredEvent] = []
    for e in notes:
        text = str(e.data.get("text", ""))
        low = text.lower()
        at = min((i for w in words if (i := low.find(w)) >= 0), default=-1)
        if at < 0:
            continue
        (absent if NEGATION.search(text[:at]) else present).append(e)
    return present, absent


def note_words(notes: Sequence[StoredEvent], ref: TimeRef) -> str:
    return "; ".join(
        f"{ref.text_with_clock(e.t)} \u201c{e.data.get('text', '')}\u201d" + (f" by {e.who}" if e.who else "") for e in notes
    )


def vital_findings(record: SessionRecord, protocol: Protocol, first: float) -> tuple[list[str] | None, str]:
    """The vital-sign findings open in the recorded dosing decision at the first dose (None: no decision)."""
    decided = [e for e in record.events if e.kind == "dosing" and e.t <= first]
    if not decided:
        return None, "no dosing decision was recorded before the first dose"
    vital_ids = {g.id for g in protocol.gates} | {PREDOSE_BP} | {lim.id for lim in protocol.limits}
    reasons = [str(r) for r in decided[-1].data.get("reasons") or []]
    found = [r for r in reasons if r.partition(" ")[2].partition(":")[0] in vital_ids]
    return found, f"the dosing decision at the first dose was {decided[-1].data.get('state', '?')}"


def predose_limits(protocol: Protocol, bp: BP, age: object) -> list[str]:
    """The protocol's pre-dose BP gates this reading breaches, for the patient's age."""
    return [g.id for g in protocol.gates if g.on_bp and applies_to_age(g, age) and breaches(g, bp.sbp, bp.dbp, None)]


# --------------------------------------------------------------------------------------------- the form


def fill(record: SessionRecord, summary: Summary | None = None, protocol: Protocol | None = None) -> RemsForm:
    """The form of one session (module docstring); ``RemsRefused`` for a session that is not esketamine."""
    protocol = protocol or protocol_for(record.session)
    summary = summary or summarise(record, protocol)
    plan = plan_for(record, protocol)
    doses = esketamine_doses(record, plan)
    s = record.session
    ref = TimeRef.of(doses[0].t if doses else None, s.started)
    first = doses[0].t if doses else None
    done, done_how = completion(record)
    out: list[Field] = [treatment_date(first, s.started), *dose_fields(doses, ref)]
    out += timing_fields(record, summary, protocol, plan, first, done, done_how, ref)
    out += bp_fields(record, summary, protocol, first, done, ref)
    out += adverse_fields(record, summary, ref)
    out += medicine_fields(screening_of(record))
    return RemsForm(s.id, s.patient, tuple(out))


def treatment_date(first: float | None, started: float) -> Field:
    when = first if first is not None else started
    return Field(
        SECTIONS[0],
        "Treatment date",
        time.strftime("%m/%d/%Y", time.localtime(when)),
        "the first dose" if first is not None else "the session start (no dose recorded)",
        time.strftime("%Y-%m-%d", time.localtime(when)),
    )


def dose_fields(doses: Sequence[Dose], ref: TimeRef) -> list[Field]:
    if not doses:
        return [
            Field(SECTIONS[0], "Dose administered", None, "no esketamine dose is recorded"),
            Field(SECTIONS[0], "Lot number", None, "no esketamine dose is recorded"),
        ]
    total = sum(d.mg for d in doses)
    each = "; ".join(f"{d.mg:g} mg at {ref.text_with_clock(d.t)}" + (f" lot {d.lot}" if d.lot else "") for d in doses)
    box = f"{total:g} mg" if total in FORM_DOSES_MG else f"Other: {total:g} mg"
    lots = sorted({d.lot for d in doses if d.lot})
    unlotted = [d for d in doses if not d.lot]
    lot = Field(
        SECTIONS[0],
        "Lot number",
        None if unlotted or not lots else ", ".join(lots),
        f"no lot recorded for the dose at {', '.join(ref.text(d.t) for d in unlotted)}"
        if unlotted
        else f"recorded with the dose{'s' if len(doses) > 1 else ''}",
        lots,
    )
    return [Field(SECTIONS[0], "Dose administered", box, f"{len(doses)} recorded: {each}", total), lot]


def timing_fields(
    record: SessionRecord,
    summary: Summary,
    protocol: Protocol,
    plan: Plan,
    first: float | None,
    done: float | None,
    done_how: str,
    ref: TimeRef,
) -> list[Field]:
    duration_label = "Total time, first device to completion of monitoring (min)"
    ready_label = "Ready to leave without the 2-hour minimum (min from start of administration)"
    if first is None:
        why = "no esketamine dose is recorded"
        return [
            Field(SECTIONS[0], duration_label, None, why),
            Field(SECTIONS[0], ready_label, None, why),
            Field(SECTIONS[1], "Vital signs acceptable prior to administration", None, why),
            Field(SECTIONS[1], "Vital signs acceptable prior to treatment session completion", None, why),
        ]
    vitals_only = replace(plan, observation_s=0.0)  # the discharge criteria without the minimum observation
    base = baseline(record, protocol)
    eps = episodes(record.alarms)
    advice = discharge(record, base, eps, vitals_only)
    out = []
    if done is None:
        out.append(Field(SECTIONS[0], duration_label, None, done_how))
    else:
        m = minutes_from(first, done)
        enough = "at least 2 h" if done - first >= REMS_MIN_S else "LESS THAN the required 2 h"
        out.append(
            Field(
                SECTIONS[0],
                duration_label,
                f"{m}",
                f"first device {clock_hm(first)} to {done_how} at {clock_hm(done)}: {enough}",
                m,
            )
        )
    out.append(ready_field(record, advice.could_leave, first, ready_label, ref, advice.criteria))
    found, how = vital_findings(record, protocol, first)
    if found is None:
        out.append(Field(SECTIONS[1], "Vital signs acceptable prior to administration", None, how))
    else:
        out.append(
            Field(
                SECTIONS[1],
                "Vital signs acceptable prior to administration",
                "No" if found else "Yes",
                how + (": " + "; ".join(found) if found else ", with no vital-sign finding open"),
                not found,
            )
        )
    if done is None:
        out.append(Field(SECTIONS[1], "Vital signs acceptable prior to treatment session completion", None, done_how))
    else:
        at_end = discharge_at(record, base, eps, vitals_only, done)
        ok = all(c.met for c in at_end)
        shown = [c.text for c in at_end if not c.text.startswith("observed")]
        out.append(
            Field(
                SECTIONS[1],
                "Vital signs acceptable prior to treatment session completion",
                "Yes" if ok else "No",
                f"the protocol's discharge criteria at {done_how}: "
                + "; ".join(("" if c.met else "NOT met: ") + c.text for c in at_end if c.text in shown),
                ok,
            )
        )
    return out


def recovered(observations: Sequence[Observation], scale: str) -> tuple[bool, Observation | None]:
    """Whether ``scale`` was charted showing an effect, and the charting that showed it gone (the first unaffected
    one after the last affected; None while the last charting still shows it)."""
    spec = SCALES[scale]
    mine = [o for o in observations if o.scale == scale]
    last = max((k for k, o in enumerate(mine) if spec.affected(o.level)), default=None)
    if last is None:
        return False, None
    return True, mine[last + 1] if last + 1 < len(mine) else None


def ready_field(
    record: SessionRecord, could_leave: float | None, first: float, label: str, ref: TimeRef, criteria: Sequence
) -> Field:
    """When the patient was ready to leave: the vital-sign discharge criteria held to the end and sedation and
    dissociation had resolved (charted back to unaffected; only noted, when it resolved is not recorded)."""
    if could_leave is None:
        return Field(
            SECTIONS[0],
            label,
            None,
            "the vital-sign discharge criteria were not met to the end of the record: the clinician answers",
        )
    vitals = (
        f"from {ref.text_with_clock(could_leave)} the protocol's discharge criteria other than the "
        "2-hour minimum held to the end ("
        + "; ".join(c.text for c in criteria if c.met and not c.text.startswith("observed"))
        + ")"
    )
    charted = {scale: recovered(record.observations, scale) for scale in CHARTED.values()}
    charted_scales = {o.scale for o in record.observations}
    notes = [e for e in record.events if e.kind == "note"]
    noted_only = [words for what, words in TERMS.items() if what in CHARTED and CHARTED[what] not in charted_scales]
    effects = [e for words in noted_only for e in mentions(notes, words)[0]]
    still = [SCALES[scale].label for scale, (hit, back) in charted.items() if hit and back is None]
    if still:
        return Field(
            SECTIONS[0],
            label,
            None,
            f"{vitals}, but the last {' and '.join(still)} charted still showed an effect: the clinician answers",
        )
    if effects:
        return Field(
            SECTIONS[0],
            label,
            None,
            f"{vitals}, but sedation or dissociation was noted ({note_words(effects, ref)}) and when it resolved is not "
            "recorded: the clinician answers",
        )
    backs = [back for hit, back in charted.values() if hit and back is not None]
    ready = max([could_leave, *(b.t for b in backs)])
    resolved = (
        "; sedation and dissociation as charted had resolved ("
        + "; ".join(f"{SCALES[o.scale].level_text(o.level)} at {ref.text_with_clock(o.t)}" for o in backs)
        + ")"
        if backs
        else "; no sedation or dissociation is charted or noted"
    )
    m = minutes_from(first, ready)
    return Field(
        SECTIONS[0], label, f"{m}", f"{vitals}{resolved}: the clinician confirms the patient was clinically ready then", m
    )


def discharge_at(record: SessionRecord, base: dict, eps: Sequence, plan: Plan, t: float) -> tuple:
    """The discharge criteria judged at ``t`` (the record cut there)."""
    cut = replace(record, readings=[r for r in record.readings if r.t <= t], events=[e for e in record.events if e.t <= t], end=t)
    return discharge(cut, base, [e for e in eps if e.start <= t], plan).criteria


def bp_fields(
    record: SessionRecord, summary: Summary, protocol: Protocol, first: float | None, done: float | None, ref: TimeRef
) -> list[Field]:
    section, start = SECTIONS[2], record.session.started
    r = summary.rems
    age = screening_of(record).get("age")
    out = []
    if r.pre_dose is None or first is None:
        out.append(Field(section, "BP prior to administration", None, "no cuff reading before the first dose"))
    else:
        over = predose_limits(protocol, r.pre_dose, age)
        limits = f"above the protocol's pre-dose limit ({', '.join(over)})" if over else "within the protocol's pre-dose limits"
        out.append(
            Field(
                section,
                "BP prior to administration",
                bp_words(r.pre_dose, ref),
                f"{ref.text_with_clock(r.pre_dose.t)}: {limits}",
                bp_value(r.pre_dose, start),
            )
        )
    at = f"{r.checkpoint_min:g} min post-administration"
    if r.checkpoint is None:
        window = (
            next((c.window_min for c in protocol.routes[record.session.route].checkpoints), 10.0)
            if record.session.route in protocol.routes
            else 10.0
        )
        out.append(
            Field(
                section,
                f"BP {at}",
                None,
                f"no cuff reading within {r.checkpoint_min:g} +/- {window:g} min after the first device"
                if first is not None
                else "no dose recorded",
            )
        )
    else:
        out.append(
            Field(
                section,
                f"BP {at}",
                bp_words(r.checkpoint, ref),
                ref.text_with_clock(r.checkpoint.t),
                bp_value(r.checkpoint, start),
            )
        )
    label = "BP prior to treatment session completion"
    if done is None or first is None:
        out.append(
            Field(section, label, None, "monitoring was not completed in the record" if first is not None else "no dose recorded")
        )
        return out
    after = [b for b in bp_readings(record.readings) if b.sbp is not None and first < b.t <= done]
    last = after[-1] if after else None
    if last is None or done - last.t > PREDISCHARGE_BP_S:
        since = (
            "no cuff reading after the first device"
            if last is None
            else f"the last cuff reading was at {ref.text_with_clock(last.t)}, {minutes_from(last.t, done)} min before completion"
        )
        out.append(Field(section, label, None, f"{since} (one within {PREDISCHARGE_BP_S / 60:g} min of completion is needed)"))
    else:
        out.append(Field(section, label, bp_words(last, ref), ref.text_with_clock(last.t), bp_value(last, start)))
    return out


def charted_field(label: str, c: ScaleSummary, ref: TimeRef) -> Field:
    """A yes/no answered from a charted scale: the worst level charted and when, or that it never showed an effect."""
    spec = SCALES[c.scale]
    times = f"charted {c.count} time{'s' if c.count > 1 else ''}"
    if not c.affected:
        return Field(
            SECTIONS[3], label, "No", f"from the charted {spec.label}: {times}, never beyond {spec.level_text(c.worst)}", False
        )
    worst = "deepest" if spec.worse == "low" else "worst"
    return Field(
        SECTIONS[3],
        label,
        "Yes",
        f"from the charted {spec.label}: {worst} {spec.level_text(c.worst)} at {ref.text_with_clock(c.worst_t)}; "
        f"affected for {c.affected_s / 60:.0f} min, last {spec.level_text(c.last)} at {ref.text_with_clock(c.last_t)}; {times}",
        True,
    )


def adverse_fields(record: SessionRecord, summary: Summary, ref: TimeRef) -> list[Field]:
    notes = [e for e in record.events if e.kind == "note"]
    out = []
    for label, words in TERMS.items():
        present, absent = mentions(notes, words)
        scale = CHARTED.get(label)
        charted = next((c for c in summary.rems.charted if c.scale == scale), None)
        unless = f"{SCALES[scale].label} not charted after the dose; " if scale else ""
        if charted is not None:
            out.append(charted_field(label, charted, ref))
        elif present:
            out.append(Field(SECTIONS[3], label, "Yes", unless + "noted: " + note_words(present, ref), True))
        elif absent:
            out.append(Field(SECTIONS[3], label, "No", unless + "noted absent: " + note_words(absent, ref), False))
        else:
            extra = ""
            if label == "Respiratory depression" and summary.min_spo2 is not None:
                extra = (
                    f" (lowest SpO2 {summary.min_spo2.value:g} % at {ref.text(summary.min_spo2.t)}; "
                    f"{summary.below_90_s:.0f} s below 90 %)"
                )
            out.append(Field(SECTIONS[3], label, None, f"{unless}no note names it: the clinician answers{extra}"))
    related, _ = mentions(notes, ADVERSE)
    high = [e for e in summary.episodes if e.priority == "high" and e.kind != "technical"]
    bearing = ([f"notes: {note_words(related, ref)}"] if related else []) + (
        ["high-priority alarms: " + "; ".join(f"{ref.text(e.start)} {e.message}" for e in high)] if high else []
    )
    out.append(
        Field(
            SECTIONS[3],
            "Serious adverse events",
            None,
            "the clinician judges whether any event was serious; "
            + (" ".join(bearing) if bearing else "no adverse-event note and no high-priority alarm recorded"),
        )
    )
    return out


def medicine_fields(screening: dict) -> list[Field]:
    out = []
    for label, key, asked in SCREENING_MEDICINES:
        answer = screening.get(key)
        if answer is False:
            out.append(Field(SECTIONS[4], label, "No", f"screening: not taking {asked}", False))
        elif answer is True:
            out.append(Field(SECTIONS[4], label, None, f"screening: taking {asked}; which one is not recorded"))
        else:
            out.append(Field(SECTIONS[4], label, None, f"screening did not answer {asked}"))
    return out


# --------------------------------------------------------------------------------------------- output


def markdown(form: RemsForm) -> str:
    """The form as Markdown: each section's fields with their answers and bases, then what is missing."""
    lines = [
        f"# Spravato REMS Patient Monitoring Form: session {form.session}",
        "",
        f"Patient pseudonym: {form.patient}. Filled by kapmon from the session record; check every answer "
        "before submitting (due within 7 days of the session).",
        "",
    ]
    for section in SECTIONS:
        lines += [f"## {section}", "", "| Field | Answer | From the record |", "|---|---|---|"]
        lines += [
            f"| {cell(f.label)} | {'**MISSING**' if f.missing else cell(f.answer or '')} | {cell(f.basis)} |"
            for f in form.fields
            if f.section == section
        ]
        lines.append("")
    lines += [f"## Missing ({len(form.missing)})", ""]
    lines += [f"- {f.label}: {f.basis}" for f in form.missing] or ["- none"]
    lines += ["", "## Not held by kapmon (add at submission)", ""] + [f"- {x}" for x in form.not_held]
    return "\n".join(lines) + "\n"


def cell(text: str) -> str:
    """Text for a Markdown table cell (a note's | or newline never breaks the table)."""
    return " ".join(text.replace("|", "\\|").split())


def as_json(form: RemsForm) -> str:
    return json.dumps(
        {
            "session": form.session,
            "patient": form.patient,
            "fields": [asdict(f) | {"missing": f.missing} for f in form.fields],
            "missing": [f.label for f in form.missing],
            "not_held": list(form.not_held),
        },
        indent=2,
        allow_nan=False,
        ensure_ascii=False,
    )


def write_rems_form(store: Store, session_id: str, path: Path) -> Path:
    """The form of an esketamine session: Markdown, or JSON when ``path`` ends in ``.json``; ``ExportError``
    (nothing written) for another session."""
    try:
        form = fill(load_record(store, session_id))
    except RemsRefused as exc:
        raise ExportError(str(exc)) from None
    path.write_text(as_json(form) if path.suffix.lower() == ".json" else markdown(form), encoding="utf-8")
    return path
