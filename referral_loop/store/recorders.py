"""Recorders that commit many tracking positions with one batch of events, in one transaction.

eventsourcing records one `Tracking` per insert. The store writer records a micro-batch of
JetStream messages at once, and a message redelivered after later ones were recorded must
still be recognised, so it keeps one tracking row per stream sequence (multi-row tracking,
`SINGLE_ROW_TRACKING=n`) and passes them all as `trackings=`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


class BatchTrackingSQLiteRecorder(SQLiteProcessRecorder):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        for tracking in kwargs.get("trackings", ()):
            self._insert_tracking(c, tracking)
        return super()._insert_events(c, stored_events, **kwargs)

    def tracked_positions(self, upstream: str, positions: Iterable[int]) -> set[int]:
        """Which of these upstream positions are already recorded."""
        wanted = list(positions)
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        statement = (
            f"SELECT notification_id FROM tracking WHERE application_name=? AND notification_id IN ({marks})"  # noqa: S608
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, [upstream, *wanted])
            return {row[0] for row in c.fetchall()}


class BatchTrackingPostgresRecorder(PostgresProcessRecorder):
    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        for tracking in kwargs.get("trackings", ()):
            self._insert_tracking(curs, tracking)
        super()._insert_events(curs, stored_events, **kwargs)

    def tracked_positions(self, upstream: str, positions: Iterable[int]) -> set[int]:
        """Which of these upstream positions are already recorded."""
        wanted = list(positions)
        if not wanted:
            return set()
        statement = SQL(
            "SELECT notification_id FROM {0}.{1} WHERE application_name=%s AND notification_id = ANY(%s)"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (upstream, wanted))
            return {row["notification_id"] for row in curs.fetchall()}


def trackings(upstream: str, positions: Iterable[int]) -> list[Tracking]:
    return [Tracking(application_name=upstream, notification_id=p) for p in positions]
