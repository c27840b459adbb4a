"""The `referral_view` rows one page touches: read once, changed in memory, written once.

Rows in memory hold names in clear; they are written sealed with the store key (`sealing.py`):
a new row's PHI columns, and a changed name (a forgotten patient's placeholder).

A page of facts changes a referral several times (booked, seen, reported ...). Instead of one
statement per fact, the page reads the columns its handlers consult for all its referrals in a
few `IN (...)` queries, every handler changes the row in memory, and `flush` writes the new rows
with one `executemany` and the changed ones with one per set of changed columns. It all happens
inside the page's transaction, after the position was locked, so no other writer can change
these rows in between.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from services.projections.db import Cursor
from services.projections.schema import REFERRAL_COLUMNS

Row = dict[str, Any]
CHUNK = 500
"""Ids per SELECT: well under SQLite's and PostgreSQL's limits on bound parameters."""
_EMPTY: Row = dict.fromkeys(REFERRAL_COLUMNS)
NAME = "patient_name"


class Rows:
    def __init__(self, cursor: Cursor, table: str, read: Sequence[str]) -> None:
        """`read`: the columns a stored row is read with (the only ones `get` has of it)."""
        self.cursor, self.table, self.read = cursor, table, ["referral_id", *read]
        self.rows: dict[str, Row] = {}
        self.inserted: dict[str, None] = {}
        self.changed: defaultdict[str, dict[str, None]] = defaultdict(dict)

    def load(self, referral_ids: Iterable[str]) -> None:
        """Read the stored rows of these referrals (those not read yet)."""
        wanted = [r for r in dict.fromkeys(referral_ids) if r not in self.rows]
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {', '.join(self.read)} FROM {self.table} WHERE referral_id IN ({marks})"
            self.cursor.execute(sql, chunk)
            for found in self.cursor.fetchall():
                self.rows[found[0]] = dict(zip(self.read, found, strict=True))

    def get(self, referral_id: str) -> Row | None:
        """The referral's row as of the facts applied so far; None when the view has no such referral."""
        return self.rows.get(referral_id)

    def insert(self, row: Row) -> bool:
        """Add a new referral's row (columns not given are NULL); False (and nothing changes) when
        it is already there."""
        referral_id = row["referral_id"]
        if referral_id in self.rows:
            return False
        self.rows[referral_id] = {**_EMPTY, **row}
        self.inserted[referral_id] = None
        return True

    def change(self, referral_id: str, values: Row) -> None:
        """Set these columns of the referral's row; nothing when the view has no such referral."""
        row = self.rows.get(referral_id)
        if row is None:
            return
        row.update(values)
        if referral_id not in self.inserted:
            self.changed[referral_id].update(dict.fromkeys(values))

    def flush(self) -> None:
        """Write the new rows, then the changed columns of the others."""
        if self.inserted:
            marks = ", ".join("?" * len(REFERRAL_COLUMNS))
            sql = f"INSERT INTO {self.table} ({', '.join(REFERRAL_COLUMNS)}) VALUES ({marks})"
            seal = self.cursor.sealer.seal_row
            self.cursor.executemany(
                sql, [_values(seal(self.rows[r]), REFERRAL_COLUMNS) for r in self.inserted]
            )
        for columns, params in self._updates().items():
            assignments = ", ".join(f"{column} = ?" for column in columns)
            self.cursor.executemany(f"UPDATE {self.table} SET {assignments} WHERE referral_id = ?", params)
        self.inserted, self.changed = {}, defaultdict(dict)

    def _updates(self) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
        """The parameters of each UPDATE, grouped by the columns it sets."""
        grouped: defaultdict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for referral_id, columns in self.changed.items():
            key, row = tuple(sorted(columns)), self.rows[referral_id]
            if NAME in columns:
                row = {**row, NAME: self.cursor.sealer.seal(row[NAME])}
            grouped[key].append((*_values(row, key), referral_id))
        return grouped


def _values(row: Row, columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(row[column] for column in columns)
