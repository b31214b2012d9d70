"""``kapmon central``: the central station for every room publishing to a broker."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from devices.errors import KapmonError
from monitor.central.broker import add_broker_arguments, config_from_args, require_paho
from monitor.cli.serving import add_listen_arguments, fail, load_users
from monitor.paths import default_db
from monitor.session.start import check_bind


def default_central_db() -> Path:
    return default_db().with_name("central.db")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", required=True, metavar="mqtt://HOST:PORT", help="the broker the rooms publish to")
    p.add_argument("--site", default=None, help="show only this site's rooms (default: every site)")
    p.add_argument("--db", type=Path, default=None, help=f"central store file (default: {default_central_db()})")
    add_listen_arguments(p, 8060)
    add_broker_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        users = load_users(args.users)
        check_bind(args.host, users)
        config = config_from_args(args.broker, args)
        require_paho()
        from monitor.central.station import Central, CentralStore

        store = CentralStore(args.db or default_central_db())
        central = Central(store, config, args.site).start()
    except (KapmonError, ValueError) as exc:
        return fail("central", str(exc))
    from layouts.central import create_central_app
    from layouts.security import secure

    app = create_central_app(central)
    secure(app, args.host, args.port, users, store, args.allow_host)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(
        f"kapmon: central station on http://{args.host}:{args.port}/  (broker {config}; store {store.path}; Ctrl-C to stop)",
        flush=True,
    )
    try:
        app.run(host=args.host, port=args.port, debug=False)
    finally:
        central.stop()
    return 0
