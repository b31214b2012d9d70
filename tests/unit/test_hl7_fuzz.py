"""The HL7 decoder, the MLLP framer and the ACK builder fed arbitrary and mutated input: nothing but
kapmon's own error escapes, every refusal says why, and no impossible value or "no value" code becomes a
number."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.hl7.ack import ack, ack_code
from devices.hl7.decoder import decode_message
from devices.hl7.message import parse
from devices.hl7.mllp import END, START, Framer, MllpError
from devices.reading import Condition, Reading
from devices.vocabulary import NO_VALUE, VITALS
from hl7_fixtures import PUBLISHED

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RECEIVED = 2_000_000_000.0
SEPARATORS = "|^~\\&\r\n"


def decode_or_say_why(text: str) -> None:
    try:
        decoded = decode_message(text, RECEIVED)
    except DecodeError as exc:
        assert str(exc).strip() and exc.ack in ("AR", "AE")
        return
    for item in decoded.items:
        assert isinstance(item, (Reading, Condition)), item
        if isinstance(item, Reading):
            assert math.isfinite(item.t)
            if item.status == NO_VALUE:
                assert item.value is None
            else:
                spec = VITALS[item.vital]
                assert math.isfinite(item.value) and spec.low <= item.value <= spec.high, item
    assert all(p.strip() for p in decoded.problems)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    decode_or_say_why(text)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list(SEPARATORS) + list("MSHOBXRU0123456789.-+NM ")), max_size=300))
def test_hl7_shaped_noise(text):
    decode_or_say_why("MSH|^~\\&|" + text)


@FUZZ
@given(name=st.sampled_from(sorted(PUBLISHED)), data=st.data())
def test_mutated_published_messages(name, data):
    text = PUBLISHED[name]
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.text(alphabet=st.sampled_from(list(SEPARATORS) + list("0123456789-.XE")), min_size=1, max_size=4))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + len(piece):]
        else:
            text = text[:at] + piece + text[at + len(piece):]
    decode_or_say_why(text)


FIELD = st.lists(st.sampled_from(list("0123456789.-+^~&EX ") + ["32767", "NaN", "inf", "MDC_", '""']), max_size=8).map("".join)


@FUZZ
@given(value=FIELD, unit=FIELD, status=FIELD, flags=FIELD, when=FIELD, kind=st.sampled_from(["NM", "ST", "", "SN", "CWE"]),
       code=st.sampled_from(["150456", "150021", "149546", "150344", "151562", "147842", "1", "MDC_TEMP", ""]),
       equipment=FIELD)
def test_generated_observations(value, unit, status, flags, when, kind, code, equipment):
    obx = f"OBX|1|{kind}|{code}^MDC_X^MDC|1.1.1.1|{value}|{unit}||{flags}|||{status}|||{when}||||{equipment}"
    decode_or_say_why(f"MSH|^~\\&|M|F|||20260301120000||ORU^R01|1|P|2.6\r{obx}\r")
    decode_or_say_why(f"MSH|^~\\&|M|F|||20260301120000||ORU^R40|1|P|2.6\rOBX|1|ST|0^MDC_EVT_X^MDC|1.0.0.1.1|a\r{obx}\r")


@FUZZ
@given(chunks=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"z", START).replace(b"y", END)), max_size=20))
def test_framer_never_holds_more_than_its_bound(chunks):
    framer = Framer(64)
    for chunk in chunks:
        try:
            for message in framer.feed(chunk):
                assert len(message) <= 64 and START not in message
        except MllpError as exc:
            assert "longer than 64" in str(exc)
            return
        assert len(framer.buf) <= 64 + 2


@FUZZ
@given(reason=st.text(max_size=300), code=st.sampled_from(["AA", "AE", "AR"]), name=st.sampled_from(sorted(PUBLISHED)))
def test_acks_always_read_back(reason, code, name):
    for message in (parse(PUBLISHED[name]), None):
        got_code, got_reason = ack_code(ack(message, code, reason))
        assert got_code == code and len(got_reason) <= 200


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_published_message_decodes(name):
    decode_or_say_why(PUBLISHED[name])
    assert decode_message(PUBLISHED[name], RECEIVED).items
