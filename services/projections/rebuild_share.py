"""A worker's share of the referrals store: the facts of the referrals whose id falls to it.

A parallel rebuild splits the referrals (not the log) among its workers: every read-model row
but the volume counters belongs to one referral, so the workers' tables merge by adding rows.
A referral falls to worker `index` of `count` when the last byte of its id (the stored event's
originator id) is `index` modulo `count`. The store's SQL filters on it, so a worker neither
fetches nor decodes the others' facts; it reads the store's log in pages as `read_page` does.

This reads the event table eventsourcing's recorders write (`rowid`/`notification_id`, the id as
32 hex digits on SQLite, a uuid on PostgreSQL): a `share` argument to the recorders'
`select_notifications` would be its place in `referral_loop/store/`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

from referral_loop.store.decoding import stored_facts, stored_topics
from referral_loop.store.follower import Recorded
from referral_loop.store.ledger import ReferralLedger

_HEX = "'0123456789abcdef'"
SQLITE_BYTE = (
    f"((instr({_HEX}, lower(substr(originator_id, -2, 1))) - 1) * 16"
    f" + instr({_HEX}, lower(substr(originator_id, -1, 1))) - 1)"
)
"""The last byte of the id, from its last two hex digits."""
POSTGRES_BYTE = "get_byte(uuid_send(originator_id), 15)"


@dataclass(frozen=True)
class Share:
    index: int
    count: int

    def owns(self, referral_id: UUID) -> bool:
        return referral_id.bytes[-1] % self.count == self.index


class ShareReader:
    """Reads `share`'s facts of these types in pages of up to `limit`, as `follower.read_page`."""

    def __init__(
        self, ledger: ReferralLedger, dialect: str, share: Share, types: Collection[str], limit: int
    ) -> None:
        self.ledger, self.share, self.limit = ledger, share, limit
        self.topics = stored_topics(frozenset(types))
        self.select = _postgres if dialect == "postgres" else _sqlite

    def page(self, after: int, through: int) -> list[Recorded]:
        """The share's next facts recorded after position `after`, up to `through`, in order."""
        params = [after + 1, through, self.topics, self.share.count, self.share.index, self.limit]
        notifications = self.select(self.ledger.recorder, params)
        opened = stored_facts(self.ledger, notifications)
        return [Recorded(n.id, fact, key) for n, (fact, key) in zip(notifications, opened, strict=True)]


def _sqlite(recorder: Any, params: list[Any]) -> Sequence[Notification]:
    start, through, topics, count, index, limit = params
    marks = ",".join("?" * len(topics))
    statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
        f"WHERE rowid >= ? AND rowid <= ? AND topic IN ({marks}) AND {SQLITE_BYTE} % ? = ? "
        "ORDER BY rowid LIMIT ?"
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, [start, through, *topics, count, index, limit])
        rows = cursor.fetchall()
    return [_notification(r["rowid"], recorder.convert_originator_id(r["originator_id"]), r) for r in rows]


def _postgres(recorder: Any, params: list[Any]) -> Sequence[Notification]:
    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {0}.{1} "
        "WHERE notification_id >= %s AND notification_id <= %s AND topic = ANY(%s) "
        f"AND {POSTGRES_BYTE} %% %s = %s ORDER BY notification_id LIMIT %s"
    ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute(statement, params, prepare=True)
        rows = cursor.fetchall()
    return [_notification(r["notification_id"], r["originator_id"], r) for r in rows]


def _notification(position: int, originator_id: Any, row: Any) -> Notification:
    return Notification(
        id=position,
        originator_id=originator_id,
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )
