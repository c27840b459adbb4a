"""The facts the projector set aside: recorded with the position that moved past them, listed for ops.

A fact the projector cannot decode or apply (`referral_loop/store/quarantine.py`) is set aside:
one `quarantined_fact` row, written in the page's transaction, so the row and the position that
skipped the fact commit together. Only facts the read models use are recorded (`facts.APPLIED`):
one they ignore changes nothing in them, and a rebuild, which reads only those, records the same.
A rebuild replays into its own tables and carries the rows it set aside into the live ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from referral_loop.store.quarantine import SetAside
from services.projections import csv_export as csv
from services.projections.db import Cursor, Database
from services.projections.facts import APPLIED
from services.projections.schema import stamp, tables

FOLLOWER = "projections"
COLUMNS = ("position", "follower", "fact_type", "reason", "referral_id", "event_id", "set_aside_at")


class QuarantinedFact(BaseModel):
    """A fact set aside: where it is in the store, what it is, why, when. No patient details."""

    position: int
    follower: str
    fact_type: str
    reason: str
    referral_id: str | None
    event_id: str | None
    set_aside_at: str


def record(cursor: Cursor, table: str, entries: Sequence[SetAside]) -> int:
    """Record the entries of fact types the views use (`APPLIED`); how many."""
    rows = [_row(e) for e in entries if e.fact_type in APPLIED]
    if rows:
        marks = ", ".join("?" * len(COLUMNS))
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks}) ON CONFLICT (position) DO NOTHING",
            rows,
        )
    return len(rows)


def _row(entry: SetAside) -> tuple[Any, ...]:
    return (
        entry.position,
        FOLLOWER,
        entry.fact_type,
        entry.reason,
        entry.referral_id,
        entry.event_id,
        stamp(entry.at),
    )


def quarantined(db: Database, limit: int = 100) -> list[QuarantinedFact]:
    """The facts set aside, the latest first."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM {tables()['quarantined_fact']} ORDER BY position DESC LIMIT ?"
    return [QuarantinedFact(**dict(zip(COLUMNS, row, strict=True))) for row in db.query(sql, [limit])]


def count(db: Database) -> int:
    """How many facts are set aside."""
    return int(db.query(f"SELECT count(*) FROM {tables()['quarantined_fact']}")[0][0])


def report(db: Database, as_csv: bool = False, limit: int = 1000) -> str:
    """`referral-loop report quarantine`: the facts set aside, as a table or CSV."""
    found = quarantined(db, limit)
    if as_csv:
        return csv.to_csv(csv.model_rows(found, QuarantinedFact))
    rows = [[str(e.position), e.fact_type, e.referral_id or "", e.reason, e.set_aside_at] for e in found]
    heading = f"Facts the projector set aside: {count(db)} (the latest {len(found)} shown)"
    return csv.table(heading, ["Position", "Fact", "Referral", "Why", "Set aside"], rows)
