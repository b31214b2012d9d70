"""``kapmon summary SESSION_ID``: the summary of a recorded session, as text or one JSON object."""

from __future__ import annotations

import argparse
import json
import sys

from monitor.analysis.summary import SessionNotFound, describe, events_left_out, load_record, summarise, summary_json
from monitor.cli.serving import add_store_argument, fail, read_store
from monitor.session.store import StoreError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_ID", help="session id (see kapmon sessions)")
    add_store_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object: numbers unrounded, times in seconds from session start")


def run(args: argparse.Namespace) -> int:
    try:
        store = read_store(args.db)
        record = load_record(store, args.session)
    except SessionNotFound as exc:
        return fail("summary", exc.args[0])
    except StoreError as exc:
        return fail("summary", str(exc))
    for line in events_left_out(store, args.session):
        print(f"kapmon summary: {line}", file=sys.stderr)
    summary = summarise(record)
    if args.json:
        print(json.dumps(summary_json(record, summary)))
        return 0
    started = record.session.started
    print(f"Session {record.session.id} ({record.session.patient}, {record.session.route}) under {summary.protocol}")
    for title, rows in describe(summary, started):
        print(f"\n{title}")
        for label, text in rows:
            print(f"  {label:<24} {text}")
    return 0
