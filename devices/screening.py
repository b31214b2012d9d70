"""The screening questions kapmon knows: one vocabulary for protocols, sidecars, the simulator and the page.

Each question has a key, a type (yes/no, a number with a range, or a choice), the question in words
and where it comes from. Protocols refer to these keys (a protocol naming another key does not load);
answers are parsed here wherever they enter, so ``"psychosis": "yes"`` is read as yes, and
``"age": "sixty"`` or an unknown key is refused, naming the field (and the nearest known key).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, create_model, model_validator

from devices.errors import ConfigError
from devices.patient import AGE_YEARS
from devices.schema import FieldProblem, FileModel, check

YES_NO, NUMBER, CHOICE = "yes_no", "number", "choice"
YES_WORDS = ("yes", "y", "true")
NO_WORDS = ("no", "n", "false")
UNANSWERED_WORDS = ("", "not answered", "unknown")


class ScreeningError(ConfigError):
    """A screening answer that cannot be used, located by where it came from (file or form), line and field."""


@dataclass(frozen=True, slots=True)
class Question:
    """One screening question: what is asked and what an answer may be."""

    key: str
    kind: str
    text: str
    source: str
    low: float | None = None
    high: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()

    def parse(self, raw: object) -> bool | float | int | str | None:
        """The answer as kapmon uses it (None: not answered); ``ValueError`` saying what is wrong."""
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in UNANSWERED_WORDS):
            return None
        if self.kind == YES_NO:
            return _yes_no(raw)
        if self.kind == CHOICE:
            if isinstance(raw, str) and raw.strip().lower() in self.choices:
                return raw.strip().lower()
            raise ValueError(f"{raw!r} is not one of {', '.join(self.choices)}")
        return self._number(raw)

    def _number(self, raw: object) -> float | int:
        value: float | None = None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = float(raw.strip())
            except ValueError:
                value = None
        if value is None or not math.isfinite(value):
            raise ValueError(f"{raw!r} is not a number")
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            raise ValueError(f"{value:g} is outside {self.low:g}-{self.high:g}{' ' + self.unit if self.unit else ''}")
        return int(value) if value.is_integer() else value

    def describe(self) -> str:
        """The kind of answer expected, in words."""
        if self.kind == YES_NO:
            return "yes or no"
        if self.kind == CHOICE:
            return " / ".join(self.choices)
        return f"a number {self.low:g}-{self.high:g}{' ' + self.unit if self.unit else ''}"


def _yes_no(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in YES_WORDS:
            return True
        if word in NO_WORDS:
            return False
    raise ValueError(f"{raw!r} is not yes or no")


def _yes_no_question(key: str, text: str, source: str) -> Question:
    return Question(key, YES_NO, text, source)


QUESTIONS: dict[str, Question] = {
    q.key: q
    for q in (
        Question(
            "age",
            NUMBER,
            "Age in years",
            "clinical-reference §1.1, §5.1: age bands of the label (65)",
            low=AGE_YEARS[0],
            high=AGE_YEARS[1],
            unit="years",
        ),
        _yes_no_question(
            "known_hypertension", "Known (controlled) hypertension?", "clinical-reference §4, §5.1: Yale-2342; China-741"
        ),
        _yes_no_question(
            "uncontrolled_hypertension",
            "Uncontrolled hypertension (resting BP at or above 180/100 despite treatment)?",
            "clinical-reference §4: Swiss-label (HTN >180/100 at rest)",
        ),
        _yes_no_question(
            "aneurysm_or_avm", "Aneurysmal vascular disease or arteriovenous malformation?", "clinical-reference §4: SPR-CI"
        ),
        _yes_no_question("intracerebral_haemorrhage", "History of intracerebral haemorrhage?", "clinical-reference §4: SPR-CI"),
        _yes_no_question(
            "prior_stroke",
            "Prior stroke (cerebrovascular accident)?",
            "clinical-reference §4: Ketalar-UK (CVA); OKIC (prior CVA)",
        ),
        _yes_no_question(
            "raised_icp_or_cns_mass",
            "Raised intracranial pressure, a CNS mass or hydrocephalus?",
            "clinical-reference §4: ACEP (CNS masses/hydrocephalus); OKIC (raised ICP)",
        ),
        _yes_no_question(
            "glaucoma", "Glaucoma, raised intraocular pressure or an acute globe injury?", "clinical-reference §4: ACEP"
        ),
        _yes_no_question("porphyria", "Porphyria?", "clinical-reference §4: ACEP"),
        _yes_no_question(
            "ketamine_hypersensitivity",
            "Hypersensitivity to ketamine or esketamine?",
            "clinical-reference §4: SPR-CI; Ketalar-US",
        ),
        _yes_no_question("psychosis", "Psychosis, psychotic depression or schizophrenia?", "clinical-reference §4: ACEP; OKIC"),
        _yes_no_question("substance_use_disorder", "Substance use disorder?", "clinical-reference §4: SPR-CI; OKIC"),
        _yes_no_question(
            "substance_use_attested",
            "Last substance use more than 48 h ago attested, and urine toxicology recorded?",
            "clinical-reference §4: OKIC (no non-prescribed substance or alcohol within 48 h); Sanacora (urine toxicology)",
        ),
        _yes_no_question(
            "stimulant_or_maoi", "Taking psychostimulants or MAOIs?", "clinical-reference §4: MedicineNet; REMS-form"
        ),
        _yes_no_question(
            "cns_depressant", "Taking benzodiazepines, opioids, other sedatives or alcohol?", "clinical-reference §4: MedicineNet"
        ),
        _yes_no_question("sleep_apnoea", "Sleep apnoea (or high STOP-BANG score)?", "clinical-reference §4: JNJ-resp; BC-draft"),
        _yes_no_question(
            "cardiac_disease", "Coronary artery disease, heart failure or arrhythmia?", "clinical-reference §4: ACEP; Ketalar-UK"
        ),
        _yes_no_question(
            "recent_cardiac_event",
            "Major cardiovascular event (e.g. myocardial infarction, stroke) within 6 weeks?",
            "clinical-reference §4: OKIC; Ketalar-UK",
        ),
        _yes_no_question("pregnancy", "Pregnant or breast-feeding?", "clinical-reference §4: SPR-CI; OKIC"),
        Question(
            "hepatic_impairment",
            CHOICE,
            "Hepatic impairment (none, moderate, severe)?",
            "clinical-reference §1.1: PI-mirror-A",
            choices=("none", "moderate", "severe"),
        ),
        _yes_no_question(
            "hypertensive_encephalopathy", "History of hypertensive encephalopathy?", "clinical-reference §4: SPR-CI"
        ),
        _yes_no_question(
            "hyperthyroidism", "Hyperthyroidism (untreated) or thyroid medication?", "clinical-reference §4: Swiss-label; ACEP"
        ),
    )
}


def unknown_key_message(key: str) -> str:
    """``unknown screening key 'psychossis' (did you mean 'psychosis'?)``."""
    near = difflib.get_close_matches(key, QUESTIONS, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(QUESTIONS)})"
    return f"unknown screening key {key!r}{hint}"


class _Answers(FileModel):
    """Screening answers: every key a known question (the nearest one suggested otherwise)."""

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: object) -> object:
        if not isinstance(raw, Mapping):
            raise FieldProblem("", f"must be an object of answers, not {type(raw).__name__}")
        for key in raw:
            if str(key) not in QUESTIONS:
                raise FieldProblem(str(key), unknown_key_message(str(key)))
        return raw


def _parser(question: Question) -> BeforeValidator:
    def parse(raw: object) -> object:
        try:
            return question.parse(raw)
        except ValueError as exc:
            raise FieldProblem("", f"{exc} (expected {question.describe()})") from None

    return BeforeValidator(parse)


# The answers as one model: a field per question, each read by its question (None when not given).
ScreeningAnswers = create_model(  # type: ignore[call-overload]
    "ScreeningAnswers",
    __base__=_Answers,
    **{key: (Annotated[Any, _parser(q)], None) for key, q in QUESTIONS.items()},
)


def parse_answers(raw: object, where: str, lines: Mapping[str, int] | None = None) -> dict[str, bool | float | int | str | None]:
    """Screening answers checked against the vocabulary; ``ScreeningError`` names ``where`` (a file or the
    form), the line (``lines``: a file's lines of ``screening.<key>``, when read from one) and the field."""
    answers = check(ScreeningAnswers, raw, where, lines, ScreeningError, prefix="screening")
    assert isinstance(raw, Mapping)  # the model refuses anything else
    return {str(key): getattr(answers, str(key)) for key in raw}


def complete(age: int, **answers: bool | str | None) -> dict[str, bool | int | str | None]:
    """Every question answered with nothing found ("no", hepatic "none"), except those given."""
    out: dict[str, bool | int | str | None] = {key: False for key, q in QUESTIONS.items() if q.kind == YES_NO}
    out.update(age=age, hepatic_impairment="none")
    for key, value in answers.items():
        if key not in QUESTIONS:
            raise ScreeningError("screening", None, key, unknown_key_message(key))
        out[key] = value
    return out
