"""Who may call intake and the ops app: people with a role and a password (an argon2 hash), and
systems with a bearer token scoped to a role (kept as a SHA-256 hash: a token is 256 random bits).

The users file is JSON, mode 600:
  {"users": {"name": {"role": "intake", "password_hash": "$argon2id$..."}},
   "tokens": {"name": {"role": "intake", "token_hash": "<sha256 hex>", "created_at": "..."}}}
It is re-read when it changes, so `referral-loop users ...` takes effect without a restart. A hash
from before argon2 (`pbkdf2$...`) still verifies once and is then replaced by an argon2 hash.
On a fresh machine `ensure_local_users` creates an intake, an ops and a first admin user and keeps
their generated passwords beside the file (mode 600) so `make run` can print them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from referral_loop.web.passwords import hash_password, needs_rehash, verify_nobody, verify_password
from referral_loop.web.users_file import read_users, update_users_file, write_private

log = logging.getLogger(__name__)
TOKEN_PREFIX = "rlt_"  # noqa: S105 (a marker, not a secret)


class Role(StrEnum):
    INTAKE = "intake"
    """Intake staff: submit referrals, record their lifecycle, read referrals."""
    CLINICIAN = "clinician"
    """Clinicians: read referrals and record their lifecycle (accept, seen ...), no new referrals."""
    OPS = "ops"
    """Operations: aggregates only (volume, trends, KPIs, scorecards); never a patient."""
    ADMIN = "admin"
    """Administrators: everything."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def stamp(role: str, password_hash: str) -> str:
    """What a session remembers of how its user signed in: a new password or role ends it."""
    return hashlib.sha256(f"{role}\0{password_hash}".encode()).hexdigest()[:32]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class UserDirectory:
    """The users file, re-read when it changes; checks passwords (blocking: argon2) and tokens."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, dict[str, str]] = {}
        self._tokens: dict[str, User] = {}
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the file if it changed since the last look (one stat); True when it did."""
        try:
            info = os.stat(self.path)
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        except FileNotFoundError:
            stamp = (0, 0, 0)
        if stamp == self._stamp:
            return False
        data = read_users(self.path)
        self._users = data["users"]
        self._tokens = {r["token_hash"]: User(n, Role(r["role"])) for n, r in data["tokens"].items()}
        self._stamp, self.generation = stamp, self.generation + 1
        return True

    def authenticate(self, name: str, password: str) -> User | None:
        found = self.verify(name, password)
        return None if found is None else found[0]

    def verify(self, name: str, password: str) -> tuple[User, str] | None:
        """The user and the stamp they signed in with (blocking: argon2); None if not them."""
        record = self._users.get(name)
        if record is None or "password_hash" not in record:
            verify_nobody(password)
            return None
        stored = record["password_hash"]
        if not verify_password(password, stored):
            return None
        if needs_rehash(stored):
            stored = self._upgrade(name, stored, password)
        return User(name=name, role=Role(record["role"])), stamp(record["role"], stored)

    def stamp_of(self, name: str) -> str | None:
        """The current stamp of the person `name` (the users file re-read if it changed); None
        when there is no such person: a session opened with another stamp is over."""
        self.refresh()
        record = self._users.get(name)
        if record is None or "password_hash" not in record:
            return None
        return stamp(record["role"], record["password_hash"])

    def authenticate_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        return self._tokens.get(token_hash(token))

    def _upgrade(self, name: str, old_hash: str, password: str) -> str:
        """Replace a legacy (or weaker) hash by an argon2 one, unless the file changed meanwhile;
        the hash the file now holds for the password (the old one if it was not replaced)."""
        new_hash = hash_password(password)
        written: list[str] = []

        def replace(data: dict[str, Any]) -> None:
            record = data["users"].get(name)
            if record is not None and record.get("password_hash") == old_hash:
                record["password_hash"] = new_hash
                written.append(new_hash)

        try:
            update_users_file(self.path, replace)
        except OSError as error:
            log.warning("could not upgrade a password hash in the users file (%s)", type(error).__name__)
            return old_hash
        return written[0] if written else old_hash


Credentials = dict[str, dict[str, str]]
LOCAL_USERS = (("intake", Role.INTAKE), ("ops", Role.OPS), ("admin", Role.ADMIN))


def credentials_path(users_path: Path) -> Path:
    return users_path.with_name("local-credentials.json")


def ensure_local_users(users_path: Path) -> Credentials:
    """Create the local intake and ops users, and a first admin if there is none, once; return
    {name: {role, password}} of the local users for printing."""
    plain = credentials_path(users_path)
    known: Credentials = json.loads(plain.read_text()) if users_path.exists() and plain.exists() else {}
    has_admin = any(r.get("role") == Role.ADMIN for r in read_users(users_path)["users"].values())
    created = {
        name: {"role": role.value, "password": secrets.token_urlsafe(12)}
        for name, role in LOCAL_USERS
        if name not in known and not (role is Role.ADMIN and has_admin)
    }
    if created:
        records = {
            n: {"role": c["role"], "password_hash": hash_password(c["password"])} for n, c in created.items()
        }
        update_users_file(users_path, lambda data: data["users"].update(records))
        write_private(plain, known | created)
    return known | created
