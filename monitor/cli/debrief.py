"""``kapmon debrief``: a training session's debrief as JSON or CSV."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from monitor.cli.serving import add_store_argument, fail, read_store
from monitor.session.store import StoreError
from monitor.training.debrief import debrief


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_ID", help="the training session's id (see kapmon sessions)")
    add_store_argument(p)
    p.add_argument("--format", choices=("json", "csv"), default="json", help="json (default) or csv")
    p.add_argument("--out", type=Path, help="write to FILE instead of printing")


def run(args: argparse.Namespace) -> int:
    try:
        store = read_store(args.db)
    except StoreError as exc:
        return fail("debrief", str(exc))
    session = store.session(args.session)
    if session is None or session.kind != "training":
        return fail("debrief", f"{args.session}: no training session with that id in {store.path}")
    d = debrief(store, args.session)
    text = json.dumps(d.as_dict(), indent=2) if args.format == "json" else d.as_csv()
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0
