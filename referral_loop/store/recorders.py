"""Recorders that commit many tracking positions with one batch of events, in one transaction.

eventsourcing records one `Tracking` per insert. The store writer records a micro-batch of
JetStream messages at once, and a message redelivered after later ones were recorded must
still be recognised, so it keeps one tracking row per stream sequence (multi-row tracking,
`SINGLE_ROW_TRACKING=n`) and passes them all as `trackings=`. `also=` writes more rows in the
same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


class BatchTrackingSQLiteRecorder(SQLiteProcessRecorder):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        trackings: Sequence[Tracking] = kwargs.get("trackings", ())
        if self.datastore.single_row_tracking or len(trackings) < 2:
            for tracking in trackings:
                self._insert_tracking(c, tracking)
        else:  # one statement for a batch's positions, not one call each
            self._check_has_multi_row_tracking_table(c)
            rows = [
                {"application_name": t.application_name, "notification_id": t.notification_id}
                for t in trackings
            ]
            c.executemany(self.insert_tracking_statement, rows)
        also(c, **kwargs)
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

    def select_events_of(self, originator_ids: Iterable[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates in one query, by aggregate then version."""
        wanted = [i.hex for i in originator_ids]
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        statement = (
            f"SELECT * FROM {self.events_table_name} WHERE originator_id IN ({marks}) "  # noqa: S608
            "ORDER BY originator_id, originator_version"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, wanted)
            return [
                StoredEvent(
                    originator_id=self.convert_originator_id(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in c.fetchall()
            ]


class BatchTrackingPostgresRecorder(PostgresProcessRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """As eventsourcing's, in one transaction, but without psycopg's pipeline mode: with
        batches of hundreds of facts the pipelined insert stalled for good (client and server
        each waiting to read) in the store writer process. A few round trips more, no stall."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        trackings: Sequence[Tracking] = kwargs.get("trackings", ())
        if self.datastore.single_row_tracking or len(trackings) < 2:
            for tracking in trackings:
                self._insert_tracking(curs, tracking)
        else:
            self._insert_many_trackings(curs, trackings)
        also(curs, **kwargs)
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_many_trackings(self, curs: Cursor[DictRow], trackings: Sequence[Tracking]) -> None:
        """One statement for a batch's positions: inside eventsourcing's pipeline, hundreds of
        single inserts could stall the connection; one array insert cannot."""
        self._check_has_multi_row_tracking_table(curs)
        (name,) = {t.application_name for t in trackings}
        statement = SQL(
            "INSERT INTO {0}.{1} (application_name, notification_id) SELECT %s, unnest(%s::bigint[])"
        )
        table = statement.format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        curs.execute(table, (name, [t.notification_id for t in trackings]))

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

    def select_events_of(self, originator_ids: Iterable[UUID]) -> list[StoredEvent]:
        """Every stored event of these aggregates in one query, by aggregate then version."""
        wanted = list(originator_ids)
        if not wanted:
            return []
        statement = SQL(
            "SELECT * FROM {0}.{1} WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (wanted,))
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]


def also(cursor: Any, **kwargs: Any) -> None:
    """`save(..., also=write)`: `write(cursor)` runs in the transaction that records the events
    (the patients' data keys the events are sealed under are written so)."""
    write = kwargs.get("also")
    if write is not None:
        write(cursor)


def trackings(upstream: str, positions: Iterable[int]) -> list[Tracking]:
    return [Tracking(application_name=upstream, notification_id=p) for p in positions]
