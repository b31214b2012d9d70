"""``kapmon sessions``: list the sessions in a store."""

from __future__ import annotations

import argparse
import json
import time

from monitor.cli.serving import add_store_argument, fail, read_store
from monitor.session.store import StoreError


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_store_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def run(args: argparse.Namespace) -> int:
    try:
        store = read_store(args.db)
    except StoreError as exc:
        return fail("sessions", str(exc))
    for s in store.sessions():
        row = {
            "id": s.id,
            "started": iso(s.started),
            "route": s.route,
            "patient": s.patient,
            "kind": s.kind,
            "weight_kg": s.weight_kg,
            "protocol": s.protocol,
            "readings": store.count_readings(s.id),
        }
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{s.id}  {row['started']}  {s.patient:<12} {s.route:<10} {s.kind:<9} {row['readings']} readings")
    return 0
