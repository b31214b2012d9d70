"""What the subcommands share: the store, port and speed arguments, opening a store, and serving the
pages (for running sessions in ``demo``, ``monitor`` and ``replay``; for a store alone in ``review``)."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import LISTEN_QUEUE, ThreadedWSGIServer, get_sockaddr, select_address_family

from monitor.allocator import Releaser
from monitor.auth.users import Users, UsersError
from monitor.paths import default_db
from monitor.session.hub import Hub
from monitor.session.start import StartError, check_bind
from monitor.session.store import ReadOnlyStore, Store, StoreError
from monitor.training.library import SAMPLE_RECORDINGS

# Playback speed of demo and replay when --speed is not given (times real time); a design proposal:
# a two-hour session shows its course in twelve minutes, and the page can change it.
DEFAULT_SPEED = 10.0


def port_number(text: str) -> int:
    """``--port``: a TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def add_store_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, metavar="PATH", help=f"store file (default: {default_db()})")


def add_listen_arguments(p: argparse.ArgumentParser, port: int) -> None:
    """Where a page server listens and who may sign in: --host, --port, --users, --allow-host."""
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=port, help=f"port to serve on, 1-65535 (default {port})")
    p.add_argument(
        "--users",
        type=Path,
        default=None,
        metavar="FILE",
        help="require sign-in (HTTP Basic) as a user in FILE (kapmon user add); needed for a non-loopback --host",
    )
    add_allow_host_argument(p)


def add_server_arguments(p: argparse.ArgumentParser, port: int = 8050) -> None:
    add_store_argument(p)
    add_listen_arguments(p, port)
    default = SAMPLE_RECORDINGS if SAMPLE_RECORDINGS.is_dir() else None
    p.add_argument(
        "--recordings",
        type=recordings_folder,
        default=default,
        metavar="DIR",
        help=f"the only folder whose recordings (CSV + JSON sidecar) the training page may start (default: {default or 'none'})",
    )


def add_allow_host_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer to this name in the Host header, on any port (the DNS name clinicians or a TLS"
        " reverse proxy use for this machine); repeat for several. Other names are refused (DNS"
        " rebinding)",
    )


def recordings_folder(value: str) -> Path:
    """``--recordings``: an existing folder."""
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: not a folder")
    return path


def open_store(path: Path | None) -> Store:
    try:
        return Store(path or default_db())
    except StoreError as exc:
        raise StartError(str(exc)) from None


def read_store(path: Path | None) -> Store:
    """An existing store (``--db``, default the user's) opened for reading only: it works on a
    read-only store and never writes. ``StoreError`` says why it cannot be read."""
    path = path or default_db()
    if not path.is_file():
        raise StoreError(f"{path}: no such store")
    return Store(path, read_only=True)


def review_store(path: Path | None, users: Users | None) -> Store:
    """An existing store to serve pages from: writable when it can be (sign-ins are audited in it),
    else read-only, which sign-in needs not (an unaudited sign-in is refused)."""
    path = path or default_db()
    if not path.is_file():
        raise StoreError(f"{path}: no such store")
    try:
        return Store(path)
    except ReadOnlyStore as exc:
        if users is not None:
            raise StoreError(f"{exc}, but sign-ins could not be audited in it: serve it without --users") from None
        return Store(path, read_only=True)


def load_users(path: Path | None) -> Users | None:
    """The users file named by ``--users``, or None when sign-in is off."""
    if path is None:
        return None
    try:
        users = Users.load(path)
    except UsersError as exc:
        raise StartError(str(exc)) from None
    if not users.hashes:
        raise StartError(f"{path}: no users yet (add one with: kapmon user add NAME --users {path})")
    return users


@dataclass(frozen=True)
class Listener:
    """The HTTP port, bound before a command touches the store or starts a session, so that a busy port
    changes nothing; ``serve`` hands the bound socket to the web server."""

    host: str
    port: int
    sock: socket.socket

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()


def listen(host: str, port: int) -> Listener:
    """Bind and listen on ``host:port`` as the web server would; ``StartError`` (one line) if it cannot."""
    family = select_address_family(host, port)
    sock = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(get_sockaddr(host, port, family))
        sock.listen(LISTEN_QUEUE)
    except OSError as exc:
        if sock is not None:
            sock.close()
        busy = (
            " (another program is using it: stop that program or choose another --port)" if exc.errno == errno.EADDRINUSE else ""
        )
        raise StartError(f"cannot serve on {host} port {port}: {exc.strerror or exc}{busy}") from None
    return Listener(host, port, sock)


CONSOLE = "kapmon-console"  # the name of the handler that prints the hub's lines in the terminal


def show_hub_lines() -> None:
    """Print what the recorder says at INFO in the terminal: each change of the dosing decision ("DOSING
    BLOCKED: ...", "Dosing: clear to dose"), a repeat NIBP asked of a cuff, and the devices' links (a lost
    or silent device, the wait before reconnecting), with the time. Only these loggers: no other INFO
    (requests, publishing) reaches the terminal."""
    for name in ("monitor.session.hub", "devices"):
        logger = logging.getLogger(name)
        if not any(h.get_name() == CONSOLE for h in logger.handlers):
            handler = logging.StreamHandler()
            handler.set_name(CONSOLE)
            handler.setFormatter(logging.Formatter("kapmon %(asctime)s %(message)s", "%H:%M:%S"))
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def serve(
    store: Store,
    hubs: dict[str, Hub],
    listener: Listener,
    open_path: str = "/",
    users: Users | None = None,
    recordings: Path | None = SAMPLE_RECORDINGS,
    allow_hosts: Sequence[str] = (),
) -> None:
    """Serve the pages on ``listener`` until Ctrl-C, then stop the hubs (their data is already stored).
    Requests for another host or from another site are refused (``layouts.security``); with ``users``
    every page, callback and asset needs sign-in. The training page starts only recordings in ``recordings``."""
    from layouts.app import create_app  # the entry point is the one place that wires pages in
    from layouts.security import secure

    host, port = listener.host, listener.port
    check_bind(host, users)
    app = create_app(store, hubs, recordings)
    secure(app, host, port, users, store, allow_hosts)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_term)  # a service manager's stop ends the sessions cleanly
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        app.enable_dev_tools(debug=False)  # as Dash's own run() does
        server = PageServer(host, port, app.server, fd=listener.sock.fileno())
        print(f"kapmon: serving http://{host}:{port}{open_path}  (store: {store.path}; Ctrl-C to stop)", flush=True)
        server.serve_forever()  # until Ctrl-C or SIGTERM; it closes its socket then
    finally:
        for hub in hubs.values():
            hub.stop()


class PageServer(ThreadedWSGIServer):
    """The page server: each connection answered in a thread of its own; once a connection is done, the memory
    its thread freed goes back to the system (``monitor.allocator``)."""

    def __init__(self, *args: Any, releaser: Releaser | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.releaser = Releaser() if releaser is None else releaser

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.releaser.freed()


def serve_session(store: Store, hub: Hub, listener: Listener, users: Users | None, args: argparse.Namespace) -> None:
    """Serve one session's live page (and the others) with the server arguments a command was given."""
    serve(
        store,
        {hub.session.id: hub},
        listener,
        f"/live/{hub.session.id}",
        users=users,
        recordings=args.recordings,
        allow_hosts=args.allow_host,
    )


def _stop_on_term(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def fail(command: str, message: str) -> int:
    print(f"kapmon {command}: {message}", file=sys.stderr)
    return 2
