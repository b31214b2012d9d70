"""What a session may say about its patient and dosing: the plausible ranges of weight, age and dose, a
lot number, an observation's level on its scale, a pseudonym (the routes of administration are in
``devices.vocabulary``). The recording sidecar
and the session record both check against these, so a value one accepts the other never refuses."""

from __future__ import annotations

import math
import re

from devices.vocabulary import SCALES

# Plausible body weight in kg. Design proposal: from a newborn's weight to well above the heaviest
# adults a clinic chair and cuff serve; a number outside it is a typing error (1 for 100, grams).
WEIGHT_KG = (2.0, 400.0)
# Age in whole years. Design proposal: 0 up to the oldest recorded human age (122), rounded up.
AGE_YEARS = (0, 130)


# A recorded amount of medicine in mg. Design proposal: well above the largest dose a shipped protocol
# allows (300 mg oral), so a misplaced decimal point (5000 for 50.00) is kept and raised as "above the
# protocol maximum", while NaN, infinity, 1e308 or a negative number is refused as not a dose at all.
DOSE_MG = (0.0, 10000.0)
# An infusion's length. Design proposal: no session lasts a day.
INFUSION_MAX_S = 24 * 3600.0
# A medicine's lot (batch) number as printed on its pack, which the Spravato REMS monitoring form asks for.
# Design proposal: lot numbers are short codes (23HG512, ABC-1234): up to 40 letters, digits, spaces, - . /
LOT_MAX = 40
_LOT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]*")
# Who charted or gave something, as a sidecar or a page records it. Design proposal: as long as an account name
# (monitor/auth/users.py NAME_MAX).
WHO_MAX = 64
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # characters that are not text: escapes, line breaks, NUL


def who_problem(who: object) -> str | None:
    """Why ``who`` cannot name the person who charted or gave something (None: it can, or nobody is named)."""
    if who is None:
        return None
    if not isinstance(who, str):
        return f"{who!r} is not a name"
    if not who.strip():
        return "is blank (leave it out when nobody is named)"
    if len(who) > WHO_MAX:
        return f"is {len(who):,} characters long (at most {WHO_MAX})"
    if CONTROL.search(who):
        return "holds a control character (a line break, tab or escape): a name is one line of text"
    return None


def person(typed: str | None) -> str | None:
    """A name typed on a page as it is recorded: one line, runs of spaces, tabs and line breaks as one space,
    other control characters left out, at most ``WHO_MAX`` characters (None when nothing is left)."""
    text = CONTROL.sub("", " ".join((typed or "").split()))[:WHO_MAX].strip()
    return text or None


def dose_problem(mg: object) -> str | None:
    """Why ``mg`` is not a recordable amount of medicine, or ``None`` when it is."""
    low, high = DOSE_MG
    if isinstance(mg, bool) or not isinstance(mg, (int, float)) or not math.isfinite(mg):
        return f"{mg!r} is not a number of mg"
    if not low < mg <= high:
        return f"{mg:g} mg is not a dose (more than {low:g}, at most {high:g} mg)"
    return None


def lot_problem(lot: object) -> str | None:
    """Why ``lot`` is not a lot number, or ``None`` when it is."""
    if not isinstance(lot, str):
        return f"lot {lot!r} is not a text"
    if len(lot) > LOT_MAX:
        return f"lot is {len(lot):,} characters long (at most {LOT_MAX})"
    if not _LOT.fullmatch(lot):
        return f"lot {lot!r} is not a lot number (letters, digits, spaces, - . / only)"
    return None


def observation_level(scale: object, level: object) -> int:
    """``level`` as a whole level of observation scale ``scale`` (2.0 from JSON is level 2); ``ValueError`` saying
    why when it is not one."""
    spec = SCALES.get(scale) if isinstance(scale, str) else None
    if spec is None:
        raise ValueError(f"unknown observation scale {scale!r} (known: {', '.join(SCALES)})")
    whole = int(level) if isinstance(level, float) and level.is_integer() else level
    if isinstance(whole, bool) or not isinstance(whole, int) or not 0 <= whole <= spec.top:
        raise ValueError(f"{spec.label} level {level!r} is not one of 0-{spec.top}")
    return whole


def observation_problem(scale: object, level: object) -> str | None:
    """Why ``level`` is not a level of observation scale ``scale``, or ``None`` when it is."""
    try:
        observation_level(scale, level)
    except ValueError as exc:
        return str(exc)
    return None


def weight_problem(weight_kg: object) -> str | None:
    """Why ``weight_kg`` is not a plausible body weight, or ``None`` when it is."""
    low, high = WEIGHT_KG
    if isinstance(weight_kg, bool) or not isinstance(weight_kg, (int, float)) or not low <= weight_kg <= high:
        return f"weight {weight_kg!r} kg is not plausible (a number {low:g}-{high:g} kg)"
    return None


# What a real identity tends to look like; a pseudonym (P-0142, SIM-DES-01, BLUE-7) looks like none of
# these. A name must be the whole text; the others are found anywhere in it.
_NAME = re.compile(r"(?:[A-Z][a-z'’]+[-\s,]+){1,3}[A-Z][a-z'’]+")
_ANYWHERE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE), "an e-mail address"),
    (re.compile(r"\b(?:19|20)\d\d-\d\d-\d\d\b|\b\d\d?[./]\d\d?[./](?:19|20)\d\d\b"), "a date (of birth?)"),
    (re.compile(r"(?:\d[\s-]?){7,}"), "a phone or record number"),
)


def pseudonym_warning(patient: str) -> str | None:
    """A warning when ``patient`` looks like a real identity rather than a pseudonym, else ``None``.

    A heuristic: it catches the common slips (a typed name, an e-mail), never proves anonymity."""
    found = ["a person's name"] if _NAME.fullmatch(patient.strip()) else []
    found += [what for pattern, what in _ANYWHERE if pattern.search(patient)]
    if not found:
        return None
    return f"{patient!r} looks like {found[0]}: only a pseudonym belongs in a session (kapmon stores, exports and publishes it)"
