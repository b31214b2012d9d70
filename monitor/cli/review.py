"""``kapmon review``: the sessions and review pages of an existing store, without starting a session."""

from __future__ import annotations

import argparse

from monitor.cli.serving import add_server_arguments, fail, listen, load_users, review_store, serve
from monitor.session.start import StartError, check_bind
from monitor.session.store import StoreError


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_server_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        users = load_users(args.users)
        check_bind(args.host, users)
        listener = listen(args.host, args.port)
    except StartError as exc:
        return fail("review", str(exc))
    with listener:
        try:
            store = review_store(args.db, users)
        except StoreError as exc:
            return fail("review", str(exc))
        read_only = " (read-only)" if store.read_only else ""
        print(f"kapmon review: {len(store.sessions())} sessions in {store.path}{read_only}", flush=True)
        serve(store, {}, listener, "/", users=users)
    return 0
