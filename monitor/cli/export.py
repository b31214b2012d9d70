"""``kapmon export``: one recorded session as CSV, Parquet, a FHIR R4 Bundle or a printable report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devices.errors import RecordingError
from devices.io.recording import LONG, WIDE
from monitor.analysis.summary import SessionNotFound
from monitor.cli.serving import add_store_argument, fail, read_store
from monitor.exports.contents import ExportError
from monitor.exports.writer import FORMATS, export, export_problems
from monitor.session.store import StoreError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", metavar="SESSION_ID", help="session id (see kapmon sessions)")
    add_store_argument(p)
    p.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="file to write (CSV also writes a .json sidecar; rems: Markdown, or JSON when the name ends in .json)",
    )
    p.add_argument("--form", choices=(LONG, WIDE), default=LONG, help="CSV form (default long)")
    p.add_argument(
        "--interval", type=float, default=0.0, help="FHIR: keep one HR/PR/SpO2 reading per this many seconds (default 0: all)"
    )


def run(args: argparse.Namespace) -> int:
    if args.format not in FORMATS:
        return fail("export", f"unknown format {args.format!r} (known: {', '.join(FORMATS)})")
    if args.interval < 0:
        return fail("export", "--interval must be >= 0")
    try:
        store = read_store(args.db)
        path = export(store, args.session, args.format, args.out, form=args.form, interval_s=args.interval)
    except SessionNotFound as exc:
        return fail("export", exc.args[0])
    except (ExportError, StoreError, RecordingError) as exc:
        return fail("export", str(exc))
    for line in export_problems(store, args.session):
        print(f"kapmon export: warning: {line}", file=sys.stderr)
    print(f"kapmon export: wrote {path} ({path.stat().st_size:,} bytes)")
    return 0
