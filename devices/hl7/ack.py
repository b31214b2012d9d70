"""Acknowledgements (original mode): ``AA`` accepted, ``AE`` error in its content, ``AR`` rejected. A
monitor stops sending, or sends the same message again, without one; a negative one carries the reason
in MSA-3."""

from __future__ import annotations

import re
import time

import hl7

from devices.errors import DecodeError
from devices.hl7.dtm import format_dtm
from devices.hl7.message import PARSE_ERRORS, parse, text_of

APPLICATION = "kapmon"
REASON_MAX = 200
UNSAFE = re.compile(r"[^\x20-\x7e]|[|^~\\&]")  # HL7 separators and anything not printable ASCII


def clean(text: str, limit: int = REASON_MAX) -> str:
    """``text`` safe inside one HL7 field: separators and control characters become spaces."""
    return UNSAFE.sub(" ", text)[:limit]


def ack(message: hl7.Message | None, code: str, reason: str = "") -> str:
    """The ACK for ``message`` (``None``: one that could not be read, acknowledged with no MSA-2)."""
    if message is not None:
        try:
            out = message.create_ack(code, message_id=hl7.generate_message_control_id(), application=APPLICATION, facility="")
            if reason:
                out.segment("MSA").assign_field(clean(reason), 3)
            return str(out)
        except PARSE_ERRORS:
            pass
    control = "" if message is None else clean(text_of(message.segment("MSH"), 10), 50)
    return (
        f"MSH|^~\\&|{APPLICATION}||||{format_dtm(time.time())}||ACK|{hl7.generate_message_control_id()}|P|2.6\r"
        f"MSA|{code}|{control}|{clean(reason)}\r"
    )


def ack_code(text: str) -> tuple[str, str]:
    """(MSA-1, MSA-3) of an acknowledgement; ``ValueError`` when it is not one."""
    try:
        msa = parse(text).segment("MSA")
    except (DecodeError, *PARSE_ERRORS) as exc:
        raise ValueError(f"not an acknowledgement: {exc}") from None
    code = text_of(msa, 1)
    if code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
        raise ValueError(f"not an acknowledgement code: {code[:10]!r}")
    return code, text_of(msa, 3)
