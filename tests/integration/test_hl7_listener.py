"""The HL7 listener on real sockets: an ACK per message (AA, AE with the rest recorded, AR with the reason),
times moved onto this computer's clock, alarms as condition edges, and peers that cannot stop others (garbage,
a message never finished, too large, too many connections, not allowed), a port already taken and silence."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import pytest

import devices.hl7.source as hl7_source
from devices.hl7.ack import ack_code
from devices.hl7.dtm import format_dtm
from devices.hl7.encoder import alarm_report
from devices.hl7.message import parse, text_of
from devices.hl7.mllp import END, START, Framer, Limits, frame
from devices.hl7.source import Hl7Source, open_hl7
from devices.errors import URIError
from devices.reading import Condition
from devices.uri import parse_uri
from hl7_fixtures import COMEN_VS8, GE_B40, IHE_BP, segments
from source_run import Run
from source_run import drive as stream_while

FAST = Limits(max_frame=4096, max_garbage=256, frame_timeout=0.3, idle_timeout=5.0)


def source(query: str = "", limits: Limits = FAST, port: int = 0) -> Hl7Source:
    src = open_hl7(parse_uri(f"hl7://127.0.0.1:{port}{'?' + query if query else ''}"))
    src.settings = replace(src.settings, limits=limits)
    return src


def drive(src: Hl7Source, scenario: Callable[[Run], Coroutine[Any, Any, None]]) -> Run:
    """Stream the listener while ``scenario`` acts on it, once it listens (or has said it cannot)."""

    async def listening(run: Run) -> None:
        await run.until(lambda: src.address is not None or src._flags["disconnected"])
        await scenario(run)

    return stream_while(src, listening)


class Peer:
    """A monitor's end of one connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = Framer(1 << 20)

    @classmethod
    async def to(cls, src: Hl7Source) -> Peer:
        assert src.address is not None
        return cls(*await asyncio.open_connection(*src.address))

    async def send(self, message: str) -> tuple[str, str, str]:
        """(MSA-1, MSA-3, MSA-2) of the acknowledgement."""
        self.writer.write(frame(message.encode()))
        await self.writer.drain()
        return await self.reply()

    async def reply(self, timeout: float = 5.0) -> tuple[str, str, str]:
        async with asyncio.timeout(timeout):
            while True:
                data = await self.reader.read(65536)
                assert data, "the listener closed the connection"
                replies = self.framer.feed(data)
                if replies:
                    text = replies[0].decode()
                    code, reason = ack_code(text)
                    return code, reason, text_of(parse(text).segment("MSA"), 2)

    async def closed(self, timeout: float = 5.0) -> bool:
        """Whether the listener closes this connection (reading until it does)."""
        async with asyncio.timeout(timeout):
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionError:
                pass
        return True


def now_message(*obx: str, control: str = "C1", sent: float | None = None, device: str = "0123456789ABCDEF") -> str:
    stamp = format_dtm(time.time() if sent is None else sent)
    return segments(rf"MSH|^~\&|MON^{device}^EUI-64||||{stamp}||ORU^R01^ORU_R01|{control}|P|2.6",
                    f"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||{device}^EUI-64", *obx)


def spo2(value: str = "96", unit: str = "262688^MDC_DIM_PERCENT^MDC", when: str = "") -> str:
    return f"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|{value}|{unit}|||||R|||{when}"


# ---------------------------------------------------------------- acknowledgements


def test_every_message_gets_its_ack_and_its_readings_arrive():
    src = source("tz=%2B0000")

    async def scenario(run: Run) -> None:
        peer = await Peer.to(src)
        for message, control in ((IHE_BP, "MSGID1234"), (GE_B40, "004097134535"), (COMEN_VS8, "202506100151270003")):
            assert await peer.send(message) == ("AA", "", control)
        await run.until(lambda: len(run.reading_items("spo2")) == 2)

    run = drive(src, scenario)
    assert [(r.source, r.value) for r in run.reading_items("sbp")] == [("hl7:0123456789ABCDEF/nibp", 120.0),
                                                                   ("hl7:KC261551373G/nibp", 120.0)]
    assert [r.value for r in run.reading_items("temp")] == [37.1, 37.0]
    # old example messages land on this computer's clock: sent "now", measured shortly before
    ihe = run.reading_items("sbp")[0]
    assert time.time() - 60 < ihe.t <= time.time()
    assert src.devices == {"0123456789ABCDEF", "080019FFFE0B4020", "KC261551373G"}


