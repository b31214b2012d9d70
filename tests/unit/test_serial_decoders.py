"""Serial streaming decoders: published vectors, missing-value codes, edge-triggered conditions,
garbage before, between and inside frames, every split across reads, wrong checksums, and the frame
lock that keeps noise from becoming readings. Tests of one frame's fields use ``lock=1`` (every frame
reported); stream tests use each decoder as the transport does."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.reading import Condition, Reading
from devices.serial import cms50d, cms50d_v7, masimo, nibp_module, nonin
from devices.serial.decoder import StreamDecoder
from devices.serial.formats import FORMATS
from devices.serial.protocols import PROTOCOLS

HYPO = settings(derandomize=True, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values(items, vital: str) -> list[float | None]:
    return [i.value for i in items if isinstance(i, Reading) and i.vital == vital]


def conditions(items) -> list[tuple[str, bool]]:
    return [(i.condition, i.active) for i in items if isinstance(i, Condition)]


def feed_chunks(decoder: StreamDecoder, chunks) -> list:
    return [item for chunk in chunks for item in decoder.feed(chunk, 0.0)]


# --- one frame builder, decoder, key vital and "safe" garbage (cannot start a frame) per format


def cms50d_frame(i: int) -> bytes:
    return cms50d.encode_frame(cms50d.Frame(pleth=i % 128, pr=60 + i % 60, spo2=90 + i % 10, sensor_off=False,
                                            searching=False, probe_error=False, beep=i % 7 == 0, signal=5))


def v7_frame(i: int) -> bytes:
    return cms50d_v7.encode_realtime(cms50d_v7.Realtime(pleth=i % 128, pr=60 + i % 60, spo2=90 + i % 10, pi=1.5,
                                                        pi_reported=True, sensor_off=False, searching=False,
                                                        probe_error=False, signal=5))


def nonin_frame(fmt: int) -> Callable[[int], bytes]:
    def make(i: int) -> bytes:
        number = i % 25 + 1
        status = nonin.S_SYNC if number == 1 else 0
        fb = nonin.float_byte(number, 70 + i // 25, 95, False)
        return nonin.encode_frame(fmt, nonin.PacketFrame(status, (i * 37) % (256 if fmt == 2 else 65536), fb))

    return make


def nonin8_frame(i: int) -> bytes:
    return nonin.encode_format8(nonin.Format8(hr=50 + i % 200, spo2=80 + i % 20))


def masimo_frame(i: int) -> bytes:
    return masimo.encode_line(datetime(2025, 1, 2, 3, 4, i % 60), masimo.Line(80 + i % 20, 70, 2.5, True, 0, 0x800))


def nibp_frame(i: int) -> bytes:
    return nibp_module.frame(nibp_module.result_body(100 + i % 100, 70, 80, 60)) + b"\r"


@dataclass(frozen=True)
class Fmt:
    name: str
    frame: Callable[[int], bytes]
    decoder: Callable[[], StreamDecoder]
    vital: str
    garbage: st.SearchStrategy[bytes]
    lock: int = 1  # frames in a row before the decoder reports any


low7 = st.binary(min_size=1, max_size=20).map(lambda b: bytes(x & 0x7F for x in b))
FMTS = [
    Fmt("cms50d", cms50d_frame, cms50d.Cms50dDecoder, "pleth", low7, cms50d.LOCK_FRAMES),
    Fmt("cms50d-v7", v7_frame, cms50d_v7.Cms50dV7Decoder, "pleth",
        st.binary(min_size=1, max_size=20).map(lambda b: bytes(x | 0x80 for x in b)), cms50d_v7.LOCK_FRAMES),
    Fmt("nonin2", nonin_frame(2), lambda: nonin.NoninPacketDecoder(2), "pleth",
        st.binary(min_size=1, max_size=20).map(lambda b: bytes(x if x != 1 else 0 for x in b)), nonin.PACKET_LOCK_FRAMES),
    Fmt("nonin7", nonin_frame(7), lambda: nonin.NoninPacketDecoder(7), "pleth", low7, nonin.PACKET_LOCK_FRAMES),
    Fmt("nonin8", nonin8_frame, nonin.NoninFormat8Decoder, "spo2", low7, nonin.FORMAT8_LOCK_FRAMES),
    Fmt("masimo", masimo_frame, masimo.MasimoDecoder, "spo2", st.text("abcxyz \r\n", min_size=1, max_size=20).map(str.encode)),
    Fmt("nibp-module", nibp_frame, nibp_module.NibpModuleDecoder, "sbp", st.text("abcw0123 \r\n", min_size=1, max_size=20).map(str.encode)),
]
IDS = [f.name for f in FMTS]


def expected(fmt: Fmt, frames: list[bytes]) -> list:
    return values(fmt.decoder().feed(b"".join(frames), 0.0), fmt.vital)


@pytest.mark.parametrize("fmt", FMTS, ids=IDS)
def test_every_split_of_a_frame_across_two_reads(fmt: Fmt) -> None:
    frames = [fmt.frame(i) for i in range(fmt.lock + 2)]
    data = b"".join(frames)
    whole = fmt.decoder().feed(data, 0.0)
    assert len(values(whole, fmt.vital)) == len(frames)
    for cut in range(1, len(data)):
        assert feed_chunks(fmt.decoder(), [data[:cut], data[cut:]]) == whole, cut


@pytest.mark.parametrize("fmt", FMTS, ids=IDS)
@HYPO
@given(data=st.data())
def test_any_chunking_gives_the_same_items(fmt: Fmt, data) -> None:
    stream = b"".join(fmt.frame(i) for i in range(fmt.lock + 30))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    assert feed_chunks(fmt.decoder(), chunks) == fmt.decoder().feed(stream, 0.0)


@pytest.mark.parametrize("fmt", FMTS, ids=IDS)
@HYPO
@given(data=st.data())
def test_garbage_before_and_between_runs_of_frames_is_skipped(fmt: Fmt, data) -> None:
    runs = [[fmt.frame(i) for i in range(k * 40, k * 40 + fmt.lock + 2)] for k in range(3)]
    junk = [data.draw(fmt.garbage) for _ in runs]
    decoder = fmt.decoder()
    items = decoder.feed(b"".join(j + b"".join(run) for j, run in zip(junk, runs)), 0.0)
    assert values(items, fmt.vital) == [v for run in runs for v in expected(fmt, run)]
    assert decoder.frames == sum(map(len, runs))


@pytest.mark.parametrize("fmt", [f for f in FMTS if f.lock > 1], ids=lambda f: f.name)
@HYPO
@given(data=st.data())
def test_frames_between_garbage_are_reported_only_in_runs_as_long_as_the_lock(fmt: Fmt, data) -> None:
    """A resync forgets the frames held so far: a run shorter than the lock is never reported."""
    short = data.draw(st.integers(1, fmt.lock - 1))
    stream = b"".join(data.draw(fmt.garbage) + b"".join(fmt.frame(i) for i in range(short)) for _ in range(5))
    decoder = fmt.decoder()
    assert [i for i in decoder.feed(stream, 0.0) if isinstance(i, Reading)] == [] and decoder.frames == 0


@pytest.mark.parametrize("fmt", [f for f in FMTS if f.name not in ("masimo", "nibp-module")], ids=lambda f: f.name)
@HYPO
@given(data=st.data())
def test_garbage_inside_a_frame_loses_at_most_that_frame(fmt: Fmt, data) -> None:
    """Nonin #7 frames have only a status bit and a one-byte sum to sync on: a misaligned window passes
    the checksum about once in 256, which can cost the next frame or two before the decoder re-aligns.
    For it, the frames after the damage are judged from the third on."""
    frames = [fmt.frame(i) for i in range(2 * fmt.lock + (8 if fmt.name != "nonin7" else 10))]
    k = data.draw(st.integers(fmt.lock, fmt.lock + 6))
    at = data.draw(st.integers(1, len(frames[k]) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=12))
    sync = b"\x01\xff" if fmt.name == "nonin2" else b"\xff" if fmt.name != "cms50d-v7" else b"\x01"
    broken = frames[k][:at] + sync + junk + frames[k][at:]
    got = values(fmt.decoder().feed(b"".join(frames[:k] + [broken] + frames[k + 1 :]), 0.0), fmt.vital)
    before, after = expected(fmt, frames[:k]), expected(fmt, frames)[k + (3 if fmt.name == "nonin7" else 1) :]
    assert got[: len(before)] == before
    if fmt.name != "nonin2":  # nonin2: frames after a loss are kept, but their packet position is not
        assert got[len(got) - len(after) :] == after


NOISE_BYTES = 2_000_000
CHUNK = 4096  # about what a USB-serial adapter hands over per read under load


@pytest.mark.parametrize("fmt", FMTS, ids=IDS)
def test_random_bytes_give_no_readings_and_real_frames_still_decode_after_them(fmt: Fmt) -> None:
    """Noise on the line (a wrong baud rate, another device's protocol, a failing cable): 2 MB of
    seeded random bytes through each streaming decoder, in the transport's chunks, give no reading
    at all (the stated bound is 0), then a real stream decodes once the lock holds."""
    decoder = PROTOCOLS[fmt.name].decoder("noise")
    noise = random.Random(f"noise-{fmt.name}").randbytes(NOISE_BYTES)
    noisy = [i for k in range(0, len(noise), CHUNK) for i in decoder.feed(noise[k : k + CHUNK], k / 960)]
    assert [i for i in noisy if isinstance(i, Reading)] == []
    frames = [fmt.frame(i) for i in range(fmt.lock + 30)]
    got = values(decoder.feed(b"".join(frames), 9999.0), fmt.vital)
    assert got[len(got) - 29 :] == expected(fmt, frames)[-29:]  # the first frame may join the noise's tail


def test_masimo_noise_inside_a_line_loses_only_that_line() -> None:
    lines = [masimo_frame(i) for i in range(3)]
    broken = lines[1][:4] + b"\x00\xff#" + lines[1][6:]  # inside the timestamp
    decoder = masimo.MasimoDecoder()
    items = decoder.feed(lines[0] + broken + lines[2], 0.0)
    assert values(items, "spo2") == [80, 82]
    assert decoder.skipped == len(broken)


# --- CMS50D+ generation A


def test_cms50d_frame_fields_and_missing_codes() -> None:
    items = cms50d.Cms50dDecoder(lock=1).feed(bytes((0xCE, 0x40, 0x05, 0x48, 0x62)), 0.0)
    assert values(items, "pleth") == [64] and values(items, "pr") == [72] and values(items, "spo2") == [98]
    # PR bit 7 comes from byte 3 bit 6: PR 200
    assert values(cms50d.Cms50dDecoder(lock=1).feed(bytes((0x80, 0, 0x40, 200 & 0x7F, 95)), 0.0), "pr") == [200]
    missing = cms50d.Cms50dDecoder(lock=1).feed(bytes((0x80, 0x10, 0x40, 0x7F, 0x7F)), 0.0)  # PR 255, SpO2 127
    assert [(r.vital, r.value, r.status) for r in missing if r.vital != "pleth"] == [
        ("spo2", None, "no_value"), ("pr", None, "no_value")]
    zeros = cms50d.Cms50dDecoder(lock=1).feed(bytes((0x80, 0, 0, 0, 0)), 0.0)  # atbrask's [0x80|x, 0, 0, 0, 0]
    assert values(zeros, "spo2") == [None] and values(zeros, "pr") == [None]


def test_cms50d_conditions_are_edge_triggered() -> None:
    def frame(off: bool, searching: bool) -> bytes:
        return cms50d.encode_frame(cms50d.Frame(10, None if off else 70, None if off else 97, off, searching, False, False, 0))

    decoder = cms50d.Cms50dDecoder(lock=1)
    stream = [frame(False, False)] * 3 + [frame(True, True)] * 5 + [frame(False, True)] * 2 + [frame(False, False)] * 3
    items = feed_chunks(decoder, stream)
    assert conditions(items) == [("sensor_off", True), ("searching", True), ("sensor_off", False), ("searching", False)]


def test_cms50d_numerics_are_limited_to_changes_and_about_once_a_second() -> None:
    decoder = cms50d.Cms50dDecoder(lock=1)
    items = [i for n in range(90) for i in decoder.feed(cms50d_frame(0), n / 60)]
    assert values(items, "spo2") == [90, 90] and len(values(items, "pleth")) == 90


# --- CMS50D+ V7.0


def test_v7_commands_match_the_published_form() -> None:
    assert cms50d_v7.command(0xA1) == bytes.fromhex("7D81A1808080808080")
    assert cms50d_v7.command(0xAF) == bytes.fromhex("7D81AF808080808080")


def test_v7_realtime_packet_and_high_bits() -> None:
    # type 01; hi AA: data 1, 3 and 5 have bit 7 (searching, PR 0xC8 = 200, PI low byte 0x96);
    # d0 signal 5, d1 pleth 0x40, d2 PI valid, SpO2 98, PI 0x0096 = 1.50 %
    packet = bytes((0x01, 0xAA, 0x85, 0xC0, 0x90, 0xC8, 0xE2, 0x96, 0x80))
    items = cms50d_v7.Cms50dV7Decoder(lock=1).feed(packet, 0.0)
    assert values(items, "pr") == [200] and values(items, "spo2") == [98] and values(items, "pi") == [1.5]
    assert values(items, "pleth") == [0x40] and conditions(items) == [("searching", True)]


def test_v7_missing_codes_become_no_value() -> None:
    p = cms50d_v7.Realtime(10, None, None, None, True, False, False, False, 0)
    items = cms50d_v7.Cms50dV7Decoder(lock=1).feed(cms50d_v7.encode_realtime(p), 0.0)
    assert cms50d_v7.encode_realtime(p)[5:] == bytes((0xFF, 0xFF, 0xFF, 0xFF))  # PR FF, SpO2 7F, PI FFFF
    assert [(r.vital, r.status) for r in items if r.vital != "pleth"] == [
        ("spo2", "no_value"), ("pr", "no_value"), ("pi", "no_value")]


def test_v7_pi_valid_flag_with_ffff_is_no_value() -> None:
    packet = cms50d_v7.encode_packet(0x01, bytes((0, 10, 0x10, 70, 97, 0xFF, 0xFF)))
    assert values(cms50d_v7.Cms50dV7Decoder(lock=1).feed(packet, 0.0), "pi") == [None]


def test_v7_short_and_unknown_packets_are_skipped() -> None:
    decoder = cms50d_v7.Cms50dV7Decoder(lock=1)
    good = v7_frame(1)
    items = decoder.feed(good[:5] + bytes((0x05, 0x81, 0x85, 0x80)) + good, 0.0)
    assert values(items, "pleth") == [1] and decoder.frames == 1 and decoder.skipped == 9


def test_v7_disconnect_notice_is_a_condition_until_data_returns() -> None:
    decoder = cms50d_v7.Cms50dV7Decoder(lock=1)
    items = decoder.feed(cms50d_v7.encode_packet(0x0D, b"\x02") + v7_frame(1), 0.0)
    assert conditions(items) == [("disconnected", True), ("disconnected", False)]


# --- Nonin


def test_nonin2_published_vector() -> None:
    items = FORMATS["nonin2"].decode(bytes.fromhex("0198630 0FC".replace(" ", "")))
    assert values(items, "pleth") == [99]
    assert conditions(items) == [("sensor_off", True), ("poor_signal", True)]


def test_nonin2_wrong_checksum_is_rejected_and_stream_recovers() -> None:
    with pytest.raises(DecodeError, match="checksum 0xFD != 0xFC"):
        FORMATS["nonin2"].decode(bytes.fromhex("01986300FD"))
    decoder = nonin.NoninPacketDecoder(2, lock=1)
    items = decoder.feed(bytes.fromhex("01986300FD") + bytes.fromhex("01986300FC"), 0.0)
    assert values(items, "pleth") == [99] and decoder.skipped == 5


def packet(fmt: int, hr: int | None, spo2: int | None, status: int = 0, low_battery: bool = False) -> bytes:
    return b"".join(
        nonin.encode_frame(fmt, nonin.PacketFrame(status | (nonin.S_SYNC if n == 1 else 0), n,
                                                  nonin.float_byte(n, hr, spo2, low_battery)))
        for n in range(1, 26)
    )


@pytest.mark.parametrize("fmt", [2, 7])
def test_nonin_packet_numerics_and_missing_codes(fmt: int) -> None:
    decoder = nonin.NoninPacketDecoder(fmt, lock=1)
    items = decoder.feed(packet(fmt, 300, 97), 0.0)  # HR 300 needs HR8 from the MSB frame
    assert values(items, "pr") == [300] and values(items, "spo2") == [97] and len(values(items, "pleth")) == 25
    missing = nonin.NoninPacketDecoder(fmt, lock=1).feed(packet(fmt, None, None), 0.0)
    assert [(r.vital, r.status) for r in missing if r.vital != "pleth"] == [("spo2", "no_value"), ("pr", "no_value")]


def test_nonin_packet_without_sync_gives_no_numerics() -> None:
    frames = packet(2, 80, 95)
    items = nonin.NoninPacketDecoder(2, lock=1).feed(frames[5:], 0.0)  # starts at frame 2: position unknown
    assert values(items, "spo2") == [] and len(values(items, "pleth")) == 24


def test_nonin_lost_frame_forgets_the_packet_position() -> None:
    frames = packet(2, 80, 95)
    corrupted = frames[:5] + frames[5:9] + b"\x00" + frames[10:]  # frame 2 (HR LSB) has a bad checksum
    assert values(nonin.NoninPacketDecoder(2, lock=1).feed(corrupted, 0.0), "pr") == []


def test_nonin_perfusion_follows_pulse_frames_not_every_frame() -> None:
    def frame(status: int) -> bytes:
        return nonin.encode_frame(2, nonin.PacketFrame(status, 10, 0))

    red, green, none = frame(nonin.S_RPRF), frame(nonin.S_GPRF), frame(0)
    items = feed_chunks(nonin.NoninPacketDecoder(2, lock=1), [red] * 12 + [none] * 60 + [red] * 12 + [none] * 60 + [green] * 12)
    assert conditions(items) == [("low_perfusion", True), ("low_perfusion", False)]


def test_nonin_low_battery_from_stat2() -> None:
    items = nonin.NoninPacketDecoder(2, lock=1).feed(packet(2, 80, 95, low_battery=True), 0.0)
    assert ("low_battery", True) in conditions(items)


def test_nonin8_record_hr_bits_and_status() -> None:
    # HR 300 = 0b1_0010_1100: HR8..7 = 0b10 in STATUS, 0x2C in HR-D; LPRF + SNSA + low battery
    items = FORMATS["nonin8"].decode(bytes((0x80 | 0x10 | 0x02, 0x2C, 93, 0x09)))
    assert values(items, "pr") == [300] and values(items, "spo2") == [93]
    assert set(conditions(items)) == {("low_perfusion", True), ("sensor_off", True), ("low_battery", True)}
    missing = FORMATS["nonin8"].decode(nonin.encode_format8(nonin.Format8(None, None)))
    assert [(r.vital, r.status) for r in missing] == [("spo2", "no_value"), ("pr", "no_value")]


def test_nonin_format_select_command() -> None:
    assert nonin.format_select(8) == bytes.fromhex("027002020803")
    assert nonin.parse_format_select(bytes.fromhex("027002020203")) == 2
    assert nonin.parse_format_select(b"\x02\x70\x02\x02\x08\x04") is None


# --- Masimo

RADICAL7 = ("12/01/05 11:56:29 SN=0123456789 SPO2=098% BPM=240 PI=20.00% SPCO=01.0% SPMET=00.5% DESAT=01 "
            "PIDELTA=-02 PVI=027 ALARM=0000 EXC=000820")
RADICAL5 = "09/15/10 15:10:29 SPO2=097% BPM=064 PI=11.82% ALARM=20 EXC=800"


def test_masimo_published_lines() -> None:
    r7 = FORMATS["masimo"].decode(RADICAL7)
    assert (values(r7, "spo2"), values(r7, "pr"), values(r7, "pi")) == ([98], [240], [20.0])
    assert conditions(r7) == [("sensor_off", True)]  # 000800 is informational, 000020 is sensor off
    r5 = FORMATS["masimo"].decode(RADICAL5)
    assert (values(r5, "spo2"), values(r5, "pr"), values(r5, "pi")) == ([97], [64], [11.82])
    assert conditions(r5) == []  # ALARM 20 = silenced, EXC 800 = informational


def test_masimo_dashes_are_no_value() -> None:
    items = FORMATS["masimo"].decode("01/01/25 00:00:01 SPO2=--% BPM=---- PI=--.-% PIDELTA=+-- ALARM=0000 EXC=000000")
    assert [(r.vital, r.status) for r in items] == [("spo2", "no_value"), ("pr", "no_value"), ("pi", "no_value")]


def test_masimo_bitmasks_map_every_set_bit() -> None:
    items = FORMATS["masimo"].decode("01/01/25 00:00:01 SPO2=090% BPM=070 ALARM=0052 EXC=00040C")
    got = {i.condition: i.detail for i in items if isinstance(i, Condition)}
    assert got == {"device_alarm": "SpO2 low, alarm active", "low_battery": "low battery",
                   "low_perfusion": "low perfusion", "searching": "pulse search", "poor_signal": "low signal IQ"}


def test_masimo_conditions_end_when_the_bit_clears() -> None:
    decoder = masimo.MasimoDecoder()
    lines = [f"01/01/25 00:00:0{i} SPO2=090% BPM=070 ALARM=0000 EXC={exc}\r\n".encode() for i, exc in
             enumerate(["000820", "000820", "000800"])]
    assert conditions(feed_chunks(decoder, lines)) == [("sensor_off", True), ("sensor_off", False)]


def test_masimo_ascii2_or_garbage_gives_a_clear_error() -> None:
    with pytest.raises(DecodeError, match="ASCII 1"):
        FORMATS["masimo"].decode("01/01/25 00:00:01 %SpO2 98 PR 70")
    with pytest.raises(DecodeError, match="timestamp"):
        FORMATS["masimo"].decode("hello")


# --- NIBP module


@pytest.mark.parametrize("body,wire", [
    ("01;;", b"\x0201;;D7\x03"), ("03;;", b"\x0203;;D9\x03"), ("18;;", b"\x0218;;DF\x03"),
    ("14;;", b"\x0214;;DB\x03"), ("17;;", b"\x0217;;DE\x03"),
])
def test_nibp_commands_match_the_published_table(body: str, wire: bytes) -> None:
    assert nibp_module.frame(body) == wire


def test_nibp_result_and_status_request_after_999() -> None:
    decoder = nibp_module.NibpModuleDecoder()
    assert decoder.feed(b"99", 0.0) == [] and decoder.outgoing() == b""
    assert decoder.feed(b"9\r\n", 0.0) == [] and decoder.outgoing() == nibp_module.STATUS
    items = decoder.feed(nibp_module.frame("S0;A0;C0;M0;P121079093;R064;"), 1.0)
    assert [(r.vital, r.value) for r in items] == [("sbp", 121), ("dbp", 79), ("map", 93), ("pr", 64)]


def test_nibp_error_is_a_condition_with_no_values() -> None:
    decoder = nibp_module.NibpModuleDecoder()
    failed = decoder.feed(nibp_module.frame("S0;A0;C0;M5;P000000000;R000;"), 0.0)
    assert conditions(failed) == [("nibp_error", True)]
    assert all(r.status == "no_value" for r in failed if isinstance(r, Reading))
    ok = decoder.feed(nibp_module.frame("S0;A0;C0;M0;P120080093;R070;"), 1.0)
    assert conditions(ok) == [("nibp_error", False)]


def test_nibp_wrong_checksum() -> None:
    with pytest.raises(DecodeError, match="checksum"):
        FORMATS["nibp-module"].decode("S0;A0;C0;M0;P120080093;R070;00")
    decoder = nibp_module.NibpModuleDecoder()
    assert decoder.feed(b"\x02S0;M0;P120080093;R070;00\x03", 0.0) == [] and decoder.skipped > 0


# --- kapmon decode


@pytest.mark.parametrize("name", ["cms50d", "cms50d-v7", "nonin2", "nonin7", "nonin8"])
def test_decode_of_garbage_is_a_decode_error(name: str) -> None:
    with pytest.raises(DecodeError, match="no valid"):
        FORMATS[name].decode(b"\x00\x01\x02")


def test_every_protocol_has_a_decode_format() -> None:
    assert set(FORMATS) == set(PROTOCOLS)


def test_decode_cli_prints_json_lines(capsys) -> None:
    from monitor.cli.main import main

    assert main(["decode", "nonin2", "01 98 63 00 FC"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == '{"vital": "pleth", "value": 99.0, "unit": "au"}'
    assert main(["decode", "nonin2", "01 98 63 00 FD"]) == 1
    assert "checksum" in capsys.readouterr().err


def test_impossible_numbers_from_corrupted_frames_are_no_value() -> None:
    with pytest.raises(DecodeError, match="impossible HR or SpO2"):  # format #8 has no checksum: a framing error
        FORMATS["nonin8"].decode(bytes((0x80 | 0x03, 400 & 0x7F, 95, 0)))
    pi_300 = cms50d_v7.Cms50dV7Decoder(lock=1).feed(cms50d_v7.encode_packet(0x01, bytes((0, 10, 0x10, 70, 97, 30000 & 0xFF, 30000 >> 8))), 0.0)
    assert values(pi_300, "pi") == [None]
    assert values(FORMATS["masimo"].decode("01/01/25 00:00:01 SPO2=090% BPM=999"), "pr") == [None]
