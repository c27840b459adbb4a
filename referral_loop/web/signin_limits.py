"""Sign-in attempts per client address, counted in the shared `signin_attempts` table: every intake
worker and the ops app count against the same budget, so spreading guesses over processes or apps
gains nothing. A sliding window: at most `limit` attempts in any `window_s` seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from referral_loop.web.staff_tables import StaffTables


class SigninAttempts:
    def __init__(
        self,
        tables: StaffTables,
        limit: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tables, self.limit, self.window_s, self.clock = tables, limit, window_s, clock
        self._pruned = 0.0

    async def hit(self, client: str) -> bool:
        """Record an attempt of `client`; False (and nothing recorded) when it is over the limit."""
        return await asyncio.to_thread(self._hit, client[:200], self.clock())

    def _hit(self, client: str, now: float) -> bool:
        """Counted and recorded under the client's lock: two processes cannot both take the last one."""
        with self.tables.transaction(lock=client) as run:
            [(count,)] = run(
                "SELECT count(*) FROM signin_attempts WHERE client = ? AND at > ?",
                client,
                now - self.window_s,
            )
            if count >= self.limit:
                return False
            run("INSERT INTO signin_attempts (client, at) VALUES (?, ?)", client, now)
        self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        """Forget attempts older than the window, every client's, once a window per process."""
        if now - self._pruned >= self.window_s:
            self.tables.run("DELETE FROM signin_attempts WHERE at <= ?", now - self.window_s)
            self._pruned = now
