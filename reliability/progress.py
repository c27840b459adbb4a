"""Which facts the referral store has recorded, followed from outside by polling its log:
lets the load wait for one step of a lifecycle to be recorded before it takes the next."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from uuid import UUID

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import read_page

log = logging.getLogger(__name__)
POLL_S = 0.05


class StoreProgress:
    """A thread that reads new pages of the store every POLL_S; `close()` stops it."""

    def __init__(self, settings: Settings) -> None:
        self.ledger = open_ledger(settings)
        self.recorded: set[tuple[UUID, str]] = set()
        self.position = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True, name="store-progress")
        self.thread.start()

    def _follow(self) -> None:
        while not self.stopping.wait(POLL_S):
            try:
                page = read_page(self.ledger, self.position, 1000)
            except Exception:  # a store being written by a killed process: look again
                log.debug("reading the store failed; looking again", exc_info=True)
                continue
            for item in page:
                self.recorded.add((item.fact.referral_id, item.fact.type))
                self.position = item.position

    async def wait_for(self, referral_id: UUID, fact_type: str, timeout_s: float) -> bool:
        """True once the store has recorded `fact_type` for the referral; False after the timeout."""
        deadline = time.monotonic() + timeout_s
        while (referral_id, fact_type) not in self.recorded:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.ledger.close()
