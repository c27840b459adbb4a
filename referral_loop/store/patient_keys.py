"""The patients' data keys, kept in the referrals store's database, wrapped by the store key.

One key per patient: a patient is known by an identity, a keyed hash (HMAC-SHA256 under a key
derived from the store key) of their normalised names and date of birth, so their referrals
share one key. Each referral notes its patient's key (`referral_keys`). Forgetting a patient
destroys the key (its wrapped bytes and its identity are overwritten with NULL, in one
transaction): every fact sealed under it is erased at once, wherever a copy of the store went.

The writer creates keys in one transaction per batch (`keys_for_new`); readers open keys by id,
one query per page for the ids they have not cached (`keys`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from referral_loop.store.key_wrap import KeyWrap
from referral_loop.store.patient_phi import DataKey
from referral_loop.store.zeroing import zeroing_what_it_frees

KEYS, REFERRALS = "referrals_patient_keys", "referrals_referral_keys"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {KEYS} (key_id TEXT PRIMARY KEY, identity TEXT UNIQUE, "
    "wrapped TEXT, created_at TEXT NOT NULL, forgotten_at TEXT)",
    f"CREATE TABLE IF NOT EXISTS {REFERRALS} (referral_id TEXT PRIMARY KEY, key_id TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {REFERRALS}_by_key ON {REFERRALS} (key_id)",
)
CACHED = 20_000
IDENTITY_SECRET = "identity-secret"  # noqa: S105 - a row id, not a secret
"""The row holding the secret that patients' identities are keyed hashes under (wrapped like a
data key, so rotating the store key rewraps it and identities stay the same)."""


def normalised(given: str, family: str, birth_date: str) -> str:
    return f"{given.strip().lower()}|{family.strip().lower()}|{birth_date}"


class PatientKeys:
    """Data keys per patient in the store's database (`datastore`: eventsourcing's, SQLite or
    PostgreSQL); `store_key` (raw bytes) wraps them, or None: kept as they are (no store key)."""

    def __init__(self, datastore: Any, postgres: bool, store_key: bytes | None) -> None:
        self.datastore, self.mark = datastore, "%s" if postgres else "?"
        self._wrap = KeyWrap(store_key)
        self._cache: dict[str, bytes | None] = {}
        self._mac: bytes | None = None
        with self.datastore.transaction(commit=True) as cursor:
            if postgres:  # services opening the store at once take turns creating the tables
                cursor.execute("SELECT pg_advisory_xact_lock(7316003)")
            for statement in SCHEMA:
                cursor.execute(statement)

    def identity(self, given: str, family: str, birth_date: str) -> str:
        """A patient's identity: a keyed hash, so it cannot be recomputed from a guessed name."""
        if self._mac is None:  # read when first needed: opening a store checks its key first
            with self.datastore.transaction(commit=True) as cursor:
                self._mac = self._identity_secret(cursor)
        text = normalised(given, family, birth_date).encode()
        return hmac.new(self._mac, text, hashlib.sha256).hexdigest()

    def rewrap(self, cursor: Any, new_store_key: bytes) -> int:
        """Every live key (and the identity secret) wrapped under a new store key, in the
        caller's transaction (`rotate-store-key`): the number rewrapped."""
        new = KeyWrap(new_store_key)
        cursor.execute(f"SELECT key_id, wrapped FROM {KEYS} WHERE wrapped IS NOT NULL")  # noqa: S608
        keys = [self._wrap.unwrap(_at(r, 0, "key_id"), _at(r, 1, "wrapped")) for r in cursor.fetchall()]
        rows = [(new.wrap(k.key_id, k.key), k.key_id) for k in keys if k.key is not None]
        cursor.executemany(f"UPDATE {KEYS} SET wrapped = {self.mark} WHERE key_id = {self.mark}", rows)  # noqa: S608
        return len(rows)

    def keys_for_new(self, patients: Mapping[UUID, str]) -> tuple[dict[UUID, DataKey], Writing]:
        """The data key for each new referral's patient (by identity): found, or made now. The
        new keys and the referrals' notes are written by the returned `write(cursor)`, to be
        called in the transaction that records the facts sealed under them (never a key without
        its facts, nor facts without their key; a key made twice fails that transaction)."""
        if not patients:
            return {}, _nothing
        with self.datastore.transaction(commit=False) as cursor:
            found = self._by_identity(cursor, set(patients.values()))
        made = {i: DataKey(str(uuid4()), os.urandom(32)) for i in set(patients.values()) - found.keys()}
        keys = {referral: (found | made)[identity] for referral, identity in patients.items()}

        def write(cursor: Any) -> None:
            if self.mark == "?":  # SQLite: bytes freed from now on (page splits too) are zeroed,
                cursor.execute("PRAGMA secure_delete = ON")  # so a key destroyed later leaves no copy
            self._insert(cursor, made)
            self._note(cursor, {referral: key.key_id for referral, key in keys.items()})

        return keys, write

    def keys(self, key_ids: Iterable[str]) -> dict[str, bytes | None]:
        """The data keys by id (None: destroyed), from the cache or one query for the rest."""
        cache, wanted = self._cache, set(key_ids)  # `cache`: this call's, whoever clears the cache meanwhile
        found = {key_id: cache[key_id] for key_id in wanted if key_id in cache}
        missing = wanted - found.keys()
        if missing:
            read = self._read(missing)
            found |= {key_id: read.get(key_id) for key_id in missing}
            if len(cache) + len(read) > CACHED:
                self.forget_cached()
            self._cache.update(read)
        return found

    def forget_cached(self) -> None:
        """Drop every cached key (a patient was forgotten: their key must not outlive it here).
        A new dict, not a cleared one: a lookup under way in another thread keeps its answers."""
        self._cache = {}

    def forget(self, referral_id: UUID) -> list[UUID]:
        """Destroy the data key of this referral's patient: the ids of all their referrals
        (empty if the referral has no key: unknown, or recorded before keys existed). Again
        for a patient already forgotten: the same ids, the first `forgotten_at` kept.

        On SQLite the bytes the key occupied are overwritten with zeros in the same transaction
        (`secure_delete`, whatever the build's default); the WAL and PostgreSQL's old row
        versions are `referral_loop/privacy/key_residue.py`'s."""
        with self.datastore.transaction(commit=True) as cursor:
            key_id = self._key_of(cursor, referral_id)
            if key_id is None:
                return []
            zeroing_what_it_frees(
                cursor,
                self.mark == "?",
                f"UPDATE {KEYS} SET wrapped = NULL, identity = NULL, "  # noqa: S608
                f"forgotten_at = COALESCE(forgotten_at, {self.mark}) WHERE key_id = {self.mark}",
                (datetime.now(UTC).isoformat(), key_id),
            )
            cursor.execute(f"SELECT referral_id FROM {REFERRALS} WHERE key_id = {self.mark}", (key_id,))  # noqa: S608
            referrals = sorted(UUID(_first(row)) for row in cursor.fetchall())
        self.forget_cached()
        return referrals

    def _identity_secret(self, cursor: Any) -> bytes:
        cursor.execute(
            f"INSERT INTO {KEYS} (key_id, wrapped, created_at) VALUES ({', '.join([self.mark] * 3)}) "  # noqa: S608
            "ON CONFLICT (key_id) DO NOTHING",
            (
                IDENTITY_SECRET,
                self._wrap.wrap(IDENTITY_SECRET, os.urandom(32)),
                datetime.now(UTC).isoformat(),
            ),
        )
        cursor.execute(f"SELECT wrapped FROM {KEYS} WHERE key_id = {self.mark}", (IDENTITY_SECRET,))  # noqa: S608
        secret = self._wrap.unwrap(IDENTITY_SECRET, _first(cursor.fetchone())).key
        assert secret is not None
        return secret

    def _key_of(self, cursor: Any, referral_id: UUID) -> str | None:
        cursor.execute(f"SELECT key_id FROM {REFERRALS} WHERE referral_id = {self.mark}", (str(referral_id),))  # noqa: S608
        row = cursor.fetchone()
        return None if row is None else str(_first(row))

    def _by_identity(self, cursor: Any, identities: set[str]) -> dict[str, DataKey]:
        marks = ",".join([self.mark] * len(identities))
        cursor.execute(
            f"SELECT identity, key_id, wrapped FROM {KEYS} WHERE identity IN ({marks})",  # noqa: S608
            tuple(identities),
        )
        return {
            _at(r, 0, "identity"): self._wrap.unwrap(_at(r, 1, "key_id"), _at(r, 2, "wrapped"))
            for r in cursor.fetchall()
        }

    def _insert(self, cursor: Any, made: Mapping[str, DataKey]) -> None:
        now = datetime.now(UTC).isoformat()
        rows = [
            (k.key_id, identity, self._wrap.wrap(k.key_id, k.key), now)
            for identity, k in made.items()
            if k.key
        ]
        if rows:
            cursor.executemany(
                f"INSERT INTO {KEYS} (key_id, identity, wrapped, created_at) VALUES ({', '.join([self.mark] * 4)})",  # noqa: S608
                rows,
            )

    def _note(self, cursor: Any, referral_keys: Mapping[UUID, str]) -> None:
        cursor.executemany(
            f"INSERT INTO {REFERRALS} (referral_id, key_id) VALUES ({self.mark}, {self.mark}) "  # noqa: S608
            "ON CONFLICT (referral_id) DO NOTHING",
            [(str(referral), key_id) for referral, key_id in referral_keys.items()],
        )

    def _read(self, key_ids: set[str]) -> dict[str, bytes | None]:
        marks = ",".join([self.mark] * len(key_ids))
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT key_id, wrapped FROM {KEYS} WHERE key_id IN ({marks})", tuple(key_ids))  # noqa: S608
            rows = cursor.fetchall()
        return {
            k.key_id: k.key
            for k in (self._wrap.unwrap(_at(r, 0, "key_id"), _at(r, 1, "wrapped")) for r in rows)
        }


Writing = Callable[[Any], None]
"""Writes with a cursor, inside a transaction the caller commits."""


def _nothing(_: Any) -> None:
    return None


def _at(row: Any, index: int, name: str) -> Any:
    """A column of a row from SQLite (a tuple or sqlite3.Row) or psycopg (a dict row)."""
    return row[name] if isinstance(row, dict) else row[index]


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
