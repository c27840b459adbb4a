"""Who may call intake: users with a role, their passwords kept as salted PBKDF2 hashes.

The users file is JSON: {"users": {"name": {"role": "intake", "password_hash": "pbkdf2$..."}}}.
On a fresh machine `ensure_local_users` creates one intake and one ops user and keeps their
generated passwords beside the file (mode 600) so `make run` can print them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

ITERATIONS = 200_000


class Role(StrEnum):
    INTAKE = "intake"
    """Intake staff: submit referrals and lifecycle facts, read referrals."""
    OPS = "ops"
    """Operations: read only."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    return f"pbkdf2${ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(candidate.hex(), digest)


class UserDirectory:
    """The users file, loaded once; checks a name and password and answers with the user."""

    def __init__(self, path: Path) -> None:
        records = json.loads(path.read_text())["users"] if path.exists() else {}
        self._records: dict[str, dict[str, str]] = records

    def authenticate(self, name: str, password: str) -> User | None:
        record = self._records.get(name)
        stored = record["password_hash"] if record else hash_password("timing-equaliser", b"0" * 16)
        if not verify_password(password, stored) or record is None:
            return None
        return User(name=name, role=Role(record["role"]))


def credentials_path(users_path: Path) -> Path:
    return users_path.with_name("local-credentials.json")


def ensure_local_users(users_path: Path) -> dict[str, dict[str, str]]:
    """Create the local intake and ops users once; return {name: {role, password}} for printing."""
    plain = credentials_path(users_path)
    if users_path.exists() and plain.exists():
        loaded: dict[str, dict[str, str]] = json.loads(plain.read_text())
        return loaded
    created = {
        name: {"role": role.value, "password": secrets.token_urlsafe(12)}
        for name, role in (("intake", Role.INTAKE), ("ops", Role.OPS))
    }
    users = {
        name: {"role": c["role"], "password_hash": hash_password(c["password"])}
        for name, c in created.items()
    }
    users_path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(users_path, {"users": users})
    _write_private(plain, created)
    return created


def _write_private(path: Path, content: object) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(content, indent=2) + "\n")
