"""Following the referrals store: read its notification log in pages, hand each page on.

Downstream services (feedback, projections) follow the store, not NATS, so they see only facts
the store accepted, in its order, and a rebuild is a replay. Each page is read, decoded and
processed in one thread hop; the processor commits its output with the page's last position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from contracts import Fact
from referral_loop.store.decoding import stored_facts, stored_topics
from referral_loop.store.ledger import ReferralLedger

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Recorded:
    """A fact as the store recorded it: its position in the store's notification log."""

    position: int
    fact: Fact
    patient_key_id: str | None = None
    """The id of the data key the patient's PHI in this fact is sealed under: the same for all
    of a patient's referrals (None: the fact holds no sealed PHI)."""


def read_page(
    ledger: ReferralLedger, after: int, limit: int, types: Collection[str] = (), through: int | None = None
) -> list[Recorded]:
    """Up to `limit` facts recorded after position `after` (up to position `through`), in order.
    Given `types`, only facts of those types: the store skips the others without reading them."""
    topics = stored_topics(frozenset(types)) if types else ()
    notifications = ledger.recorder.select_notifications(after + 1, limit, through, topics)
    opened = stored_facts(ledger, notifications)
    return [Recorded(n.id, fact, key_id) for n, (fact, key_id) in zip(notifications, opened, strict=True)]


class StoreFollower(Generic[T]):
    """Calls `process(page)` for every page after `position()`; polls when caught up.

    After a page that was not full it waits `idle_s` before looking again. With `idle_max_s`, each
    look that finds nothing doubles the wait, up to `idle_max_s`, and a fact brings it back to
    `idle_s`: a busy store is followed closely, a quiet one costs little.
    """

    def __init__(
        self,
        upstream: ReferralLedger,
        process: Callable[[Sequence[Recorded]], T],
        position: Callable[[], int],
        page_size: int = 500,
        idle_s: float = 0.05,
        idle_max_s: float | None = None,
    ) -> None:
        self.upstream, self.process, self.position = upstream, process, position
        self.page_size, self.idle_s, self.idle_max_s = page_size, idle_s, max(idle_s, idle_max_s or idle_s)
        self.stopping = asyncio.Event()

    def step(self) -> tuple[int, T | None]:
        """Read and process one page (blocking): how many facts, and what processing gave."""
        page = read_page(self.upstream, self.position(), self.page_size)
        return len(page), (self.process(page) if page else None)

    async def run(self, on_processed: Callable[[T], object] = lambda _: None) -> None:
        """Follow until stopped; `on_processed` gets each page's result on the event loop."""
        wait = self.idle_s
        while not self.stopping.is_set():
            try:
                count, result = await asyncio.to_thread(self.step)
            except Exception:
                log.exception("following the store failed; retrying")
                count, result = 0, None
                await asyncio.sleep(1.0)
            if result is not None:
                on_processed(result)
            wait = self.idle_s if count else min(2 * wait, self.idle_max_s)
            if count < self.page_size:
                await asyncio.sleep(wait)
