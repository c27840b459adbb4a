"""Merging a parallel rebuild's tables: each worker's added into the first worker's.

Every `referral_view` row belongs to one referral, hence to one worker: the rows are copied. A
volume counter (dimension, key, month) gets referrals from several workers: the counts are
added. Its label is the smallest of the workers' labels (a single worker's page keeps the
smallest of the labels it met first): the same unless a key's label changed within a month.
Facts set aside belong to one referral too: their rows are copied.
Every worker moved its position to the rebuild's end, which the merged tables keep.

On SQLite each worker's scratch file is attached in turn to the first one's; on PostgreSQL the
workers' tables are in the same database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from services.projections.db import Cursor, Database
from services.projections.rebuild_target import Build
from services.projections.schema import tables

SMALLER = {"sqlite": "min({0}, {1})", "postgres": 'LEAST({0} COLLATE "C", {1} COLLATE "C")'}
"""The smaller of two labels, compared by code point on both (as Python sorts a page's)."""


class Unfinished(RuntimeError):
    """A worker's tables did not reach the rebuild's end."""


def merge(into: Build, parts: Sequence[Build], end: int) -> None:
    """Add the tables of `parts` to those of `into`; all must be at position `end`."""
    check_position(into.db, tables(into.suffix)["view_position"], end)
    for part in parts:
        with attached(into.db, part) as schema:
            source = {name: f"{schema}{table}" for name, table in tables(part.suffix).items()}
            check_position(into.db, source["view_position"], end)
            with into.db.transaction() as cursor:
                add(cursor, into.db.dialect, tables(into.suffix), source)


def add(cursor: Cursor, dialect: str, into: dict[str, str], source: dict[str, str]) -> None:
    """Add the rows of the tables `source` to the tables `into` (both as `schema.tables` names them)."""
    volume = into["volume_monthly"]
    cursor.execute(f"INSERT INTO {into['referral_view']} SELECT * FROM {source['referral_view']}")
    cursor.execute(f"INSERT INTO {into['quarantined_fact']} SELECT * FROM {source['quarantined_fact']}")
    label = SMALLER[dialect].format(f"{volume}.label", "excluded.label")
    cursor.execute(
        f"INSERT INTO {volume} (month, dimension, key, label, count) "
        f"SELECT month, dimension, key, label, count FROM {source['volume_monthly']} WHERE true "
        f"ON CONFLICT (dimension, key, month) DO UPDATE SET count = {volume}.count + excluded.count, "
        f"label = {label}"
    )


def check_position(db: Database, table: str, end: int) -> None:
    ((position,),) = db.query(f"SELECT position FROM {table} WHERE name = 'referrals'")
    if int(position) != end:
        raise Unfinished(f"the rebuild's table {table} is at position {position}, not {end}")


@contextmanager
def attached(db: Database, part: Build) -> Iterator[str]:
    """The schema prefix the tables of `part` are read with from `db`'s connection: its scratch
    file attached meanwhile (SQLite), or none (PostgreSQL, the same database)."""
    if part.file is None:
        yield ""
        return
    connection = db.connect()
    connection.execute("ATTACH DATABASE ? AS part", (str(part.file),))
    try:
        yield "part."
    finally:
        connection.execute("DETACH DATABASE part")
