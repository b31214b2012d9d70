"""``kapmon user add NAME``: allow a user to sign in to the pages (a password hash in the users file)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from monitor.commands.serving import fail
from monitor.paths import default_db
from monitor.users import UsersError, add_user, check_name, check_password

HELP = "add a user who may sign in to the pages, or change their password (the password is asked for, never an argument)"


def default_users() -> Path:
    return default_db().with_name("users")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user or change their password", description=HELP)
    add.add_argument("name", help="the name the user signs in with (recorded in the audit log)")
    add.add_argument("--users", type=Path, default=None, metavar="FILE",
                     help=f"users file (default: {default_users()})")


def read_password() -> str:
    """From the terminal (asked twice), or the first line of standard input when it is not a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    check_password(first)
    if getpass.getpass("Password again: ") != first:
        raise UsersError("the passwords do not match")
    return first


def run(args: argparse.Namespace) -> int:
    path = args.users or default_users()
    try:
        check_name(args.name)
        new = add_user(path, args.name, read_password())
    except UsersError as exc:
        return fail("user", str(exc))
    except OSError as exc:
        return fail("user", f"{path}: {exc.strerror or exc}")
    print(f"kapmon user: {'added' if new else 'changed the password of'} {args.name} in {path}")
    return 0
