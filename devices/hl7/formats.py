"""``kapmon decode hl7 MESSAGE``: one HL7 v2 message (a file, or ``-`` for standard input; segments separated
by ``\\r`` or ``\\n``) as its readings or alarm conditions, then what was refused and what was read as no
value, one JSON line each."""

from __future__ import annotations

import time
from dataclasses import dataclass

from devices.decoding import Decoded, DecodeFormat
from devices.hl7.decoder import decode_message


@dataclass(frozen=True, slots=True)
class Remark:
    """Something the decoder said about a message: ``refused`` (the message would get AE) or ``note``."""

    kind: str
    text: str

    def as_json(self) -> dict:
        return {self.kind: self.text}


def decode_hl7(data: bytes | str) -> list[Decoded]:
    """The items of one message (times on the monitor's clock), then its remarks."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    decoded = decode_message(text, time.time())
    return [*decoded.items, *(Remark("refused", p) for p in decoded.problems), *(Remark("note", n) for n in decoded.notes)]


FORMATS = {"hl7": DecodeFormat("hl7", "message", "HL7 v2 ORU^R01 (IHE PCD-01) or ORU^R40 (PCD-04) message", decode_hl7)}
