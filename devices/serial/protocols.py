"""What the transport needs to know about each serial protocol: port settings, decoder,
start and periodic commands, and the data-silence watchdog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import serial

from devices.serial import cms50d_v7, nibp_module, nonin
from devices.serial.cms50d import Cms50dDecoder
from devices.serial.cms50d_v7 import Cms50dV7Decoder
from devices.serial.decoder import StreamDecoder
from devices.serial.masimo import MasimoDecoder
from devices.serial.nibp_module import NibpModuleDecoder
from devices.serial.nonin import NoninFormat8Decoder, NoninPacketDecoder


def port_settings(baudrate: int, parity: str = serial.PARITY_NONE, xonxoff: bool = False) -> dict[str, object]:
    """``serial.Serial`` keyword arguments for 8 data bits, 1 stop bit."""
    return {
        "baudrate": baudrate,
        "bytesize": serial.EIGHTBITS,
        "parity": parity,
        "stopbits": serial.STOPBITS_ONE,
        "xonxoff": xonxoff,
    }


@dataclass(frozen=True, slots=True)
class SerialProtocol:
    """One wire protocol as the transport drives it.

    ``start`` is sent after every open and re-sent every ``negotiate`` seconds while the data
    is stale; ``periodic`` is sent every ``period`` seconds. A streaming protocol is stale after
    ``quiet`` seconds without a valid frame; a command-driven one (``streams=False``) is stale
    when ``quiet`` seconds pass after a ``periodic`` command with nothing decoded. ``settle`` is
    how long the decoder's frame lock may take after opening, added to the first quiet time.
    ``measure`` starts one measurement on request (a cuff the protocol can tell to measure now).
    """

    name: str
    settings: dict[str, object]
    decoder: Callable[[str], StreamDecoder]
    quiet: float | None
    start: bytes = b""
    periodic: bytes = b""
    period: float = 0.0
    streams: bool = True
    negotiate: float = 1.0
    settle: float = 0.0
    measure: bytes = b""


# Generation A sends pleth/PR/SpO2 bytes of 0-127, which include XON/XOFF (0x11/0x13):
# software flow control would swallow them, so it is left off.
PROTOCOLS: dict[str, SerialProtocol] = {
    p.name: p
    for p in (
        SerialProtocol("cms50d", port_settings(19200, serial.PARITY_ODD), Cms50dDecoder, quiet=1.5),
        SerialProtocol(
            "cms50d-v7",
            port_settings(115200, xonxoff=True),
            Cms50dV7Decoder,
            quiet=1.5,
            start=cms50d_v7.command(cms50d_v7.START),
            periodic=cms50d_v7.command(cms50d_v7.KEEPALIVE),
            period=5.0,
        ),
        SerialProtocol(
            "nonin2", port_settings(9600), lambda s: NoninPacketDecoder(2, s), quiet=3.0, start=nonin.format_select(2)
        ),
        SerialProtocol(
            "nonin7", port_settings(9600), lambda s: NoninPacketDecoder(7, s), quiet=3.0, start=nonin.format_select(7)
        ),
        SerialProtocol(
            "nonin8",
            port_settings(9600),
            NoninFormat8Decoder,
            quiet=3.0,
            start=nonin.format_select(8),
            settle=nonin.FORMAT8_LOCK_FRAMES * nonin.FORMAT8_PERIOD,
        ),
        SerialProtocol("masimo", port_settings(9600), MasimoDecoder, quiet=2.5),
        SerialProtocol(
            "nibp-module", port_settings(4800), NibpModuleDecoder, quiet=None, streams=False, measure=nibp_module.START
        ),
    )
}

AUTO_CMS50 = ("cms50d-v7", "cms50d")
NIBP_MEASUREMENT_TIMEOUT = 150.0


def nibp_with_interval(interval: float) -> SerialProtocol:
    """The NIBP module protocol starting a measurement at connect and every ``interval`` seconds."""
    return replace(
        PROTOCOLS["nibp-module"],
        start=nibp_module.START,
        periodic=nibp_module.START,
        period=interval,
        quiet=NIBP_MEASUREMENT_TIMEOUT,
    )
