"""The projector: applies pages of referral facts to the read models, exactly once.

Each page is one transaction: the rows, the volume counters and the new position commit
together, and the position only moves from the value read in that same transaction, so a
page applied twice (a crash, a second projector, a rebuild swapping tables) is refused. Facts
set aside (`quarantine.py`) are recorded in the same transaction as the position past them.
"""

from __future__ import annotations

from collections.abc import Sequence

from referral_loop.domain.deadlines import DeadlinePolicy
from referral_loop.store.follower import Recorded
from referral_loop.store.quarantine import SetAside
from services.projections import quarantine
from services.projections.db import Cursor, Database
from services.projections.facts import Apply
from services.projections.schema import create, tables


class PositionMoved(Exception):
    """Another writer moved the position during this page: nothing of it was applied."""


class Projector:
    def __init__(self, db: Database, deadlines: DeadlinePolicy, suffix: str = "") -> None:
        self.db, self.deadlines, self.suffix = db, deadlines, suffix
        self.t = tables(suffix)
        self.unscrubbed = False
        """A patient was forgotten and the views' WAL may still hold their name (`scrub`)."""
        create(db, suffix)

    def position(self) -> int:
        rows = self.db.query(f"SELECT position FROM {self.t['view_position']} WHERE name = 'referrals'")
        return int(rows[0][0]) if rows else 0

    def process(self, page: Sequence[Recorded], set_aside: Sequence[SetAside] = ()) -> int:
        """Apply the facts of `page` not applied yet, record those `set_aside` (facts that could
        not be read or applied); the position afterwards, past both."""
        with self.db.transaction() as cursor:
            current = self._locked_position(cursor)
            fresh = [r for r in page if r.position > current]
            aside = [a for a in set_aside if a.position > current]
            if fresh:
                Apply(cursor, self.t, self.deadlines).page(fresh)
            quarantine.record(cursor, self.t["quarantined_fact"], aside)
            last = max([current, *(r.position for r in fresh), *(a.position for a in aside)])
            if last > current:
                self._move(cursor, current, last)
        self.scrub(fresh)
        return last

    def scrub(self, applied: Sequence[Recorded]) -> None:
        """Once a page forgot a patient, empty the views' WAL of their name (`Database.scrub`);
        after each later page again while readers keep it from finishing."""
        self.unscrubbed = self.unscrubbed or any(r.fact.type == "PatientForgotten" for r in applied)
        if self.unscrubbed:
            self.unscrubbed = not self.db.scrub()

    def advance(self, to: int) -> int:
        """Move the position on to `to` without facts: every fact up to it that was not applied is
        of a type the read models ignore (`facts.APPLIED`); the position afterwards."""
        with self.db.transaction() as cursor:
            current = self._locked_position(cursor)
            if to <= current:
                return current
            self._move(cursor, current, to)
            return to

    def _locked_position(self, cursor: Cursor) -> int:
        lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
        cursor.execute(f"SELECT position FROM {self.t['view_position']} WHERE name = 'referrals'{lock}")
        return int(cursor.fetchone()[0])

    def _move(self, cursor: Cursor, current: int, to: int) -> None:
        sql = f"UPDATE {self.t['view_position']} SET position = ? WHERE name = 'referrals' AND position = ?"
        cursor.execute(sql, [to, current])
        if cursor.rowcount != 1:
            raise PositionMoved(f"position moved from {current} during the page")
