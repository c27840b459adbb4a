"""Questions to an eventsourcing store (SQLite or PostgreSQL) for readiness and metrics. Blocking.

"Writable" takes the write lock of the store's events table in a transaction that changes nothing
and is rolled back: it fails on a read-only file or database, a standby, a lock that cannot be had,
or a lost connection, and writes no fake facts.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.sqlite import SQLiteDatastore


def writable(recorder: Any) -> None:
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=False) as cursor:
        if not isinstance(recorder.datastore, SQLiteDatastore):
            cursor.execute("SET LOCAL lock_timeout = '2s'")
        cursor.execute(f"DELETE FROM {table} WHERE 1 = 0")  # noqa: S608 (a table name from the recorder)


def position(recorder: Any) -> int:
    """The store's last notification id (0 when empty): how far its log goes."""
    return int(recorder.max_notification_id() or 0)


def readable(recorder: Any) -> None:
    position(recorder)
