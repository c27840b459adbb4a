"""One small door to the read-model database: SQLite (a file) or PostgreSQL, same SQL.

Statements are written with `?` placeholders and `ON CONFLICT` upserts, which both accept;
for PostgreSQL the placeholders become `%s`. Every call is blocking: run it off the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg

from referral_loop.keys import store_key
from referral_loop.settings import Settings
from referral_loop.sqlite_setup import patiently
from referral_loop.store.config import connect_postgres
from services.projections.sealing import Sealer

Row = tuple[Any, ...]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    @property
    def sealer(self) -> Sealer: ...

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


LIVE_PRAGMAS = ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA secure_delete=ON"]
"""`secure_delete`: what a write overwrites or frees is zeroed (many builds' default, not all), so
a forgotten patient's name leaves no copy in the file once `scrub` emptied the WAL."""
SCRATCH_PRAGMAS = ["PRAGMA journal_mode=MEMORY", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-131072"]
"""A SQLite file nothing else reads and that is thrown away if anything goes wrong (a rebuild's):
rollback journal in memory, no fsync, a 128 MiB page cache."""


class Database:
    """One connection per thread that uses it (queries run in worker threads); `transaction()`
    commits or rolls back. `scratch`: a SQLite file opened with SCRATCH_PRAGMAS, not crash-safe."""

    def __init__(self, settings: Settings, sqlite_file: Path | None = None, scratch: bool = False) -> None:
        self.dialect, self.scratch = settings.store, scratch
        self._settings, self._sqlite_file = settings, sqlite_file or settings.views_sqlite_file
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self.sealer = Sealer(store_key(settings))
        """The views' PHI columns under the store key (`sealing.py`)."""

    def connect(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._sqlite() if self.dialect == "sqlite" else self._postgres()
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def _sqlite(self) -> sqlite3.Connection:
        self._sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self._sqlite_file, timeout=30, isolation_level=None, check_same_thread=False
        )
        patiently(connection, SCRATCH_PRAGMAS if self.scratch else LIVE_PRAGMAS)
        return connection

    def _postgres(self) -> psycopg.Connection[Any]:
        return connect_postgres(self._settings)

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        connection = self.connect()
        cursor = _Translating(self, connection.cursor())
        cursor.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            yield cursor
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.connect().cursor()
        cursor.execute(self.sql(statement), tuple(params))
        return [tuple(row) for row in cursor.fetchall()]

    def scrub(self) -> bool:
        """Leave no earlier copy of overwritten values (a forgotten patient's name) in a SQLite
        file's WAL: checkpoint it into the file and truncate it; False when readers kept it
        from finishing (try again later). On PostgreSQL nothing to do here (True): superseded
        row versions stay in the table's pages until VACUUM reuses them."""
        if self.dialect != "sqlite" or self.scratch:
            return True
        busy, _, _ = self.connect().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(busy) == 0

    def close(self) -> None:
        """Close every connection this database opened, in any thread."""
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


class _Translating:
    """A cursor that takes `?` placeholders on either database."""

    def __init__(self, db: Database, cursor: Any) -> None:
        self._db, self._cursor = db, cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def sealer(self) -> Sealer:
        return self._db.sealer

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(self._db.sql(sql), tuple(params))

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any:
        return self._cursor.executemany(self._db.sql(sql), [tuple(p) for p in params])

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> Any:
        return self._cursor.fetchone()
