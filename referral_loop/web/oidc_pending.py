"""OIDC sign-ins under way, in the shared `oidc_pending` table: the browser may come back from the
provider to any intake worker or replica. Kept by a SHA-256 of their state, for 10 minutes, and
taken once: a replayed callback finds nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from referral_loop.web.staff_tables import StaffTables, token_hash

PENDING_S = 600.0
MAX_PENDING = 10_000


class TooManyUnderWay(Exception):
    """More sign-ins under way than MAX_PENDING: someone is starting them without finishing."""


@dataclass(frozen=True)
class Pending:
    verifier: str
    nonce: str
    next: str


class PendingSignins:
    def __init__(self, tables: StaffTables, clock: Callable[[], float] = time.time) -> None:
        self.tables, self.clock = tables, clock

    async def add(self, state: str, pending: Pending) -> None:
        await asyncio.to_thread(self._add, token_hash(state), pending, self.clock())

    def _add(self, hashed: str, pending: Pending, now: float) -> None:
        with self.tables.transaction(lock="oidc") as run:
            run("DELETE FROM oidc_pending WHERE created <= ?", now - PENDING_S)
            [(count,)] = run("SELECT count(*) FROM oidc_pending")
            if count >= MAX_PENDING:
                raise TooManyUnderWay()
            run(
                "INSERT INTO oidc_pending (state_hash, verifier, nonce, next, created) VALUES (?, ?, ?, ?, ?)",
                hashed, pending.verifier, pending.nonce, pending.next, now,
            )  # fmt: skip

    async def take(self, state: str) -> Pending | None:
        """The sign-in started with `state`, removed; None if unknown, already taken or expired."""
        return await asyncio.to_thread(self._take, token_hash(state), self.clock())

    def _take(self, hashed: str, now: float) -> Pending | None:
        rows = self.tables.run(
            "DELETE FROM oidc_pending WHERE state_hash = ? RETURNING verifier, nonce, next, created", hashed
        )
        if not rows or now - rows[0][3] >= PENDING_S:
            return None
        verifier, nonce, next_path, _ = rows[0]
        return Pending(verifier, nonce, next_path)
