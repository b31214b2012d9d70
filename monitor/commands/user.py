"""``kapmon user add NAME`` / ``kapmon user remove NAME``: who may sign in to the pages (password hashes
in the users file). A running server re-reads the file, so either takes effect without a restart."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from monitor.commands.serving import fail
from monitor.paths import default_db
from monitor.users import UsersError, add_user, check_name, check_password, remove_user

HELP = ("add or remove a user who may sign in to the pages, or change their password (the password is asked for,"
        " never an argument)")


def default_users() -> Path:
    return default_db().with_name("users")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user or change their password", description=HELP)
    add.add_argument("name", help="the name the user signs in with (recorded in the audit log)")
    remove = sub.add_parser("remove", help="remove a user: their password stops working at once, also on a running"
                                           " server", description=HELP)
    remove.add_argument("name", help="the user to remove")
    for action_parser in (add, remove):
        action_parser.add_argument("--users", type=Path, default=None, metavar="FILE",
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
        if args.action == "remove":
            remove_user(path, args.name)
            done = "removed"
        else:
            check_name(args.name)
            done = "added" if add_user(path, args.name, read_password()) else "changed the password of"
    except UsersError as exc:
        return fail("user", str(exc))
    except OSError as exc:
        return fail("user", f"{path}: {exc.strerror or exc}")
    print(f"kapmon user: {done} {args.name} {'from' if args.action == 'remove' else 'in'} {path}")
    return 0
