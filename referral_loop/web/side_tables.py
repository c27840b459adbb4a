"""A few small tables a service keeps beside its events, in the service's database: their own
SQLite file (WAL: the processes of one machine share it) or the store's PostgreSQL database
(shared by every process). Staff sign-in's tables (staff_tables.py) and intake's claims of
Idempotency-Keys (services/intake/key_claims.py) are kept so; each brings its schema and SQL,
this module the connection and transactions they share.

One connection (referral_loop/one_connection.py: opened on first use, shared by threads under a
lock, closed on any failure, so the next use starts afresh). The tables are created as it
opens, under a PostgreSQL advisory lock, so processes creating them at once take turns. SQL is
written with `?` placeholders, turned into `%s` on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from referral_loop.one_connection import OneConnection
from referral_loop.settings import Settings
from referral_loop.sqlite_setup import patiently
from referral_loop.store.config import connect_postgres
from referral_loop.web.audit_batching import one_transaction

Run = Callable[..., list[tuple[Any, ...]]]
"""run(sql, *params): the rows of one statement (`?` placeholders on either database)."""


class SideTables(OneConnection):
    """The connection to one set of side tables: `schema` (CREATE ... IF NOT EXISTS statements)
    in `sqlite_file` or the store's PostgreSQL database; `tables_lock` is their advisory lock key.
    `synchronous` is SQLite's: FULL when a commit must survive a power cut, NORMAL when losing
    the last commits then is acceptable (WAL keeps the file consistent either way)."""

    def __init__(
        self,
        settings: Settings,
        sqlite_file: Path,
        schema: Sequence[str],
        tables_lock: int,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self.settings, self.sqlite_file, self.schema = settings, sqlite_file, list(schema)
        self.tables_lock, self.synchronous = tables_lock, synchronous
        self.sqlite = settings.store == "sqlite"
        super().__init__()

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """One statement, autocommitted (blocking: call it off the event loop)."""
        with self._connected() as connection:
            return self._rows(connection, sql, params)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Run]:
        """Statements in one transaction, serialised with every other process's taking the same
        `lock` (SQLite: the write lock, taken at BEGIN IMMEDIATE whatever `lock` is; PostgreSQL:
        an advisory lock on `lock`, none without one). Rolled back if the body raises."""
        with self._connected() as connection, one_transaction(connection, self.sqlite):
            if lock is not None and not self.sqlite:
                connection.execute(f"SELECT pg_advisory_xact_lock({self.tables_lock}, hashtext(%s))", (lock,))
            yield lambda sql, *params: self._rows(connection, sql, params)

    def _rows(self, connection: Any, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cursor = connection.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def _connect(self) -> Any:
        return self._open_sqlite() if self.sqlite else self._open_postgres()

    def _open_sqlite(self) -> sqlite3.Connection:
        """The file in WAL mode, its tables created (patiently: other processes may be opening it)."""
        self.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.sqlite_file, timeout=30, isolation_level=None, check_same_thread=False
        )
        pragmas = ["PRAGMA journal_mode=WAL", f"PRAGMA synchronous={self.synchronous}"]
        patiently(connection, [*pragmas, *self.schema])
        return connection

    def _open_postgres(self) -> Any:
        """An autocommit connection, the tables created under their advisory lock."""
        connection = connect_postgres(self.settings)
        with connection.transaction():
            connection.execute(f"SELECT pg_advisory_xact_lock({self.tables_lock})")
            for statement in self.schema:
                connection.execute(statement)
        return connection
