"""Side tables on SQLite and PostgreSQL: statements with `?` placeholders on either, transactions
that commit all or nothing and that take turns on a lock, and a connection that a failure lets go
so the next use starts afresh. Two SideTables here stand for two processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest

from referral_loop.settings import Settings
from referral_loop.web.side_tables import SideTables

SCHEMA = ["CREATE TABLE IF NOT EXISTS side_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL)"]
LOCK = 7316099


def side_tables(settings: Settings, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> SideTables:
    sqlite_file = settings.data_dir / "store" / "side.sqlite"
    return SideTables(settings, sqlite_file, SCHEMA, LOCK, synchronous=synchronous)


def closed(connection: Any) -> bool:
    """psycopg says so; a closed sqlite3 connection refuses statements."""
    if not isinstance(connection, sqlite3.Connection):
        return bool(connection.closed)
    try:
        connection.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


@pytest.fixture
def tables(store_settings: Settings) -> Iterator[SideTables]:
    opened = side_tables(store_settings)
    yield opened
    opened.close()


def test_run_creates_the_tables_and_every_process_sees_the_same_rows(
    tables: SideTables, store_settings: Settings
) -> None:
    assert tables.run("INSERT INTO side_counts (name, n) VALUES (?, ?)", "a", 1) == []
    other = side_tables(store_settings)
    try:
        assert other.run("SELECT name, n FROM side_counts WHERE name = ?", "a") == [("a", 1)]
    finally:
        other.close()


def test_a_transaction_commits_all_or_nothing(tables: SideTables) -> None:
    with tables.transaction() as run:
        run("INSERT INTO side_counts (name, n) VALUES (?, ?)", "a", 1)
        run("INSERT INTO side_counts (name, n) VALUES (?, ?)", "b", 2)
    with pytest.raises(RuntimeError), tables.transaction("c") as run:
        run("INSERT INTO side_counts (name, n) VALUES (?, ?)", "c", 3)
        raise RuntimeError("the body failed")
    assert tables.run("SELECT name FROM side_counts ORDER BY name") == [("a",), ("b",)]


def test_transactions_on_one_lock_take_turns(tables: SideTables, store_settings: Settings) -> None:
    processes = [side_tables(store_settings) for _ in range(3)]
    tables.run("INSERT INTO side_counts (name, n) VALUES (?, ?)", "count", 0)

    def add_one(side: SideTables) -> None:
        with side.transaction("count") as run:
            [(n,)] = run("SELECT n FROM side_counts WHERE name = ?", "count")
            run("UPDATE side_counts SET n = ? WHERE name = ?", n + 1, "count")

    threads = [threading.Thread(target=add_one, args=(side,)) for side in processes * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for side in processes:
        side.close()
    assert tables.run("SELECT n FROM side_counts WHERE name = ?", "count") == [(12,)]


def test_a_failure_closes_the_connection_and_the_next_use_opens_another(tables: SideTables) -> None:
    tables.run("INSERT INTO side_counts (name, n) VALUES (?, ?)", "a", 1)
    failed = tables._connection
    with pytest.raises((sqlite3.OperationalError, psycopg.Error), match=r"no such table|does not exist"):
        tables.run("SELECT * FROM no_such_table")
    assert tables._connection is None and closed(failed)
    assert tables.run("SELECT name, n FROM side_counts") == [("a", 1)]
    assert tables._connection is not None and tables._connection is not failed


@pytest.mark.parametrize(("synchronous", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_sqlite_opens_in_wal_with_the_synchronous_asked(
    tmp_path: Path, synchronous: Literal["FULL", "NORMAL"], level: int
) -> None:
    tables = side_tables(Settings(store="sqlite", data_dir=tmp_path), synchronous)
    try:
        assert tables.run("PRAGMA journal_mode") == [("wal",)]
        assert tables.run("PRAGMA synchronous") == [(level,)]
    finally:
        tables.close()
