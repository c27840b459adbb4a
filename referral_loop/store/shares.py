"""One share of the referrals store's log: the stored events of the referrals whose id falls to
it, read in notification order with the filter in the store's own SQL.

A referral falls to share `index` of `count` when the last byte of its id (the stored event's
originator id) is `index` modulo `count`. This reads the event table eventsourcing's recorders
write (`rowid`/`notification_id`; the id as 32 hex digits on SQLite, a uuid on PostgreSQL),
which is why it lives beside the recorders (`recorders.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification
from psycopg.sql import SQL, Identifier

_HEX = "'0123456789abcdef'"
SQLITE_BYTE = (
    f"((instr({_HEX}, lower(substr(originator_id, -2, 1))) - 1) * 16"
    f" + instr({_HEX}, lower(substr(originator_id, -1, 1))) - 1)"
)
"""The last byte of the id, from its last two hex digits."""
POSTGRES_BYTE = "get_byte(uuid_send(originator_id), 15)"


def select_share(recorder: Any, postgres: bool, params: list[Any]) -> Sequence[Notification]:
    """[start, through, topics, count, index, limit]: the share's notifications in that range."""
    return _postgres(recorder, params) if postgres else _sqlite(recorder, params)


def _sqlite(recorder: Any, params: list[Any]) -> Sequence[Notification]:
    start, through, topics, count, index, limit = params
    marks = ",".join("?" * len(topics))
    statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state FROM {recorder.events_table_name} "  # noqa: S608 - the recorder's table, constants
        f"WHERE rowid >= ? AND rowid <= ? AND topic IN ({marks}) AND {SQLITE_BYTE} % ? = ? "
        "ORDER BY rowid LIMIT ?"
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, [start, through, *topics, count, index, limit])
        rows = cursor.fetchall()
    return [_notification(r["rowid"], recorder.convert_originator_id(r["originator_id"]), r) for r in rows]


def _postgres(recorder: Any, params: list[Any]) -> Sequence[Notification]:
    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {0}.{1} "  # noqa: S608 - identifiers quoted
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