def test_negative_acks_say_why_and_the_connection_goes_on():
    src = source()

    async def scenario(run: Run) -> None:
        peer = await Peer.to(src)
        code, reason, _ = await peer.send(segments(r"MSH|^~\&|x||||||ADT^A01|A1|P|2.6"))
        assert (code, reason) == ("AR", "unsupported message type ADT A01 (kapmon takes ORU R01 and ORU R40)")
        code, reason, _ = await peer.send(now_message(spo2(unit="266016^MDC_DIM_MMHG^MDC"),
                                                      "OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|64|264864|||||R"))
        assert code == "AE" and "is not a percent unit" in reason
        code, _, _ = await peer.send("this is not HL7 at all")
        assert code == "AR"
        assert (await peer.send(now_message(spo2(), control="C4")))[0] == "AA"
        await run.until(lambda: run.reading_items("spo2"))

    run = drive(src, scenario)
    assert [r.value for r in run.reading_items("hr")] == [64.0]  # recorded though its message got AE
    assert [r.value for r in run.reading_items("spo2")] == [96.0]


def test_a_monitor_clock_an_hour_off_and_a_backlog_too_old():
    src = source("max_age=600")

    async def scenario(run: Run) -> None:
        peer = await Peer.to(src)
        wrong = time.time() - 3600  # the monitor's clock is an hour behind
        measured = format_dtm(wrong - 30)
        assert (await peer.send(now_message(spo2("95", when=measured), sent=wrong)))[0] == "AA"
        backlog = format_dtm(wrong - 7200)
        assert (await peer.send(now_message(spo2("91", when=backlog), sent=wrong, control="C2")))[0] == "AA"
        ahead = format_dtm(wrong + 600)  # measured "after" it was sent: that clock is wrong too
        assert (await peer.send(now_message(spo2("94", when=ahead), sent=wrong, control="C3")))[0] == "AA"
        await run.until(lambda: len(run.reading_items("spo2")) == 2)

    run = drive(src, scenario)
    first, last = run.reading_items("spo2")
    assert first.value == 95.0 and abs((time.time() - first.t) - 30) < 10
    assert last.value == 94.0 and last.t <= time.time()


def test_alarms_become_condition_edges():
    src = source()

    async def scenario(run: Run) -> None:
        peer = await Peer.to(src)
        now = time.time()
        start = Condition(now, "sensor_off", "sim", True, ("spo2",))
        assert (await peer.send(alarm_report(start, "EMU", "A1", now)))[0] == "AA"
        assert (await peer.send(alarm_report(replace(start, t=now + 1), "EMU", "A2", now + 1)))[0] == "AA"  # repeated
        end = replace(start, t=now + 2, active=False)
        assert (await peer.send(alarm_report(end, "EMU", "A3", now + 2)))[0] == "AA"
        await run.until(lambda: len(run.condition_items("sensor_off")) == 2)

    run = drive(src, scenario)
    assert [(c.active, c.source, c.vitals) for c in run.condition_items("sensor_off")] == [
        (True, "hl7:EMU", ("spo2",)), (False, "hl7:EMU", ("spo2",))]


# ---------------------------------------------------------------- peers that must not stop others


def test_a_garbage_peer_is_dropped_and_does_not_block_a_good_one():
    src = source()

    async def scenario(run: Run) -> None:
        bad = await Peer.to(src)
        bad.writer.write(os.urandom(200).replace(START, b"x"))  # not yet over the bound: still connected
        await bad.writer.drain()
        good = await Peer.to(src)
        assert (await good.send(now_message(spo2())))[0] == "AA"
        bad.writer.write(b"MSH|^~\\&|raw HL7 without MLLP framing" * 10)
        await bad.writer.drain()
        assert await bad.closed()
        assert (await good.send(now_message(spo2("95"), control="C2")))[0] == "AA"

    run = drive(src, scenario)
    assert [r.value for r in run.reading_items("spo2")] == [96.0, 95.0]


