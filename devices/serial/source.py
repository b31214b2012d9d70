"""``serial:///dev/ttyUSB0?protocol=cms50d``: open a serial device as a source.

Parameters: ``protocol`` (cms50d, cms50d-v7, nonin2, nonin7, nonin8, masimo, nibp-module, or
``auto``/omitted to probe cms50d-v7 then cms50d), ``backoff`` and ``backoff_max`` (reconnect
delays, seconds), ``probe`` (seconds per candidate when probing) and, for nibp-module,
``interval`` (start a measurement at connect and every so many seconds; omitted: only read
the measurements the module makes on its own).
"""

from __future__ import annotations

from devices.errors import URIError
from devices.serial.protocols import AUTO_CMS50, PROTOCOLS, SerialProtocol, nibp_with_interval
from devices.serial.transport import Backoff, SerialSource
from devices.uri import DeviceURI

KNOWN_PARAMS = ("protocol", "backoff", "backoff_max", "probe", "interval")


def protocols_for(uri: DeviceURI) -> list[SerialProtocol]:
    """The candidate protocols a URI names."""
    name = uri.param("protocol") or "auto"
    if name == "auto":
        return [PROTOCOLS[n] for n in AUTO_CMS50]
    if name not in PROTOCOLS:
        raise URIError(f"{uri.text}: unknown protocol {name!r} (known: auto, {', '.join(PROTOCOLS)})")
    if name == "nibp-module" and "interval" in uri.params:
        return [nibp_with_interval(uri.float_param("interval", 300.0))]
    return [PROTOCOLS[name]]


def open_serial(uri: DeviceURI) -> SerialSource:
    """A source reading the serial device ``uri`` names; ``URIError`` if the URI is wrong."""
    unknown = sorted(set(uri.params) - set(KNOWN_PARAMS))
    if unknown:
        raise URIError(f"{uri.text}: unknown parameter {unknown[0]!r} (known: {', '.join(KNOWN_PARAMS)})")
    backoff = Backoff(uri.float_param("backoff", 0.5), uri.float_param("backoff_max", 5.0))
    return SerialSource(uri.text, uri.target, protocols_for(uri), backoff=backoff, probe=uri.float_param("probe", 3.0))
