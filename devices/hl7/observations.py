"""The readings of an IHE PCD-01 observation report (``ORU^R01``): each OBX whose MDC metric kapmon records
becomes a reading of ``hl7:<device>``, or of ``hl7:<device>/nibp`` for what the cuff measured (NIBP and its
pulse rate), as kapmon keeps a cuff apart from an oximeter.

What an observation cannot be (another vital's unit, a number without a unit, demo or test data, a text
where a number belongs) is refused and said in ``problems``. A device's "no value" (empty, ``""``, 32767 and
the 11073 NaN/NRes codes, OBX-11 X/D/W/N, OBX-8 INV/NAV, a number the vital cannot take) is a no-value
reading, never a number; OBX-8 QUES/CAL/EARLY keeps the number as questionable. Of two values of one vital
from one source in one message (two SpO2 channels, RR from airway and impedance) the first is kept.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from devices.hl7 import mdc
from devices.hl7.message import Decoded, Hl7Error, Row, repetitions, rows
from devices.reading import Reading, in_physical_range
from devices.vocabulary import NO_VALUE, OK, QUESTIONABLE, VITALS

NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
NO_VALUE_STATUS = frozenset({"X", "D", "W", "N"})  # OBX-11: cannot be obtained, deleted, wrong, not asked
NO_VALUE_FLAGS = frozenset({"INV", "NAV"})  # OBX-8 (IHE PCD measurement status): invalid, not available
QUESTIONABLE_FLAGS = frozenset({"QUES", "CAL", "EARLY"})  # questionable, calibrating, early indication
REFUSED_FLAGS = frozenset({"TEST", "DEMO"})  # a monitor's test or demonstration data is not a patient's
NUMERIC_TYPES = frozenset({"NM", ""})


def metric_of(row: Row) -> mdc.Metric | None:
    """The metric an OBX is, by code or reference name; ``None`` for one kapmon does not record.
    ``Hl7Error`` (AE) when code and name say different vitals."""
    by_code, by_name = mdc.BY_CODE.get(row.code), mdc.BY_NAME.get(row.name) or mdc.BY_NAME.get(row.code)
    if by_code and by_name and by_code.vital != by_name.vital:
        raise Hl7Error(f"OBX {row.number}: code {row.code} is {by_code.name} but it is named {row.name[:40]}", "AE")
    return by_code or by_name


def observations(decoded: Decoded, received: float, zone: tzinfo | None) -> None:
    """Fill ``decoded.items`` with the readings of an ``ORU^R01``."""
    seen: set[tuple[str, str]] = set()
    for row in rows(decoded, received, zone):
        try:
            metric = metric_of(row)
            reading = None if metric is None else observation(row, metric, decoded.notes)
        except Hl7Error as exc:
            decoded.problems.append(str(exc))
            continue
        if reading is None:
            continue
        if (reading.source, reading.vital) in seen:
            decoded.notes.append(f"OBX {row.number}: a second {reading.vital} of {reading.source}; the first is kept")
            continue
        seen.add((reading.source, reading.vital))
        decoded.items.append(reading)
        decoded.devices.add(row.device)


def observation(row: Row, metric: mdc.Metric, notes: list[str]) -> Reading:
    """One observation as a reading; ``Hl7Error`` (AE) when it is refused."""
    where = f"OBX {row.number} ({metric.vital})"
    flags = {f.upper() for f in repetitions(row.obx, 8)}
    if flags & REFUSED_FLAGS:
        raise Hl7Error(f"{where}: flagged {'/'.join(sorted(flags & REFUSED_FLAGS))}: not a patient's data", "AE")
    value_type = row.text(2).upper()
    if value_type not in NUMERIC_TYPES:
        raise Hl7Error(f"{where}: value type {value_type[:10]}, not NM", "AE")
    source = f"hl7:{row.device}" + ("/nibp" if metric.cuff else "")
    unit = VITALS[metric.vital].unit
    value = number(row, metric, where, flags, notes)
    if value is None:
        return Reading(row.t, metric.vital, None, unit, source, NO_VALUE)
    return Reading(row.t, metric.vital, value, unit, source, QUESTIONABLE if flags & QUESTIONABLE_FLAGS else OK)


def number(row: Row, metric: mdc.Metric, where: str, flags: set[str], notes: list[str]) -> float | None:
    """The value in kapmon's unit, or ``None`` for the device's "no value"."""
    raw = row.text(5)
    if not raw or row.text(11).upper() in NO_VALUE_STATUS or flags & NO_VALUE_FLAGS:
        return None
    if not NUMBER.match(raw):
        notes.append(f"{where}: {raw[:20]!r} is not a number; no value")
        return None
    value = float(raw)
    if value in mdc.INVALID_MARKERS:
        return None
    value = round(unit_of(row, metric, where).convert(value), 6)
    if not in_physical_range(metric.vital, value):
        notes.append(f"{where}: {raw[:20]} is not physically possible; no value")
        return None
    return value


def unit_of(row: Row, metric: mdc.Metric, where: str) -> mdc.Unit:
    """The OBX-6 unit, which must be one for the vital; ``Hl7Error`` (AE) when it is missing or another's."""
    names = [n for n in (row.text(6, 1), row.text(6, 2)) if n]
    if not names:
        raise Hl7Error(f"{where}: a number without a unit (OBX-6)", "AE")
    unit = next((mdc.UNITS[n] for n in names if n in mdc.UNITS), None)
    expected = mdc.UNIT_KIND[metric.vital]
    if unit is None or unit.kind != expected:
        raise Hl7Error(f"{where}: unit {'^'.join(names)[:40]!r} is not a {expected} unit", "AE")
    return unit
