"""One HL7 v2 message in, what it holds out: the readings of an IHE PCD-01 observation report
(``ORU^R01``) or the alarms of a PCD-04 alarm report (``ORU^R40``). Pure: no I/O, no clock."""

from __future__ import annotations

from datetime import tzinfo

import hl7

from devices.hl7.alarms import alarm_conditions
from devices.hl7.message import Decoded, Hl7Error, header, parse
from devices.hl7.observations import observations

__all__ = ["Decoded", "Hl7Error", "decode_message"]


def decode_message(message: str | hl7.Message, received: float, zone: tzinfo | None = None) -> Decoded:
    """Decode one message received at ``received`` (the last fallback for its times); a timestamp without
    a zone is in ``zone`` (``None``: this computer's). ``Hl7Error`` (with its ACK code) when kapmon cannot
    take the message at all; refused observations are in ``problems``."""
    decoded = header(parse(message) if isinstance(message, str) else message, zone)
    (observations if decoded.kind == "R01" else alarm_conditions)(decoded, received, zone)
    return decoded
