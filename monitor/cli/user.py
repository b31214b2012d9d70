"""``kapmon user add NAME [--role ROLE]`` / ``kapmon user remove NAME``: who may sign in to the pages, and in
which role (password hashes and roles in the users file). A running server re-reads the file, so either
takes effect without a restart."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from monitor.auth.users import DEFAULT_ROLE, ROLES, Users, UsersError, add_user, check_name, check_password, remove_user
from monitor.cli.serving import fail
from monitor.paths import default_db


def default_users() -> Path:
    return default_db().with_name("users")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user or change their password")
    add.add_argument("name", help="the name the user signs in with (recorded in the audit log)")
    add.add_argument(
        "--role",
        choices=ROLES,
        default=None,
        help="physician (may override a dosing block or gate), nurse or trainer; default: nurse for a new"
        " user, unchanged for an existing one",
    )
    remove = sub.add_parser("remove", help="remove a user: their password stops working at once, also on a running server")
    remove.add_argument("name", help="the user to remove")
    for action_parser in (add, remove):
        action_parser.add_argument(
            "--users", type=Path, default=None, metavar="FILE", help=f"users file (default: {default_users()})"
        )


def read_password(keep: bool) -> str | None:
    """From the terminal (asked twice), or the first line of standard input when it is not a terminal.
    With ``keep`` (an existing user), an empty answer keeps the current password (None)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n") or (None if keep else "")
    first = getpass.getpass("Password (Enter keeps the current one): " if keep else "Password: ")
    if keep and not first:
        return None
    check_password(first)
    if getpass.getpass("Password again: ") != first:
        raise UsersError("the passwords do not match")
    return first


def add(path: Path, name: str, role: str | None) -> str:
    """Add the user or change their password and/or role; says what was done."""
    check_name(name)
    existing = Users.load(path).role(name) if path.exists() else None
    password = read_password(keep=existing is not None)
    if existing is None:
        add_user(path, name, password, role)
        return f"added {name} ({role or DEFAULT_ROLE}) in"
    changes = (["the password"] if password is not None else []) + ([f"the role ({existing} -> {role})"] if role else [])
    if not changes:
        raise UsersError(f"nothing to change for {name}: give a new password, or --role")
    add_user(path, name, password, role)
    return f"changed {' and '.join(changes)} of {name} in"


def run(args: argparse.Namespace) -> int:
    path = args.users or default_users()
    try:
        if args.action == "remove":
            remove_user(path, args.name)
            done = f"removed {args.name} from"
        else:
            done = add(path, args.name, args.role)
    except UsersError as exc:
        return fail("user", str(exc))
    except OSError as exc:
        return fail("user", f"{path}: {exc.strerror or exc}")
    print(f"kapmon user: {done} {path}")
    return 0
