"""The body each Idempotency-Key was first used with, shared by every intake process.

A fact's event id comes from its Idempotency-Key (`idempotency.py`). JetStream drops a message
whose id it has seen within its duplicate window, the store one whose id it has recorded: both
whatever the body. So before publishing a keyed fact, intake claims its event id for the body's
digest; the first claim stands, and the same key with another body is refused (422) instead of
being answered 202 and lost.

One table, `intake_idempotency`: in its own SQLite file (`$DATA_DIR/store/idempotency.sqlite`, WAL,
shared by the intake processes of a machine) or in the store's PostgreSQL database (shared by
every intake). A claim is one transaction; the row is written before the fact is published.
Rows older than KEEP_S go as new ones come: by then the store has long recorded the fact, and its
copy is what a retry is compared with. Rows hold event ids, digests and times: no PHI.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from referral_loop.settings import Settings
from referral_loop.sqlite_setup import patiently
from referral_loop.store.config import connect_postgres

KEEP_S = 7 * 86400
"""How long a claim is kept: far beyond JetStream's duplicate window (10 minutes)."""
TABLES_LOCK = 7316014
"""PostgreSQL advisory lock key: intakes creating the table at once take turns."""
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS intake_idempotency (event_id TEXT PRIMARY KEY, digest TEXT NOT NULL, "
    "occurred_at TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS intake_idempotency_claimed ON intake_idempotency (claimed_at)",
]
CLAIM = [
    "DELETE FROM intake_idempotency WHERE claimed_at < ?",
    "INSERT INTO intake_idempotency (event_id, digest, occurred_at, claimed_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (event_id) DO NOTHING",
]
FIRST = "SELECT digest, occurred_at FROM intake_idempotency WHERE event_id = ?"


@dataclass(frozen=True)
class Claim:
    """The body a key was first used with: its digest, and when its fact happened."""

    digest: str
    occurred_at: datetime

    def matches(self, digest: str, given_occurred_at: datetime | None) -> bool:
        """The same body: the same data, and the same time if the request gives one."""
        return digest == self.digest and given_occurred_at in (None, self.occurred_at)


class KeyClaims:
    """One connection, opened on first use (after a fork: each worker its own), shared by
    threads under a lock; closed on a failure, so the next use starts afresh."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sqlite = settings.store == "sqlite"
        self._connection: Any = None
        self._lock = threading.Lock()

    async def claim(self, event_id: UUID, digest: str, occurred_at: datetime) -> Claim:
        """Claim `event_id` for this body unless it is claimed already: the first claim either way."""
        return await asyncio.to_thread(self._claim, event_id, digest, occurred_at)

    def _claim(self, event_id: UUID, digest: str, occurred_at: datetime) -> Claim:
        now = time.time()
        with self._transaction() as connection:
            self._run(connection, CLAIM[0], now - KEEP_S)
            self._run(connection, CLAIM[1], str(event_id), digest, occurred_at.isoformat(), now)
            first, at = self._run(connection, FIRST, str(event_id)).fetchone()
        return Claim(first, datetime.fromisoformat(at))

    def _run(self, connection: Any, sql: str, *params: Any) -> Any:
        return connection.execute(sql if self.sqlite else sql.replace("?", "%s"), params)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            try:
                connection = self._connection or self._open()
                if not self.sqlite:
                    with connection.transaction():
                        yield connection
                    return
                connection.execute("BEGIN IMMEDIATE")
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                self._close()  # an SQLite transaction left open ends with its connection
                raise

    def _open(self) -> Any:
        self._connection = open_sqlite(self.settings) if self.sqlite else open_postgres(self.settings)
        return self._connection

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        with self._lock:
            self._close()


def open_sqlite(settings: Settings) -> sqlite3.Connection:
    path = settings.data_dir / "store" / "idempotency.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    patiently(connection, ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", *SCHEMA])
    return connection


def open_postgres(settings: Settings) -> Any:
    connection = connect_postgres(settings)
    with connection.transaction():
        connection.execute(f"SELECT pg_advisory_xact_lock({TABLES_LOCK})")
        for statement in SCHEMA:
            connection.execute(statement)
    return connection
