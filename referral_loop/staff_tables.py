"""The tables staff sign-in keeps in the service's database, so every intake worker and the ops app
see the same: sessions (by a SHA-256 of their id, never the id itself), OIDC sign-ins under way and
sign-in attempts per client address. Their own SQLite file (`SESSIONS_SQLITE_PATH`, default
`$DATA_DIR/store/sessions.sqlite`, WAL: the processes of one machine share it) or the PostgreSQL
database of the store. Nothing here is PHI: user names, roles, client addresses, times."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from referral_loop.audit_batching import one_transaction
from referral_loop.settings import Settings
from referral_loop.sqlite_setup import patiently
from referral_loop.store.config import connect_postgres

Run = Callable[..., list[tuple[Any, ...]]]
"""run(sql, *params): the rows of one statement (`?` placeholders on either database)."""
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS staff_sessions (id_hash TEXT PRIMARY KEY, app TEXT NOT NULL, "
    "who TEXT NOT NULL, role TEXT NOT NULL, stamp TEXT NOT NULL, csrf TEXT NOT NULL, "
    "started DOUBLE PRECISION NOT NULL, seen DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS staff_sessions_who ON staff_sessions (who)",
    "CREATE INDEX IF NOT EXISTS staff_sessions_seen ON staff_sessions (seen)",
    "CREATE TABLE IF NOT EXISTS oidc_pending (state_hash TEXT PRIMARY KEY, verifier TEXT NOT NULL, "
    "nonce TEXT NOT NULL, next TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS signin_attempts (client TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS signin_attempts_client ON signin_attempts (client, at)",
    "CREATE INDEX IF NOT EXISTS signin_attempts_at ON signin_attempts (at)",
]
TABLES_LOCK = 7316002
"""PostgreSQL advisory lock key of these tables: processes creating them at once take turns."""


class StaffTables:
    """One connection to the staff tables, opened on first use (after a fork: each worker its
    own), shared by threads under a lock; closed on a failure, so the next use starts afresh."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sqlite = settings.store == "sqlite"
        self._connection: Any = None
        self._lock = threading.Lock()

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """One statement, autocommitted (blocking: call it off the event loop)."""
        with self._connected() as connection:
            return self._rows(connection, sql, params)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Run]:
        """Statements in one transaction, serialised with every other process's taking the same
        `lock` (SQLite: the write lock, taken at BEGIN; PostgreSQL: an advisory lock on it)."""
        with self._connected() as connection:
            if self.sqlite:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    yield lambda sql, *params: self._rows(connection, sql, params)
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
                return
            with one_transaction(connection, sqlite=False):
                if lock is not None:
                    connection.execute(f"SELECT pg_advisory_xact_lock({TABLES_LOCK}, hashtext(%s))", (lock,))
                yield lambda sql, *params: self._rows(connection, sql, params)

    def _rows(self, connection: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cursor = connection.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    @contextmanager
    def _connected(self) -> Iterator[Any]:
        with self._lock:
            try:
                yield self._connection or self._open()
            except BaseException:
                self._close()
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
    path = settings.sessions_sqlite_file
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    patiently(connection, ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", *SCHEMA])
    return connection


def open_postgres(settings: Settings) -> Any:
    connection = connect_postgres(settings)
    with connection.transaction():
        connection.execute(f"SELECT pg_advisory_xact_lock({TABLES_LOCK})")
        for statement in SCHEMA:
            connection.execute(statement)
    return connection
