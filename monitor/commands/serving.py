"""Serving the pages for running sessions (shared by ``demo``, ``monitor`` and ``replay``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from monitor.hub import Hub
from monitor.paths import default_db
from monitor.running import StartError, check_bind
from monitor.store import Store, StoreError


def add_server_arguments(p: argparse.ArgumentParser, port: int = 8050) -> None:
    p.add_argument("--db", type=Path, default=None, help=f"store file (default: {default_db()})")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"port to serve on (default {port})")


def open_store(path: Path | None) -> Store:
    try:
        return Store(path or default_db())
    except StoreError as exc:
        raise StartError(str(exc)) from None


def serve(store: Store, hubs: dict[str, Hub], host: str, port: int, open_path: str = "/") -> None:
    """Serve the pages until Ctrl-C, then stop the hubs (their data is already stored)."""
    from layouts.app import create_app  # the entry point is the one place that wires pages in

    check_bind(host)
    app = create_app(store, hubs)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(f"kapmon: serving http://{host}:{port}{open_path}  (store: {store.path}; Ctrl-C to stop)", flush=True)
    try:
        app.run(host=host, port=port, debug=False)
    finally:
        for hub in hubs.values():
            hub.stop()


def fail(command: str, message: str) -> int:
    print(f"kapmon {command}: {message}", file=sys.stderr)
    return 2
