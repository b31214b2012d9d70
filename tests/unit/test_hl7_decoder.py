"""The HL7 v2 decoder against the IHE PCD technical framework's example and messages in the shape monitors
send (tests/hl7_fixtures.py says where each was published): readings, sources, times, no-value markers,
units, refusals with their reasons, PCD-04 alarms, acknowledgements and ``kapmon decode hl7``."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from devices.errors import DecodeError
from devices.hl7.ack import ack, ack_code
from devices.hl7.alarms import AlarmTracker, DeviceAlarm
from devices.hl7.decoder import Hl7Error, decode_message
from devices.hl7.dtm import parse_dtm, parse_zone
from devices.hl7.encoder import ALARMED, alarm_report, observation_report
from devices.hl7.message import parse
from devices.reading import Condition, Reading, no_value, reading
from devices.vocabulary import NO_VALUE, QUESTIONABLE
from hl7_fixtures import (COMEN_VS8, CUFF_MONITOR, GE_B1X5, GE_B40, GE_MURAL_R40, IHE_BP, IPF_MAXIMAL, MASIMO_PSN_R40,
                          MINDRAY_TEXT_UNITS, SWAPPED_R40, segments)
from monitor.cli.main import main

UTC = timezone.utc
RECEIVED = 2_000_000_000.0


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def values(text: str, zone=UTC) -> dict[tuple[str, str], float | None]:
    return {(r.source, r.vital): r.value for r in decode_message(text, RECEIVED, zone).items}


def obx_message(*obx: str, msh_time: str = "20260301120000+0000", obr_time: str = "") -> str:
    """A minimal ORU^R01 around the given OBX rows (device 0123456789ABCDEF)."""
    return segments(
        rf"MSH|^~\&|MON^0123456789ABCDEF^EUI-64||||{msh_time}||ORU^R01^ORU_R01|CTRL1|P|2.6",
        f"OBR|1|||182777000^monitoring of patient^SCT|||{obr_time}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||0123456789ABCDEF^EUI-64",
        *obx,
    )


def spo2_row(value: str = "97", unit: str = "262688^MDC_DIM_PERCENT^MDC", status: str = "R", flags: str = "",
             kind: str = "NM", when: str = "") -> str:
    return f"OBX|2|{kind}|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|{value}|{unit}||{flags}|||{status}|||{when}"


# ---------------------------------------------------------------- published messages


def test_ihe_pcd01_blood_pressure_example():
    decoded = decode_message(IHE_BP, RECEIVED)
    assert (decoded.kind, decoded.control_id) == ("R01", "MSGID1234")
    assert decoded.sent == epoch("2009-07-13T09:00:30+00:00")
    assert [(r.vital, r.value, r.unit, r.source) for r in decoded.items] == [
        ("sbp", 120.0, "mmHg", "hl7:0123456789ABCDEF/nibp"),
        ("dbp", 80.0, "mmHg", "hl7:0123456789ABCDEF/nibp"),
        ("map", 100.0, "mmHg", "hl7:0123456789ABCDEF/nibp"),
    ]
    # the metric rows carry no OBX-14: the OBR-7 time of the measurement, not MSH-7 (when it was sent)
    assert {r.t for r in decoded.items} == {epoch("2009-08-13T09:57:15+00:00")}
    assert decoded.problems == [] and decoded.devices == {"0123456789ABCDEF"}


def test_ipf_maximal_message_flags_status_and_repeated_rows():
    decoded = decode_message(IPF_MAXIMAL, RECEIVED)
    by = {(r.source, r.vital): r for r in decoded.items}
    sbp = by[("hl7:1305815835/nibp", "sbp")]  # OBX-18's first repetition names equipment 1305815835
    assert (sbp.value, sbp.status, sbp.t) == (140.0, QUESTIONABLE, epoch("2009-08-13T09:57:25+05:00"))
    assert by[("hl7:0123456789ABCDEF/nibp", "dbp")].status == NO_VALUE  # OBX-11 D (deleted), never 70
    assert by[("hl7:0123456789ABCDEF/nibp", "map")].value == 100.0
    # the second OBR's rows have codes no device uses but the right names; a repeated vital keeps the first
    assert by[("hl7:0123456789ABCDEF/nibp", "sbp")].value == 120.0
    assert any("a second sbp" in n for n in decoded.notes) and decoded.problems == []


def test_ge_b40_manual_examples():
    decoded = decode_message(GE_B40, RECEIVED, UTC)
    got = {r.vital: r.value for r in decoded.items}
    assert got == {"hr": 80.0, "spo2": 100.0, "rr": 18.0, "temp": 37.1}  # airway RR and T1 come first
    assert {r.source for r in decoded.items} == {"hl7:080019FFFE0B4020"}
    assert {r.t for r in decoded.items} == {epoch("2013-01-22T13:41:00+00:00")}  # OBR-7, no zone: the one given


def test_comen_vs8_vendor_rows_and_second_channel():
    got = values(COMEN_VS8)
    assert got == {
        ("hl7:KC261551373G", "spo2"): 97.0, ("hl7:KC261551373G", "rr"): 20.0, ("hl7:KC261551373G", "temp"): 37.0,
        ("hl7:KC261551373G/nibp", "sbp"): 120.0, ("hl7:KC261551373G/nibp", "dbp"): 80.0,
        ("hl7:KC261551373G/nibp", "map"): 90.0,
    }
    assert {r.t for r in decode_message(COMEN_VS8, RECEIVED).items} == {epoch("2025-06-10T01:51:27+08:00")}


def test_minus_100_and_an_impossible_temperature_are_no_value_and_cuff_rows_are_read_by_name():
    decoded = decode_message(CUFF_MONITOR, RECEIVED, UTC)
    by = {(r.source, r.vital): r for r in decoded.items}
    assert by[("hl7:patient_monitor", "spo2")].status == NO_VALUE
    assert by[("hl7:patient_monitor", "pr")].status == NO_VALUE
    assert by[("hl7:patient_monitor", "temp")].value == 38.5
    assert by[("hl7:patient_monitor/nibp", "sbp")].value == 142.0  # code 150031, name MDC_PRESS_CUFF_SYS
    assert by[("hl7:patient_monitor/nibp", "map")].t == epoch("2025-06-12T09:33:19+00:00")
    assert any("384.5 is not physically possible" in n for n in decoded.notes)


def test_text_units_and_outlier_codes():
    assert values(MINDRAY_TEXT_UNITS) == {
        ("hl7:VS8/nibp", "sbp"): 118.0, ("hl7:VS8/nibp", "dbp"): 74.0, ("hl7:VS8", "pr"): 72.0,
        ("hl7:VS8", "spo2"): 97.0, ("hl7:VS8", "temp"): 36.7,
    }
    assert values(GE_B1X5) == {("hl7:080019FFFE134535", "spo2"): 98.0, ("hl7:080019FFFE134535", "pr"): 76.0}


def test_ge_mural_advisory_is_a_device_alarm_with_the_monitors_words():
    decoded = decode_message(GE_MURAL_R40, RECEIVED)
    (alarm,) = decoded.alarms
    c = alarm.condition
    assert (c.condition, c.source, c.active) == ("device_alarm", "hl7:GE_Mural_DH_NM", True)
    assert c.detail == "HYPERTENSION-Alert Recheck BP (medium priority at the monitor)"
    assert c.t == epoch("2021-01-20T08:23:26.275+00:00")
    assert decoded.items == [c]


def test_masimo_spo2_low_carries_its_vital():
    (alarm,) = decode_message(MASIMO_PSN_R40, RECEIVED).alarms
    assert (alarm.condition.condition, alarm.condition.vitals, alarm.condition.detail) == ("device_alarm", ("spo2",),
                                                                                           "SPO2 LOW")
    assert alarm.condition.t == pytest.approx(epoch("2018-07-17T05:16:37.790-07:00"))


def test_swapped_code_and_name_still_read_as_an_alarm():
    (alarm,) = decode_message(SWAPPED_R40, RECEIVED).alarms
    assert alarm.condition.active and alarm.key.startswith("MDC_EVT_HI_VAL_ALARM@1.1.3.1")


# ---------------------------------------------------------------- values, units, times


@pytest.mark.parametrize("value", ["", '""', "32767", "-32768", "8388607", "-8388608", "2047", "65535"])
def test_no_value_markers_are_never_numbers(value):
    (r,) = decode_message(obx_message(spo2_row(value)), RECEIVED).items
    assert (r.value, r.status) == (None, NO_VALUE)


@pytest.mark.parametrize(("status", "flags"), [("X", ""), ("D", ""), ("W", ""), ("N", ""), ("R", "INV"), ("F", "NAV~L")])
def test_status_and_flags_that_say_no_value(status, flags):
    (r,) = decode_message(obx_message(spo2_row("97", status=status, flags=flags)), RECEIVED).items
    assert r.status == NO_VALUE


def test_text_in_a_number_is_no_value_and_noted():
    decoded = decode_message(obx_message(spo2_row("--")), RECEIVED)
    assert decoded.items[0].status == NO_VALUE and "'--' is not a number" in decoded.notes[0]


@pytest.mark.parametrize(("row", "expected"), [
    ("OBX|2|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.1|16|265987^MDC_DIM_KILO_PA^MDC|||||R", ("sbp", 120.01)),
    ("OBX|2|NM|150344^MDC_TEMP^MDC|1.2.1.1|98.6|266560^MDC_DIM_FAHR^MDC|||||R", ("temp", 37.0)),
    ("OBX|2|NM|151578^MDC_TTHOR_RESP_RATE^MDC|1.6.1.1|14|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R", ("rr", 14.0)),
])
def test_units_are_converted_to_kapmons(row, expected):
    (r,) = decode_message(obx_message(row), RECEIVED).items
    assert (r.vital, round(r.value, 2)) == expected


@pytest.mark.parametrize(("row", "reason"), [
    (spo2_row(unit="266016^MDC_DIM_MMHG^MDC"), "unit '266016^MDC_DIM_MMHG' is not a percent unit"),
    (spo2_row(unit=""), "a number without a unit"),
    (spo2_row(unit="999^MDC_DIM_FURLONG^MDC"), "is not a percent unit"),
    (spo2_row(kind="ST"), "value type ST, not NM"),
    (spo2_row(flags="DEMO"), "flagged DEMO: not a patient's data"),
    (spo2_row(flags="TEST~QUES"), "flagged TEST"),
    ("OBX|2|NM|150456^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R", "but it is named"),
])
def test_refused_observations_say_why_and_the_rest_is_kept(row, reason):
    decoded = decode_message(obx_message(row, "OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|72|264864^^MDC|||||R"),
                             RECEIVED)
    assert [r.vital for r in decoded.items] == ["hr"]
    (problem,) = decoded.problems
    assert reason in problem and problem.startswith("OBX 2")


def test_questionable_flag_keeps_the_number():
    (r,) = decode_message(obx_message(spo2_row(flags="QUES")), RECEIVED).items
    assert (r.value, r.status) == (97.0, QUESTIONABLE)


def test_observation_time_quirks_and_fallbacks():
    bare = decode_message(obx_message(spo2_row(when="20260124131539123+0800")), RECEIVED).items[0]
    dotted = decode_message(obx_message(spo2_row(when="20260124131539.123+0800")), RECEIVED).items[0]
    assert bare.t == dotted.t == epoch("2026-01-24T13:15:39.123+08:00")
    zoneless = decode_message(obx_message(spo2_row(when="20260124131539")), RECEIVED, parse_zone("-0500")).items[0]
    assert zoneless.t == epoch("2026-01-24T13:15:39-05:00")
    broken = decode_message(obx_message(spo2_row(when="2026-01-24 13:15"), obr_time="20260301115900+0000"), RECEIVED)
    assert broken.items[0].t == epoch("2026-03-01T11:59:00+00:00")  # OBR-7
    assert "OBX-14" in broken.notes[0]
    from_msh = decode_message(obx_message(spo2_row()), RECEIVED).items[0]
    assert from_msh.t == epoch("2026-03-01T12:00:00+00:00")  # no OBX-14 or OBR-7: MSH-7
    received = decode_message(obx_message(spo2_row(), msh_time=""), RECEIVED).items[0]
    assert received.t == RECEIVED  # no time at all: when it arrived


def test_dtm_parsing_edges():
    assert parse_dtm("20180717051637.8010-0700") == pytest.approx(epoch("2018-07-17T05:16:37.801-07:00"))
    assert parse_dtm("202601241315", UTC) == epoch("2026-01-24T13:15:00+00:00")
    assert parse_dtm("2026", UTC) == epoch("2026-01-01T00:00:00+00:00")
    for bad in ("2026-01-24", "20261324", "1899", "20260124131539.12345", "20260124131539+2500", ""):
        with pytest.raises(ValueError):
            parse_dtm(bad)
    assert parse_zone("+0530").utcoffset(None) == timedelta(hours=5, minutes=30)
    with pytest.raises(ValueError):
        parse_zone("Europe/Paris")


# ---------------------------------------------------------------- whole messages refused


@pytest.mark.parametrize(("text", "reason"), [
    ("", "does not start with an MSH segment"),
    ("hello world", "does not start with an MSH segment"),
    (segments(r"MSH|^~\&|x||||||ADT^A01|1|P|2.6"), "unsupported message type ADT^A01"),
    (segments(r"MSH|^~\&|x||||||ACK^R01|1|P|2.6", "MSA|AA|1"), "unsupported message type ACK^R01"),
    (segments(r"MSH|^~\&|x||||||ORU^R01|1|T|2.6"), "processing id T (training): not a patient's data"),
    ("MSH|^~\\&|x||||||ORU^R01|1|P|2.6\r" + "OBX|1|NM|150456^^MDC|1|97|%|||||R|||||||" + "E" * 100, "device id of 100"),
    ("MSH|" + "x" * (1 << 20), "more than"),
])
def test_messages_kapmon_does_not_take(text, reason):
    with pytest.raises(Hl7Error) as caught:
        decode_message(text, RECEIVED)
    assert reason in str(caught.value)
    assert isinstance(caught.value, DecodeError) and caught.value.ack in ("AR", "AE")


def test_a_sending_facility_names_the_device_when_no_obx18_does():
    text = segments(r"MSH|^~\&|APP|ROOM 3 MONITOR|||20260301120000+0000||ORU^R01|1|P|2.6",
                    "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^^MDC|||||R")
    assert decode_message(text, RECEIVED).items[0].source == "hl7:ROOM_3_MONITOR"


# ---------------------------------------------------------------- alarms


def test_alarm_tracker_pairs_starts_and_ends_per_condition():
    def alarm(key: str, active: bool, t: float) -> DeviceAlarm:
        return DeviceAlarm(key, Condition(t, "device_alarm", "hl7:M", active, (), f"{key} text"))

    tracker = AlarmTracker()
    assert [c.active for c in tracker.update([alarm("a", True, 1)])] == [True]
    assert tracker.update([alarm("a", True, 2), alarm("b", True, 2)]) == []  # repeated, and a second one
    assert tracker.update([alarm("a", False, 3)]) == []  # b is still on
    (end,) = tracker.update([alarm("b", False, 4)])
    assert (end.active, end.t, end.detail) == (False, 4, "")
    assert tracker.update([alarm("c", False, 5)]) == []  # an end never started is not an edge


@pytest.mark.parametrize("condition", ALARMED)
def test_encoded_alarms_read_back_as_the_same_condition(condition):
    c = Condition(RECEIVED, condition, "sim", True, ("spo2",))
    (alarm,) = decode_message(alarm_report(c, "EMU", "C1", RECEIVED), RECEIVED).alarms
    assert (alarm.condition.condition, alarm.condition.vitals, alarm.condition.active) == (condition, ("spo2",), True)
    (ended,) = decode_message(alarm_report(Condition(RECEIVED, condition, "sim", False), "EMU", "C2", RECEIVED),
                              RECEIVED).alarms
    assert ended.key == alarm.key and not ended.condition.active


def test_keep_alive_is_not_an_alarm():
    text = segments(r"MSH|^~\&|M|F|||20260301120000+0000||ORU^R40^ORU_R40|1|P|2.6",
                    "OBX|1|ST|196614^MDC_EVT_ACTIVE^MDC|1.0.0.0.1|||||||R")
    assert decode_message(text, RECEIVED).alarms == []


# ---------------------------------------------------------------- encoder round trip, acknowledgements


def test_observation_report_round_trip():
    t = RECEIVED
    sent = [(reading(t, "spo2", 96, "ox"), False), (reading(t, "pr", 71, "ox"), False),
            (reading(t, "sbp", 131, "cuff"), True), (reading(t, "pr", 70, "cuff"), True),
            (no_value(t, "hr", "ecg"), False), (Reading(t, "rr", 12.0, "/min", "x", QUESTIONABLE), False),
            (reading(t, "temp", 36.6, "x"), False), (reading(t, "pleth", 50, "ox"), False)]
    decoded = decode_message(observation_report(sent, "EMU", "C9", t), t)
    got = {(r.source, r.vital): (r.value, r.status) for r in decoded.items}
    assert got == {("hl7:EMU", "spo2"): (96.0, "ok"), ("hl7:EMU", "pr"): (71.0, "ok"),
                   ("hl7:EMU/nibp", "sbp"): (131.0, "ok"), ("hl7:EMU/nibp", "pr"): (70.0, "ok"),
                   ("hl7:EMU", "hr"): (None, "no_value"), ("hl7:EMU", "rr"): (12.0, "questionable"),
                   ("hl7:EMU", "temp"): (36.6, "ok")}  # pleth is not sent
    assert decoded.problems == [] and decoded.control_id == "C9"


def test_acks_echo_the_control_id_and_carry_a_clean_reason():
    message = parse(IHE_BP)
    assert ack_code(ack(message, "AA")) == ("AA", "")
    reply = ack(message, "AE", "OBX 4 (sbp): unit 'mm|Hg^x' \r\n bad")
    code, reason = ack_code(reply)
    assert code == "AE" and "|" not in reason and "^" not in reason and reason.startswith("OBX 4 (sbp)")
    assert parse(reply).segment("MSA")[2][0] == "MSGID1234"
    assert ack_code(ack(None, "AR", "does not start with an MSH segment")) == ("AR", "does not start with an MSH segment")
    with pytest.raises(ValueError):
        ack_code("MSH|^~\\&|x\rMSA|ZZ|1\r")


# ---------------------------------------------------------------- kapmon decode hl7


def test_kapmon_decode_hl7_prints_readings_with_times_and_sources(tmp_path, capsys):
    path = tmp_path / "bp.hl7"
    path.write_text(IHE_BP.replace("\r", "\n"))
    assert main(["decode", "hl7", str(path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"t": "2009-08-13T09:57:15+00:00", "source": "hl7:0123456789ABCDEF/nibp", "vital": "sbp",
                        "value": 120.0, "unit": "mmHg"}
    assert len(lines) == 3


def test_kapmon_decode_hl7_from_stdin_says_what_was_refused(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(obx_message(spo2_row(unit="266016^MDC_DIM_MMHG^MDC"))))
    assert main(["decode", "hl7", "-"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"refused": "OBX 2 (spo2): unit '266016^MDC_DIM_MMHG' is not a percent unit"}]


@pytest.mark.parametrize(("arg", "error"), [("/no/such/file.hl7", "cannot read /no/such/file.hl7"),
                                            ("-", "unsupported message type ADT^A01")])
def test_kapmon_decode_hl7_errors_are_one_line(arg, error, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("MSH|^~\\&|x||||||ADT^A01|1|P|2.6\n"))
    assert main(["decode", "hl7", arg]) == 1
    err = capsys.readouterr().err
    assert error in err and err.count("\n") == 1


def test_a_monitors_alarm_text_reaches_the_record_without_control_characters():
    text = segments(r"MSH|^~\&|M|F|||20260301120000+0000||ORU^R40^ORU_R40|1|P|2.6",
                    "OBX|1|ST|196674^MDC_EVT_LO_VAL_LT_LIM^MDC|1.0.0.1.1|\x1b[2J\x07SPO2 LOW" + "!" * 300 + "|||L~SP|||R")
    (alarm,) = decode_message(text, RECEIVED).alarms
    assert alarm.condition.detail.startswith("?[2J?SPO2 LOW") and len(alarm.condition.detail) <= 120
