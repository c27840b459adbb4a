"""After a patient's data key is destroyed: no old copy of it left in the store's database files.

`PatientKeys.forget` overwrites the key's row in one transaction (on SQLite with `secure_delete`,
so the bytes it frees are zeroed). What can still hold the old wrapped key:
- SQLite: the write-ahead log, whose older frames keep whole pages as they were. A checkpoint in
  TRUNCATE mode copies the log into the database file and truncates the log to zero bytes.
- PostgreSQL: the old row version, in the table's file until vacuumed. `VACUUM FULL` rewrites the
  keys table (a few rows per patient: milliseconds) into a new file and drops the old one.
  PostgreSQL's WAL and backups keep the old version, wrapped under the store key: rotating the
  store key and destroying the old one (docs/security.md, Key rotation) finishes those.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError

from referral_loop.store.patient_keys import KEYS


@dataclass(frozen=True)
class Residue:
    """What was done about old copies of destroyed keys, and whether it is complete."""

    cleared: bool
    what: str


def clear_key_residue(datastore: Any, postgres: bool) -> Residue:
    """Clear what the store's files may still hold of destroyed keys (`datastore`: the referrals
    store's, eventsourcing's SQLite or PostgreSQL datastore)."""
    try:
        return _vacuum(datastore) if postgres else _checkpoint(datastore)
    except (PersistenceError, sqlite3.Error, psycopg.Error) as error:
        return Residue(False, f"the store's files could not be cleared ({type(error).__name__}): run again")


def _checkpoint(datastore: Any) -> Residue:
    # outside any transaction (the connection autocommits); waits out writers, then readers
    with datastore.get_connection(commit=True) as connection, connection.cursor() as cursor:
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    if busy:
        return Residue(False, "the store's WAL could not be truncated (a reader held it): run again")
    return Residue(True, "the store's WAL checkpointed and truncated")


def _vacuum(datastore: Any) -> Residue:
    with datastore.get_connection() as connection:  # autocommit: VACUUM runs outside a transaction
        connection.execute(f"VACUUM FULL {KEYS}")
    return Residue(True, f"{KEYS} rewritten (VACUUM FULL): no old row version left in its file")
