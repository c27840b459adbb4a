"""The body each Idempotency-Key was first used with, shared by every intake process.

A fact's event id comes from its Idempotency-Key (`idempotency.py`). JetStream drops a message
whose id it has seen within its duplicate window, the store one whose id it has recorded: both
whatever the body. So before publishing a keyed fact, intake claims its event id for the body's
digest; the first claim stands, and the same key with another body is refused (422) instead of
being answered 202 and lost.

One table, `intake_idempotency`: in its own SQLite file (`$DATA_DIR/store/idempotency.sqlite`, WAL,
shared by the intake processes of a machine) or in the store's PostgreSQL database (shared by
every intake). A claim is one transaction; the row is written before the fact is published.
Rows older than KEEP_S go as new ones come: by then the store has long recorded the fact, and its
copy is what a retry is compared with. Rows hold event ids, digests and times: no PHI.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from referral_loop.settings import Settings
from referral_loop.web.side_tables import SideTables

KEEP_S = 7 * 86400
"""How long a claim is kept: far beyond JetStream's duplicate window (10 minutes)."""
TABLES_LOCK = 7316014
"""PostgreSQL advisory lock key: intakes creating the table at once take turns."""
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS intake_idempotency (event_id TEXT PRIMARY KEY, digest TEXT NOT NULL, "
    "occurred_at TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS intake_idempotency_claimed ON intake_idempotency (claimed_at)",
]
CLAIM = [
    "DELETE FROM intake_idempotency WHERE claimed_at < ?",
    "INSERT INTO intake_idempotency (event_id, digest, occurred_at, claimed_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (event_id) DO NOTHING",
]
FIRST = "SELECT digest, occurred_at FROM intake_idempotency WHERE event_id = ?"


@dataclass(frozen=True)
class Claim:
    """The body a key was first used with: its digest, and when its fact happened."""

    digest: str
    occurred_at: datetime

    def matches(self, digest: str, given_occurred_at: datetime | None) -> bool:
        """The same body: the same data, and the same time if the request gives one."""
        return digest == self.digest and given_occurred_at in (None, self.occurred_at)


class KeyClaims:
    """The claims, on their own connection (referral_loop/web/side_tables.py: opened on first use,
    shared by threads under a lock, closed on a failure), with SQLite's synchronous=FULL."""

    def __init__(self, settings: Settings) -> None:
        self.tables = SideTables(
            settings, settings.data_dir / "store" / "idempotency.sqlite", SCHEMA, TABLES_LOCK
        )

    async def claim(self, event_id: UUID, digest: str, occurred_at: datetime) -> Claim:
        """Claim `event_id` for this body unless it is claimed already: the first claim either way."""
        return await asyncio.to_thread(self._claim, event_id, digest, occurred_at)

    def _claim(self, event_id: UUID, digest: str, occurred_at: datetime) -> Claim:
        now = time.time()
        with self.tables.transaction() as run:
            run(CLAIM[0], now - KEEP_S)
            run(CLAIM[1], str(event_id), digest, occurred_at.isoformat(), now)
            [(first, at)] = run(FIRST, str(event_id))
        return Claim(first, datetime.fromisoformat(at))

    def close(self) -> None:
        """Let the connection go (the next claim opens another)."""
        self.tables.close()
