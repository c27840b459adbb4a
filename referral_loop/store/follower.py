"""Following the referrals store: read its notification log in pages, hand each page on.

Downstream services (feedback, projections) follow the store, not NATS, so they see only facts
the store accepted, in its order, and a rebuild is a replay. Each page is read, decoded and
processed in one thread hop; the processor commits its output with the page's last position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from contracts import Fact
from referral_loop.store.decoding import stored_fact
from referral_loop.store.ledger import ReferralLedger

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Recorded:
    """A fact as the store recorded it: its position in the store's notification log."""

    position: int
    fact: Fact


def read_page(ledger: ReferralLedger, after: int, limit: int) -> list[Recorded]:
    """Up to `limit` facts recorded after position `after`, in order."""
    notifications = ledger.recorder.select_notifications(after + 1, limit=limit)
    return [Recorded(n.id, stored_fact(ledger.mapper, n)) for n in notifications]


def read_ahead(ledger: ReferralLedger, after: int, limit: int) -> Iterator[list[Recorded]]:
    """Every page after position `after` until the end, each read and decoded in a worker thread
    while the caller processes the one before (the store's and the caller's database work release
    the GIL, so the two overlap on a second core). For a replay, where nothing else moves the
    caller's position: the next page starts after the last one read."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        upcoming = reader.submit(read_page, ledger, after, limit)
        while page := upcoming.result():
            upcoming = reader.submit(read_page, ledger, page[-1].position, limit)
            yield page


class StoreFollower(Generic[T]):
    """Calls `process(page)` for every page after `position()`; polls when caught up."""

    def __init__(
        self,
        upstream: ReferralLedger,
        process: Callable[[Sequence[Recorded]], T],
        position: Callable[[], int],
        page_size: int = 500,
        idle_s: float = 0.05,
    ) -> None:
        self.upstream, self.process, self.position = upstream, process, position
        self.page_size, self.idle_s = page_size, idle_s
        self.stopping = asyncio.Event()

    def step(self) -> tuple[int, T | None]:
        """Read and process one page (blocking): how many facts, and what processing gave."""
        page = read_page(self.upstream, self.position(), self.page_size)
        return len(page), (self.process(page) if page else None)

    async def run(self, on_processed: Callable[[T], object] = lambda _: None) -> None:
        """Follow until stopped; `on_processed` gets each page's result on the event loop."""
        while not self.stopping.is_set():
            try:
                count, result = await asyncio.to_thread(self.step)
            except Exception:
                log.exception("following the store failed; retrying")
                count, result = 0, None
                await asyncio.sleep(1.0)
            if result is not None:
                on_processed(result)
            if count < self.page_size:
                await asyncio.sleep(self.idle_s)
