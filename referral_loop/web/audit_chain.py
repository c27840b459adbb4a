"""The audit log's hash chain: each entry holds the hash of the one before, and a MAC of its own.

- `entry_hash` = SHA-256 over the previous entry's hash and this entry's fields (canonical JSON):
  any edit, deletion or reordering of an entry changes it and breaks the link of the entry after.
  Anyone can recompute it, so on its own it only shows tampering done without recomputing.
- `mac` = HMAC-SHA256 of `entry_hash` under a key derived from the store key (HKDF-SHA256), and
  `key_id`, that key's fingerprint. Someone with the database's files but not the store key
  cannot recompute it: an entry they rewrote, or the chain they recomputed after deleting rows,
  fails its MAC. A process without a usable store key writes entries without a MAC; a later
  entry with one still pins them (its MAC covers its `prev_hash`, which is their hash).

Appending is serialised across processes (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction
advisory lock) so the tail read and the inserts after it are one step: a group of entries costs
one transaction, as before the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from referral_loop.keys import StoreKeyError, store_key
from referral_loop.settings import Settings

GENESIS = "0" * 64
"""The `prev_hash` of the first entry of the chain."""
CHAIN_LOCK = 7316002
"""PostgreSQL advisory lock serialising appends (7316001 serialises creating the table)."""


@dataclass(frozen=True)
class ChainKey:
    """The MAC key of the chain (derived from a store key) and its fingerprint."""

    key: bytes
    key_id: str

    @classmethod
    def derive(cls, store_key_b64: str) -> ChainKey:
        key = HKDF(SHA256(), 32, salt=None, info=b"referral-loop audit chain").derive(
            b64decode(store_key_b64)
        )
        return cls(key, hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:16])

    def mac(self, entry_hash: str) -> str:
        return hmac.new(self.key, entry_hash.encode("ascii"), hashlib.sha256).hexdigest()


def chain_key(settings: Settings) -> ChainKey | None:
    """The chain's key from the configured store key; None without one, or when it is unusable
    (the process then fails on its store; its audit entries are still chained, without a MAC)."""
    try:
        key = store_key(settings)
    except StoreKeyError:
        return None
    return ChainKey.derive(key) if key else None


def entry_hash(prev_hash: str, fields: Sequence[str]) -> str:
    """SHA-256 over the previous hash and the entry's stored fields, as canonical JSON."""
    canonical = json.dumps([prev_hash, *fields], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def linked(rows: Sequence[tuple[str, ...]], tail: str, key: ChainKey | None) -> list[tuple[str | None, ...]]:
    """Each row followed by its link (prev_hash, entry_hash, mac, key_id), chained after `tail`."""
    out: list[tuple[str | None, ...]] = []
    for row in rows:
        digest = entry_hash(tail, row)
        out.append((*row, tail, digest, key.mac(digest) if key else None, key.key_id if key else None))
        tail = digest
    return out


def lock_tail(connection: Any, sqlite: bool) -> str:
    """Inside the append's transaction: take the chain's lock (SQLite's began IMMEDIATE), then
    the newest entry's hash (GENESIS for an empty log; an entry from before the chain counts as
    GENESIS too: the chain starts after it)."""
    if not sqlite:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    row = connection.execute("SELECT entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return str(row[0]) if row and row[0] else GENESIS
