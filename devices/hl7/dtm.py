"""HL7 v2 timestamps (DTM, ``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]``) as epoch seconds, tolerating
what monitors send: no time zone (the zone this computer is in, or the one given), a fractional second
written without its decimal point (``20260124131539000+0800``: 17 digits), and ``-0000``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4})|(\d{1,4}))?(?:([+-])(\d{2})(\d{2}))?$")
YEARS = (1970, 2200)  # a timestamp outside these years is a clock or encoding fault, not a measurement time


def parse_zone(text: str) -> tzinfo | None:
    """``+HHMM``/``-HHMM`` as a fixed zone, ``local`` (or empty) as this computer's; ``ValueError`` otherwise."""
    if text in ("", "local"):
        return None
    m = re.fullmatch(r"([+-])(\d{2})(\d{2})", text)
    if not m or int(m[2]) > 14 or int(m[3]) > 59:
        raise ValueError(f"time zone {text!r} is not +HHMM, -HHMM or local")
    return _zone(m[1], m[2], m[3])


def _zone(sign: str, hours: str, minutes: str) -> timezone:
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


def parse_dtm(text: str, zone: tzinfo | None = None) -> float:
    """Epoch seconds of an HL7 DTM; ``zone`` when the value has none (``None``: this computer's zone).
    ``ValueError`` naming what is wrong."""
    m = DTM.match(text.strip())
    if not m:
        raise ValueError(f"{text[:40]!r} is not an HL7 timestamp (YYYYMMDDHHMMSS[.SSSS][+/-ZZZZ])")
    year, month, day, hour, minute, second, frac_dot, frac_bare, sign, zh, zm = m.groups()
    if (frac_dot or frac_bare) and second is None:
        raise ValueError(f"{text[:40]!r}: a fraction of a second without whole seconds")
    if not YEARS[0] <= int(year) <= YEARS[1]:
        raise ValueError(f"{text[:40]!r}: year {year} is out of range")
    fraction = frac_dot or frac_bare or ""
    try:
        when = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int(fraction.ljust(6, "0")) if fraction else 0,
        )
    except ValueError as exc:
        raise ValueError(f"{text[:40]!r}: {exc}") from None
    if sign:
        if int(zh) > 14 or int(zm) > 59:
            raise ValueError(f"{text[:40]!r}: time zone {sign}{zh}{zm} is out of range")
        when = when.replace(tzinfo=_zone(sign, zh, zm))
    elif zone is not None:
        when = when.replace(tzinfo=zone)
    return when.timestamp()


def format_dtm(t: float) -> str:
    """``t`` as a DTM in UTC with milliseconds (``20260124051539.123+0000``)."""
    when = datetime.fromtimestamp(t, UTC)
    return when.strftime("%Y%m%d%H%M%S") + f".{when.microsecond // 1000:03d}+0000"
