"""Reading one HL7 v2 message with python-hl7: its header, and its OBX rows in order with the device and
time each belongs to.

One message can carry several devices: an OBX belongs to the equipment its OBX-18 names, or the one an
earlier row of its MDS (the first number of OBX-4) named, or else the sending facility (MSH-4) or
application (MSH-3). An OBX's time is its OBX-14, else its OBR-7, else the message's MSH-7, else when it
was received; a timestamp without a zone is in ``zone`` (this computer's by default).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo

import hl7

from devices.errors import DecodeError
from devices.hl7.dtm import parse_dtm
from devices.patient import CONTROL
from devices.reading import Item

MAX_MESSAGE_CHARS = 1 << 20  # design proposal: a PCD-01 message is a few kB; 1 MiB leaves room for large monitors
DEVICE_ID_MAX = 64  # design proposal: an EUI-64 is 16 hex digits; vendors add a name
DEVICE_ID = re.compile(r"[^A-Za-z0-9._:@-]")
TRAINING = {"T": "training", "D": "debugging"}  # MSH-11 processing ids that are not a patient's data
KINDS = ("R01", "R40")
PARSE_ERRORS = (hl7.HL7Exception, ValueError, IndexError, KeyError, AssertionError, TypeError, AttributeError)


class Hl7Error(DecodeError):
    """A message kapmon cannot take. ``ack`` is the negative acknowledgement it gets: ``AR`` (rejected:
    not a message kapmon takes) or ``AE`` (an error in its content)."""

    def __init__(self, reason: str, ack: str = "AR") -> None:
        super().__init__(reason)
        self.ack = ack


@dataclass
class Decoded:
    """What one message holds. ``items`` are readings (``ORU^R01``) or conditions (``ORU^R40``) stamped on
    the monitor's clock; ``sent`` is MSH-7 on that clock (``None`` without one). ``alarms`` are the alarms
    of an ``ORU^R40`` (its conditions, one each). ``problems`` are what was refused (the message gets AE);
    ``notes`` what was read as no value or given another time."""

    message: hl7.Message
    kind: str
    control_id: str
    sent: float | None = None
    items: list[Item] = field(default_factory=list)
    devices: set[str] = field(default_factory=set)
    alarms: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def normalise(text: str) -> str:
    """Segments separated by ``\\r`` whatever a file or vendor used (``\\r\\n``, ``\\n``)."""
    return text.strip().replace("\r\n", "\r").replace("\n", "\r")


def parse(text: str) -> hl7.Message:
    """The message as python-hl7 reads it; ``Hl7Error`` (AR) when it is not one."""
    text = normalise(text)
    if len(text) > MAX_MESSAGE_CHARS:
        raise Hl7Error(f"message is {len(text)} characters, more than {MAX_MESSAGE_CHARS}")
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7Error(f"does not start with an MSH segment: {text[:20]!r}")
    try:
        message = hl7.parse(text)
        message.segment("MSH")
    except PARSE_ERRORS as exc:
        raise Hl7Error(f"cannot be read as HL7 v2: {exc}") from None
    return message


def text_of(segment: hl7.Segment, index: int, component: int = 1, repetition: int = 1) -> str:
    """One field component as text ('' when absent); HL7's explicit null ``""`` is absent too."""
    try:
        value = str(segment.extract_field(1, index, repetition, component)).strip()
    except PARSE_ERRORS:
        return ""
    return "" if value == '""' else value


def repetitions(segment: hl7.Segment, index: int) -> list[str]:
    """The first component of every repetition of a field."""
    try:
        count = len(segment[index]) if isinstance(segment[index][0], hl7.Repetition) else 1
    except PARSE_ERRORS:
        return []
    return [v for v in (text_of(segment, index, 1, r) for r in range(1, count + 1)) if v]


def printable(text: str) -> str:
    """``text`` without control characters (a peer's words go to logs, the page and the store)."""
    return CONTROL.sub("?", text)


def device_id(raw: str, where: str) -> str:
    """An equipment or facility id fit for a source name: characters other than letters, digits and
    ``._:@-`` become ``_``; longer than ``DEVICE_ID_MAX`` is refused (AE)."""
    if len(raw) > DEVICE_ID_MAX:
        raise Hl7Error(f"{where}: device id of {len(raw)} characters, more than {DEVICE_ID_MAX}", "AE")
    return DEVICE_ID.sub("_", raw)


def header(message: hl7.Message, zone: tzinfo | None) -> Decoded:
    """The message with its header checked: ``ORU^R01`` or ``ORU^R40``, not training data."""
    msh = message.segment("MSH")
    kind = (text_of(msh, 9, 1), text_of(msh, 9, 2))
    if kind[0] != "ORU" or kind[1] not in KINDS:
        raise Hl7Error(f"unsupported message type {'^'.join(kind)[:40]} (kapmon takes ORU^R01 and ORU^R40)")
    processing = text_of(msh, 11)
    if processing[:1] in TRAINING:
        raise Hl7Error(f"processing id {processing[:10]} ({TRAINING[processing[:1]]}): not a patient's data")
    decoded = Decoded(message, kind[1], text_of(msh, 10))
    decoded.sent = timestamp(text_of(msh, 7), zone, "MSH-7", decoded)
    return decoded


def timestamp(value: str, zone: tzinfo | None, where: str, decoded: Decoded) -> float | None:
    """A DTM as epoch seconds; a bad one is noted and ``None`` (an earlier time is used)."""
    if not value:
        return None
    try:
        return parse_dtm(value, zone)
    except ValueError as exc:
        decoded.notes.append(f"{where}: {exc}; another time is used")
        return None


def message_device(msh: hl7.Segment) -> str:
    """The device a message names for itself: sending facility (MSH-4), else application (MSH-3)."""
    for index in (4, 3):
        raw = text_of(msh, index, 1) or text_of(msh, index, 2)
        if raw:
            return device_id(raw, f"MSH-{index}")
    return "unknown"


@dataclass(frozen=True, slots=True)
class Row:
    """One OBX with where it sits: its number, containment (OBX-4), device and time."""

    obx: hl7.Segment
    number: str
    sub_id: str
    device: str
    t: float

    @property
    def code(self) -> str:
        return text_of(self.obx, 3, 1)

    @property
    def name(self) -> str:
        return text_of(self.obx, 3, 2)

    def text(self, index: int, component: int = 1) -> str:
        return text_of(self.obx, index, component)


def rows(decoded: Decoded, received: float, zone: tzinfo | None) -> Iterator[Row]:
    """The OBX rows of a message in order, each with its device and time."""
    fallback = message_device(decoded.message.segment("MSH"))
    equipment: dict[str, str] = {}
    group_t: float | None = None
    for position, segment in enumerate(decoded.message, start=1):
        kind = str(segment[0]) if len(segment) else ""
        if kind == "OBR":
            group_t = timestamp(text_of(segment, 7), zone, f"segment {position} OBR-7", decoded)
        elif kind == "OBX":
            number = text_of(segment, 1) or f"#{position}"
            sub_id = text_of(segment, 4)
            mds = sub_id.split(".")[0]
            named = text_of(segment, 18, 1)
            if named:
                equipment[mds] = device_id(named, f"OBX {number} OBX-18")
            device = equipment.get(mds, fallback)
            t = timestamp(text_of(segment, 14), zone, f"OBX {number} OBX-14", decoded)
            times = [x for x in (t, group_t, decoded.sent) if x is not None]
            yield Row(segment, number, sub_id, device, times[0] if times else received)