def test_a_message_never_finished_times_out_without_holding_up_others():
    src = source()

    async def scenario(run: Run) -> None:
        slow = await Peer.to(src)
        slow.writer.write(START + now_message(spo2()).encode()[:40])  # then nothing more
        await slow.writer.drain()
        good = await Peer.to(src)
        assert (await good.send(now_message(spo2())))[0] == "AA"
        assert await slow.closed()  # after FAST.frame_timeout
        assert (await good.send(now_message(spo2(), control="C2")))[0] == "AA"

    drive(src, scenario)


def test_an_oversized_message_is_refused_and_the_peer_dropped():
    src = source()

    async def scenario(run: Run) -> None:
        big = await Peer.to(src)
        big.writer.write(START + b"MSH|" + b"x" * 5000 + END)
        await big.writer.drain()
        code, reason, _ = await big.reply()
        assert (code, reason) == ("AR", "message longer than 4096 bytes")
        assert await big.closed()
        good = await Peer.to(src)
        assert (await good.send(now_message(spo2())))[0] == "AA"

    drive(src, scenario)


def test_silent_connections_make_room_for_a_monitor(monkeypatch):
    monkeypatch.setattr(hl7_source, "MAX_CONNECTIONS", 3)
    src = source()

    async def scenario(run: Run) -> None:
        monitor = await Peer.to(src)
        assert (await monitor.send(now_message(spo2())))[0] == "AA"
        squatters = [await Peer.to(src) for _ in range(2)]
        await run.until(lambda: len(src.peers) == 3)
        newcomer = await Peer.to(src)  # the oldest silent one is closed for it
        assert (await newcomer.send(now_message(spo2("95"), control="N1")))[0] == "AA"
        assert await squatters[0].closed()
        assert (await monitor.send(now_message(spo2("94"), control="C2")))[0] == "AA"  # a monitor is never evicted

    run = drive(src, scenario)
    assert [r.value for r in run.reading_items("spo2")] == [96.0, 95.0, 94.0]


def test_peers_and_devices_outside_the_lists_are_refused(monkeypatch):
    stranger = source("peer=10.0.0.0/8")

    async def refused_peer(run: Run) -> None:
        peer = await Peer.to(stranger)
        peer.writer.write(frame(now_message(spo2()).encode()))
        assert await peer.closed()

    assert drive(stranger, refused_peer).readings("spo2") == []

    only = source("device=ROOM3-MONITOR,0123456789ABCDEF&peer=127.0.0.1")
    monkeypatch.setattr(hl7_source, "MAX_DEVICES", 2)

    async def devices(run: Run) -> None:
        peer = await Peer.to(only)
        assert (await peer.send(now_message(spo2())))[0] == "AA"
        code, reason, _ = await peer.send(now_message(spo2(), device="FEEDFACE00000000", control="C2"))
        assert code == "AR" and "device FEEDFACE00000000 is not one this listener takes" in reason

    assert [r.source for r in drive(only, devices).reading_items("spo2")] == ["hl7:0123456789ABCDEF"]


def test_too_many_devices_on_one_listener(monkeypatch):
    monkeypatch.setattr(hl7_source, "MAX_DEVICES", 1)
    src = source()

    async def scenario(run: Run) -> None:
        peer = await Peer.to(src)
        assert (await peer.send(now_message(spo2())))[0] == "AA"
        code, reason, _ = await peer.send(now_message(spo2(), device="SECOND", control="C2"))
        assert code == "AR" and "more than 1 devices" in reason

    drive(src, scenario)


# ---------------------------------------------------------------- the listener itself


def test_a_port_already_taken_is_a_condition_until_it_is_free():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    src = source(port=port)

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.condition_items("disconnected"))
        blocker.close()
        await run.until(lambda: len(run.condition_items("disconnected")) == 2)
        assert (await (await Peer.to(src)).send(now_message(spo2())))[0] == "AA"

    try:
        run = drive(src, scenario)
    finally:
        blocker.close()
    went, back = run.condition_items("disconnected")
    assert went.active and f"cannot listen on 127.0.0.1:{port}" in went.detail and not back.active


