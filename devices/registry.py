"""The registry of source kinds: a device URI's scheme names the module that opens it."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from devices.errors import URIError
from devices.source import Source
from devices.uri import DeviceURI, parse_uri

# scheme -> "module:function"; each function takes a DeviceURI and returns a Source.
SCHEMES: dict[str, str] = {
    "sim": "devices.virtual.simulator:open_sim",
    "replay": "devices.virtual.replay:open_replay",
    "serial": "devices.serial.source:open_serial",
    "ble": "devices.ble.source:open_ble",
    "hl7": "devices.hl7.source:open_hl7",
    "wellue": "devices.ble.wellue_source:open_wellue",
}


def opener(scheme: str) -> Callable[[DeviceURI], Source]:
    """The function that opens sources of ``scheme``."""
    try:
        module_name, func = SCHEMES[scheme].split(":")
    except KeyError:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise URIError(f"unknown device scheme {scheme}:// (known: {known})") from None
    return getattr(import_module(module_name), func)


def open_source(uri: str | DeviceURI) -> Source:
    """Open the source a device URI names; raise ``URIError`` if the URI is wrong."""
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    return opener(parsed.scheme)(parsed)
