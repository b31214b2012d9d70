"""``kapmon decode FORMAT DATA``: decode one payload and print JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from devices.decoding import Decoded
from devices.errors import DecodeError
from devices.formats import all_formats
from devices.reading import Condition, Reading, Samples


def add_arguments(p: argparse.ArgumentParser) -> None:
    names = ", ".join(sorted(all_formats()))
    p.add_argument("format", metavar="FORMAT", help=f"one of: {names}")
    p.add_argument("data", metavar="DATA", help="hex bytes (spaces allowed) or text; for hl7 a file, or - for standard input")


def parse_hex(text: str) -> bytes:
    """Bytes from hex text such as ``1E 8A 00`` or ``1e8a00``; raise ``DecodeError`` if not hex."""
    cleaned = "".join(text.replace("0x", "").replace(",", " ").split())
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise DecodeError(f"not hex: {text!r}") from None


def read_message(where: str) -> str:
    """A message from a file, or standard input for ``-``; ``DecodeError`` when it cannot be read."""
    try:
        return sys.stdin.read() if where == "-" else Path(where).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DecodeError(f"cannot read {where}: {exc.strerror or exc}") from None


def item_json(item: Decoded, stamped: bool = False) -> dict:
    """The JSON object printed for one decoded reading or condition; ``stamped`` adds its time and source."""
    if isinstance(item, Samples):
        return {"samples": [r.value for r in item.readings()], "vital": item.vital, "rate_hz": item.rate_hz}
    if not isinstance(item, (Reading, Condition)):
        return item.as_json()  # a record that is neither, such as a device's feature list
    out: dict = {"t": datetime.fromtimestamp(item.t, UTC).isoformat(), "source": item.source} if stamped else {}
    if isinstance(item, Reading):
        out |= {"vital": item.vital, "value": item.value, "unit": item.unit}
        if not item.has_value:
            out["status"] = item.status
        return out
    out |= {"condition": item.condition, "active": item.active}
    if item.vitals:
        out["vitals"] = list(item.vitals)
    if item.detail:
        out["detail"] = item.detail
    return out


def run(args: argparse.Namespace) -> int:
    formats = all_formats()
    fmt = formats.get(args.format)
    if fmt is None:
        print(f"kapmon decode: unknown format {args.format!r} (known: {', '.join(sorted(formats))})", file=sys.stderr)
        return 2
    try:
        readers: dict[str, Callable[[str], bytes | str]] = {"hex": parse_hex, "message": read_message}
        data = readers.get(fmt.input, str)(args.data)
        items = fmt.decode(data)
    except DecodeError as exc:
        print(f"kapmon decode: {args.format}: {exc}", file=sys.stderr)
        return 1
    for item in items:
        print(json.dumps(item_json(item, stamped=fmt.input == "message")))
    return 0
