"""`referral-loop users`: the local users (created once, passwords printed), and managing people and
system tokens in the users file. A password or token is printed once, when it is made; only its
hash is kept. Running services see a change at their next request."""

from __future__ import annotations

import argparse
import secrets
from datetime import UTC, datetime
from typing import Any

from referral_loop.settings import Settings
from referral_loop.web.passwords import hash_password
from referral_loop.web.users import Role, ensure_local_users, new_token, token_hash
from referral_loop.web.users_file import read_users, update_users_file

ROLES = [role.value for role in Role]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-of", metavar="USER", help="print only this local user's password")
    actions = parser.add_subparsers(dest="action")
    person = actions.add_parser("add", help="add (or reset) a person; prints a new password once")
    system = actions.add_parser("add-token", help="add a system's bearer token; prints it once")
    for sub in (person, system):
        sub.add_argument("name")
        sub.add_argument("--role", choices=ROLES, required=True)
    for action, what in (("remove", "a person"), ("revoke-token", "a system's token")):
        actions.add_parser(action, help=f"remove {what}").add_argument("name")
    actions.add_parser("list", help="names, kinds and roles (no secrets)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    handlers = {
        "add": _add,
        "add-token": _add_token,
        "remove": _remove,
        "revoke-token": _revoke,
        "list": _list,
    }
    if args.action in handlers:
        return handlers[args.action](settings, args)
    users = ensure_local_users(settings.users_path)
    if args.password_of:
        print(users[args.password_of]["password"])
        return 0
    for name, record in users.items():
        print(f"{name:8} role={record['role']:9} password={record['password']}")
    return 0


def _add(settings: Settings, args: argparse.Namespace) -> int:
    password = new_password()
    record = {"role": args.role, "password_hash": hash_password(password)}
    update_users_file(settings.users_path, lambda data: data["users"].__setitem__(args.name, record))
    print(f"{args.name} role={args.role} password={password}")
    return 0


def _add_token(settings: Settings, args: argparse.Namespace) -> int:
    if args.name in read_users(settings.users_path)["users"]:
        print(f"error: {args.name} is a person's name; give the system a name of its own")
        return 2
    token = new_token()
    record = {"role": args.role, "token_hash": token_hash(token), "created_at": datetime.now(UTC).isoformat()}
    update_users_file(settings.users_path, lambda data: data["tokens"].__setitem__(args.name, record))
    print(token)
    return 0


def _remove(settings: Settings, args: argparse.Namespace) -> int:
    return _drop(settings, "users", args.name)


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    return _drop(settings, "tokens", args.name)


def _drop(settings: Settings, kind: str, name: str) -> int:
    found: list[Any] = []
    update_users_file(settings.users_path, lambda data: found.append(data[kind].pop(name, None)))
    if found[0] is None:
        print(f"error: no {'user' if kind == 'users' else 'token'} named {name}")
        return 1
    return 0


def _list(settings: Settings, _: argparse.Namespace) -> int:
    data = read_users(settings.users_path)
    for kind, records in (("person", data["users"]), ("token", data["tokens"])):
        for name, record in sorted(records.items()):
            print(f"{name:20} {kind:6} role={record['role']}")
    return 0


def new_password() -> str:
    return secrets.token_urlsafe(12)
