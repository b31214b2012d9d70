"""Device URIs: ``sim://typical_iv``, ``replay://sample_data/x.csv?speed=10``,
``serial:///dev/ttyUSB0?protocol=cms50d``, ``ble://AA:BB:CC:DD:EE:FF?profile=plx``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload
from urllib.parse import parse_qsl, unquote

from devices.errors import URIError


@dataclass(frozen=True, slots=True)
class DeviceURI:
    """A parsed device URI: scheme, target (path, address or scenario) and query parameters."""

    scheme: str
    target: str
    params: dict[str, str]
    text: str

    @overload
    def param(self, name: str, default: str) -> str: ...

    @overload
    def param(self, name: str, default: None = None) -> str | None: ...

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def float_param(self, name: str, default: float) -> float:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise URIError(f"{self.text}: {name}={raw!r} is not a number") from None
        if not value > 0:
            raise URIError(f"{self.text}: {name} must be greater than 0")
        return value


def parse_uri(text: str) -> DeviceURI:
    """Parse a device URI; raise ``URIError`` naming what is wrong."""
    if "://" not in text:
        raise URIError(f"{text!r} is not a device URI (expected SCHEME://TARGET, e.g. sim://typical_iv)")
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if not (scheme[:1].isalpha() and scheme.isalnum()):
        raise URIError(f"{text!r}: bad scheme {scheme!r}")
    target, _, query = rest.partition("?")
    target = unquote(target)
    if not target:
        raise URIError(f"{text!r}: nothing after {scheme}://")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise URIError(f"{text!r}: malformed query {query!r}") from None
    return DeviceURI(scheme=scheme, target=target, params=params, text=text)
