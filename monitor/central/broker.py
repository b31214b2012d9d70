"""Connecting to an MQTT broker: the ``mqtt://`` / ``mqtts://`` address, credentials, TLS, the site key
that signs commands (``monitor.central.site_key``), and the rule that nothing is published or read without
credentials beyond this machine.

paho-mqtt is imported only when a client is made, so kapmon without a broker never loads it. Every paho
callback kapmon installs is wrapped by ``guarded``: an exception is logged and the network thread goes on
(receiving, keeping the connection alive and reconnecting).
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devices.errors import KapmonError
from monitor.central.site_key import SiteKeyError, site_key

log = logging.getLogger(__name__)

KEEPALIVE_S = 5  # the broker declares a silent client gone after 1.5 x keepalive (7.5 s)


class BrokerError(KapmonError):
    """A broker address or option that kapmon refuses; the message says why."""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    site_key: bytes = field(default=b"", repr=False)  # signs commands and replies (monitor.central.site_key)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_broker(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of ``mqtt://HOST[:PORT]`` (1883) or ``mqtts://HOST[:PORT]`` (8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerError(f"{url}: use mqtt://HOST:PORT or mqtts://HOST:PORT")
    if parts.username or parts.password:
        raise BrokerError(f"{url}: give credentials with --mqtt-user and --mqtt-password-file, not in the address")
    if not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise BrokerError(f"{url}: expected mqtt://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise BrokerError(f"{url}: bad port (1-65535)")
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


def add_broker_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("MQTT broker credentials and TLS")
    g.add_argument("--mqtt-user", metavar="NAME", help="broker user name (required unless the broker is on loopback)")
    g.add_argument(
        "--mqtt-password-file", type=Path, metavar="FILE", help="file holding the broker password (or set KAPMON_MQTT_PASSWORD)"
    )
    g.add_argument("--mqtt-ca", metavar="FILE", help="CA certificate to verify the broker (implies TLS)")
    g.add_argument("--mqtt-cert", metavar="FILE", help="client certificate for TLS")
    g.add_argument("--mqtt-key", metavar="FILE", help="client key for TLS")
    g.add_argument(
        "--site-key",
        metavar="FILE",
        help="the site's command key (64 hex digits, owner-only), the same file on every bedside and the "
        "central station; default: site.key in kapmon's data directory, made there on first use "
        "for a broker on this machine",
    )


def config_from_args(url: str, args: argparse.Namespace) -> BrokerConfig:
    """The broker to use, refusing one beyond loopback without credentials."""
    host, port, tls = parse_broker(url)
    password = None
    if getattr(args, "mqtt_password_file", None):
        try:
            password = Path(args.mqtt_password_file).read_text().strip()
        except OSError as exc:
            raise BrokerError(f"cannot read the password file: {exc}") from None
    elif os.environ.get("KAPMON_MQTT_PASSWORD"):
        password = os.environ["KAPMON_MQTT_PASSWORD"]
    config = BrokerConfig(
        host,
        port,
        tls or bool(getattr(args, "mqtt_ca", None)),
        getattr(args, "mqtt_user", None),
        password,
        getattr(args, "mqtt_ca", None),
        getattr(args, "mqtt_cert", None),
        getattr(args, "mqtt_key", None),
    )
    check_config(config)
    try:
        key = site_key(getattr(args, "site_key", None), config.loopback)
    except SiteKeyError as exc:
        raise BrokerError(str(exc)) from None
    return replace(config, site_key=key)


def check_config(config: BrokerConfig) -> None:
    if config.password and not config.username:
        raise BrokerError("a broker password needs --mqtt-user")
    if not config.loopback and not (config.username and config.password):
        raise BrokerError(
            f"refusing to use the broker at {config.host}: it is not on this machine (loopback), so kapmon needs "
            "credentials (--mqtt-user and --mqtt-password-file or KAPMON_MQTT_PASSWORD); see the README's "
            "Mosquitto configuration"
        )
    if bool(config.cert) != bool(config.key):
        raise BrokerError("--mqtt-cert and --mqtt-key go together")


# The README's install command for the MQTT extra (a test holds the two to the same text).
MQTT_INSTALL = 'python3 -m pip install -e ".[mqtt]"'
NO_PAHO = f"MQTT needs paho-mqtt, which the mqtt extra installs: {MQTT_INSTALL}"


def require_paho() -> None:
    """Refuse early (before a session starts) when paho-mqtt is not installed; does not import it."""
    from importlib.util import find_spec

    if find_spec("paho") is None or find_spec("paho.mqtt") is None:
        raise BrokerError(NO_PAHO)


def make_client(config: BrokerConfig, client_id: str) -> Any:
    """A paho-mqtt 2.x client (callback API version 2) configured for ``config``; not yet connected."""
    check_config(config)
    try:
        import paho.mqtt.client as mqtt
    except ImportError:  # pragma: no cover - depends on the installation
        raise BrokerError(NO_PAHO) from None
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.suppress_exceptions = True  # a second guard behind ``guarded``: paho logs and carries on
    if config.username:
        client.username_pw_set(config.username, config.password)
    if config.tls:
        client.tls_set(ca_certs=config.ca, certfile=config.cert, keyfile=config.key)
    client.reconnect_delay_set(min_delay=1, max_delay=4)
    return client


def guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """A paho callback that logs any exception instead of letting it end the network thread."""

    @functools.wraps(callback)
    def run(*args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("MQTT callback %s failed; the connection carries on", callback.__name__)

    return run


def add_publish_arguments(p: argparse.ArgumentParser) -> None:
    """``--publish mqtt://HOST:PORT [--site NAME] [--room NAME]`` and the broker options (bedside commands)."""
    g = p.add_argument_group("publishing to a central station (MQTT)")
    g.add_argument(
        "--publish",
        metavar="mqtt://HOST:PORT",
        help="publish this session to an MQTT broker for a central station (kapmon central)",
    )
    g.add_argument("--site", default="clinic", help="site name in the topics (default clinic)")
    g.add_argument("--room", default=None, help="room name in the topics (default: --mqtt-user, else this machine's name)")
    g.add_argument(
        "--bedside-url",
        metavar="URL",
        help="address the central station links to for this room's live page (default http://HOST:PORT)",
    )
    add_broker_arguments(p)


def publish_settings(args: argparse.Namespace) -> tuple[BrokerConfig, str, str] | None:
    """``(broker, site, room)`` when ``--publish`` is given; refuses bad settings before anything starts."""
    if not getattr(args, "publish", None):
        return None
    import socket

    from monitor.central.topics import check_name

    config = config_from_args(args.publish, args)
    require_paho()
    room = args.room or config.username or socket.gethostname().split(".")[0]
    try:
        return config, check_name("site", args.site), check_name("room", room)
    except ValueError as exc:
        raise BrokerError(str(exc)) from None