def test_silence_is_stale_until_a_message_arrives():
    src = source("stale=0.2")

    async def scenario(run: Run) -> None:
        await run.until(lambda: run.condition_items("stale"))
        assert (await (await Peer.to(src)).send(now_message(spo2())))[0] == "AA"
        await run.until(lambda: len(run.condition_items("stale")) == 2)

    run = drive(src, scenario)
    assert [c.active for c in run.condition_items("stale")] == [True, False]
    assert run.condition_items("stale")[0].detail == "no valid message for 0.2 s"


@pytest.mark.parametrize(("uri", "error"), [
    ("hl7://0.0.0.0", "expected hl7://HOST:PORT"),
    ("hl7://0.0.0.0:99999", "expected hl7://HOST:PORT"),
    ("hl7://0.0.0.0:2575?tz=Europe", "tz:"),
    ("hl7://0.0.0.0:2575?peer=not-an-ip", "peer:"),
    ("hl7://0.0.0.0:2575?stale=-1", "stale must be greater than 0"),
    ("hl7://0.0.0.0:2575?port=1", "unknown parameter 'port'"),
])
def test_bad_uris_are_one_line_errors(uri, error):
    with pytest.raises(URIError) as caught:
        open_hl7(parse_uri(uri))
    assert error in str(caught.value) and "\n" not in str(caught.value)


def test_the_registry_opens_hl7_uris():
    from devices.registry import open_source

    src = open_source("hl7://:2575?device=A,B&tz=-0500")
    assert isinstance(src, Hl7Source)
    assert (src.settings.host, src.settings.port, src.settings.devices) == ("0.0.0.0", 2575, frozenset({"A", "B"}))


def test_the_emulated_monitor_sends_again_when_the_listener_comes_back():
    from devices.hl7.emulator import Hl7Monitor, Link
    from devices.virtual.simulator import simulate

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines: list[str] = []

    async def main() -> tuple[Run, Run, object]:
        first = Run(source(port=port))
        pump = asyncio.create_task(first.pump())
        link = Link("127.0.0.1", port, ack_timeout=2.0, backoff=(0.05, 0.2), say=lines.append)
        monitor = asyncio.create_task(Hl7Monitor(link, every=1.0, speed=40.0).play(simulate("typical_iv", duration=60)))
        await first.until(lambda: len(first.reading_items("spo2")) >= 10)
        pump.cancel()  # the listener goes away mid-session
        await asyncio.gather(pump, return_exceptions=True)
        await first.until(lambda: any("cannot connect" in line for line in lines))
        second = Run(source(port=port))
        pump = asyncio.create_task(second.pump())
        tally = await monitor
        await second.until(lambda: second.reading_items("spo2"))
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        return first, second, tally

    first, second, tally = asyncio.run(main())
    assert tally.reconnects >= 1 and tally.acks == {"AA": tally.sent}
    cuff = len(first.reading_items("sbp")) + len(second.reading_items("sbp"))
    assert cuff >= 1 and len(first.reading_items("spo2")) + len(second.reading_items("spo2")) >= tally.sent - cuff  # none lost


def test_a_measurement_repeated_in_every_message_is_recorded_once():
    src = source()
    nibp = "OBX|3|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.1|{}|266016^MDC_DIM_MMHG^MDC|||||R|||{}"

    async def scenario(run: Run) -> None:
        peer = await Peer.to(src)
        measured = format_dtm(time.time() - 120)
        for n, value in enumerate(("96", "95", "94")):  # SpO2 fresh each time; the same cuff result repeated
            assert (await peer.send(now_message(spo2(value), nibp.format(131, measured), control=f"C{n}")))[0] == "AA"
        assert (await peer.send(now_message(spo2("93"), nibp.format(118, format_dtm(time.time())), control="C9")))[0] == "AA"
        await run.until(lambda: len(run.reading_items("spo2")) == 4)

    run = drive(src, scenario)
    assert [r.value for r in run.reading_items("sbp")] == [131.0, 118.0]
    assert [r.value for r in run.reading_items("spo2")] == [96.0, 95.0, 94.0, 93.0]


def test_an_ipv4_peer_of_a_dual_stack_listener_is_matched_by_its_ipv4_address():
    src = open_hl7(parse_uri("hl7://[::]:2575?peer=10.1.2.0/24"))
    assert src._allowed("::ffff:10.1.2.33") and src._allowed("10.1.2.34")
    assert not src._allowed("::ffff:10.1.3.1") and not src._allowed("fe80::1") and not src._allowed("garbage")
