"""Password hashes: argon2id (OWASP's parameters), and the PBKDF2 hashes of earlier versions, which
still verify once and are then replaced (`needs_rehash`) by the users file on a successful sign-in.
"""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
"""argon2id, 19 MiB, 2 passes, 1 lane: OWASP's password storage recommendation (about 60 ms)."""
_EQUALISER = HASHER.hash("timing-equaliser")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (argon2, or a legacy `pbkdf2$...`)."""
    if stored.startswith("pbkdf2$"):
        return _verify_pbkdf2(password, stored)
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_nobody(password: str) -> None:
    """Spend what a verification costs, so an unknown user name takes as long as a wrong password."""
    verify_password(password, _EQUALISER)


def needs_rehash(stored: str) -> bool:
    """A legacy hash, or an argon2 hash with weaker parameters than HASHER's."""
    return stored.startswith("pbkdf2$") or HASHER.check_needs_rehash(stored)


def _verify_pbkdf2(password: str, stored: str) -> bool:
    try:
        _, iterations, salt, digest = stored.split("$")
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)
