"""Request checks and response headers shared by every kapmon web app (the bedside pages and the
central station): one ``secure()`` call where an app is served.

- **Host check** (DNS rebinding): a request whose ``Host`` header is not an address this server was
  bound to is refused with 400. A loopback bind answers only to ``localhost``, ``127.0.0.1`` and
  ``[::1]`` with its port; a bind to one address answers to that address and the machine's own names; a
  bind to every address (``0.0.0.0``, ``::``) to any IP address and those names, all with the bound port.
  Names given with ``--allow-host`` (such as the name a TLS reverse proxy forwards) match on any port.
- **Same-origin check** (cross-site requests): a state-changing request (any method but GET, HEAD,
  OPTIONS: every Dash callback is a POST) whose ``Origin`` (or, without one, ``Referer``) is not a page
  of this server (a host the Host check accepts) is refused with 403. Requests with neither header
  (non-browser clients) still need sign-in. A WebSocket handshake (the live page's push, a GET) gets the
  same check: browsers let any site's page open a WebSocket to any server, with the credentials they hold.
- **Headers**: no framing by any site (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``), no
  MIME sniffing, no referrer to other sites, and ``Cache-Control: no-store`` on everything but the
  static JavaScript and CSS bundles (pages, callback responses and downloads carry patient data).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from dash import Dash
from flask import Response, request

from layouts.auth import protect
from layouts.push import is_websocket
from monitor.auth.users import Users
from monitor.session.store import Store

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def split_host(value: str) -> tuple[str, int | None] | None:
    """``("name", port)`` of a Host header (``name:port``, ``[v6]:port``, or without a port); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
        if ":" in port:
            return None
    name = name.rstrip(".")
    if not name or (port and not port.isdigit()):
        return None
    return name, int(port) if port else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class HostCheck:
    """Which ``Host`` headers a server bound to ``bind_host:port`` answers to (see the module docstring)."""

    def __init__(self, bind_host: str, port: int, extra_names: Iterable[str] = ()) -> None:
        bound = bind_host.strip("[]").lower()
        self.port = port
        self.any_ip = bound in WILDCARD
        self.extra = frozenset(n.lower().rstrip(".") for n in extra_names if n)
        if _is_loopback(bound):
            self.names = LOOPBACK_NAMES
        else:
            machine = {socket.gethostname().lower(), socket.getfqdn().lower()} - LOOPBACK_NAMES
            self.names = frozenset({bound} | machine)

    def allows(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header is for this server. A name given with
        ``--allow-host`` matches on any port (a TLS reverse proxy forwards ``name`` or ``name:443``)."""
        parsed = split_host(header or "")
        if parsed is None:
            return False
        name, port = parsed
        if name in self.extra:
            return True
        if (port or 80) != self.port:
            return False
        return name in self.names or (self.any_ip and _is_ip(name))


def same_origin(origin: str | None, referer: str | None, hosts: HostCheck) -> bool:
    """Whether a request's ``Origin`` (or ``Referer``) is a page of this server (a host ``hosts``
    answers to, so a page reached through a reverse proxy counts too); True when the request carries
    neither (not sent by a page in a browser)."""
    source = origin if origin is not None else referer
    if source is None:
        return True
    parts = urlsplit(source)
    return parts.scheme in ("http", "https") and hosts.allows(parts.netloc)


def harden(app: Dash, bind_host: str, port: int, extra_names: Iterable[str] = ()) -> None:
    """Add the host and same-origin checks and the security headers to ``app``."""
    hosts = HostCheck(bind_host, port, extra_names)

    def check_request() -> Response | None:
        if not hosts.allows(request.host):
            return Response(
                f"Unknown host {request.host[:100]!r}: this server answers only to the address it was started on.\n", 400
            )
        if (request.method not in SAFE_METHODS or is_websocket(request.headers)) and not same_origin(
            request.headers.get("Origin"), request.headers.get("Referer"), hosts
        ):
            return Response("Cross-site request refused.\n", 403)
        return None

    def add_headers(response: Response) -> Response:
        response.headers.update(HEADERS)
        if not request.path.startswith(STATIC_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        return response

    app.server.before_request(check_request)
    app.server.after_request(add_headers)


def secure(
    app: Dash, bind_host: str, port: int, users: Users | None, store: Store | None, extra_names: Iterable[str] = ()
) -> None:
    """Everything a served app needs before it answers anyone: host and origin checks, headers, and,
    with ``users``, sign-in on every route (checked after the host, so a rebinding page never reaches it)."""
    harden(app, bind_host, port, extra_names)
    if users is not None:
        protect(app, users, store)
