"""Following the referrals store: read its notification log in pages, hand each page on.

Downstream services (feedback, projections) follow the store, not NATS, so they see only facts
the store accepted, in its order, and a rebuild is a replay. Each page is read, decoded and
processed in one thread hop; the processor commits its output with the page's last position.

A fact the follower cannot decode or apply does not stop it (`store/quarantine.py`): it is set
aside, recorded by the processor with the position that moves past it, and the rest applied.
A processor takes the page's facts and the entries set aside among them: `process(facts, aside)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from eventsourcing.persistence import Notification

from contracts import Fact
from referral_loop.store.decoding import readable_facts, stored_event_id, stored_facts, stored_topics
from referral_loop.store.ledger import ReferralLedger
from referral_loop.store.opening import Opened
from referral_loop.store.quarantine import SetAside, caused_by_fact, reason

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


Entry = Recorded | SetAside
"""What a follower reads at a position: a fact, or one that could not be read, set aside."""
Process = Callable[[Sequence[Recorded], Sequence[SetAside]], T]


def read_entries(
    ledger: ReferralLedger, after: int, limit: int, types: Collection[str] = (), through: int | None = None
) -> list[Entry]:
    """As `read_page`, but a fact that cannot be decoded comes as a `SetAside` with the reason."""
    topics = stored_topics(frozenset(types)) if types else ()
    notifications = ledger.recorder.select_notifications(after + 1, limit, through, topics)
    return entries(ledger, notifications)


def entries(ledger: ReferralLedger, notifications: Sequence[Notification]) -> list[Entry]:
    """These notifications' facts, or for each that cannot be decoded a `SetAside`."""
    opened = readable_facts(ledger, notifications)
    return [_entry(ledger, n, o) for n, o in zip(notifications, opened, strict=True)]


def _entry(ledger: ReferralLedger, note: Notification, opened: Opened | Exception) -> Entry:
    if not isinstance(opened, Exception):
        return Recorded(note.id, *opened)
    fact_type, why = note.topic.rsplit(".", 1)[-1], reason(opened)
    log.warning("fact at position %d (%s) cannot be read, set aside: %s", note.id, fact_type, why)
    return SetAside(note.id, fact_type, why, str(note.originator_id), stored_event_id(ledger.mapper, note))


def settle(page: Sequence[Entry], process: Process[T]) -> list[T]:
    """Process `page`: at once; if one of its facts breaks it, each half on its own, down to the
    facts that fail, each set aside. Any other error (the infrastructure's) is raised."""
    facts = [e for e in page if isinstance(e, Recorded)]
    aside = [e for e in page if isinstance(e, SetAside)]
    try:
        return [process(facts, aside)]
    except Exception as error:
        if not facts or not caused_by_fact(error):
            raise
        if len(facts) == 1:
            return [process([], sorted([*aside, failed(facts[0], error)], key=lambda e: e.position))]
    pivot = facts[len(facts) // 2]
    middle = next(i for i, e in enumerate(page) if e is pivot)
    return settle(page[:middle], process) + settle(page[middle:], process)


def failed(recorded: Recorded, error: Exception) -> SetAside:
    fact = recorded.fact
    why = reason(error)
    log.warning("fact at position %d (%s) set aside: %s", recorded.position, fact.type, why)
    return SetAside(recorded.position, fact.type, why, str(fact.referral_id), str(fact.event_id))


class StoreFollower(Generic[T]):
    """Calls `process(facts, aside)` for every page after `position()` (`settle`: its facts, and
    those set aside); polls when caught up.

    After a page that was not full it waits `idle_s` before looking again. With `idle_max_s`, each
    look that finds nothing doubles the wait, up to `idle_max_s`, and a fact brings it back to
    `idle_s`: a busy store is followed closely, a quiet one costs little.
    """

    def __init__(
        self,
        upstream: ReferralLedger,
        process: Process[T],
        position: Callable[[], int],
        page_size: int = 500,
        idle_s: float = 0.05,
        idle_max_s: float | None = None,
    ) -> None:
        self.upstream, self.process, self.position = upstream, process, position
        self.page_size, self.idle_s, self.idle_max_s = page_size, idle_s, max(idle_s, idle_max_s or idle_s)
        self.stopping = asyncio.Event()

    def step(self) -> tuple[int, list[T]]:
        """Read and process one page (blocking): how many facts, and what processing gave (one
        result per part processed: the page, or its parts around facts set aside)."""
        page = read_entries(self.upstream, self.position(), self.page_size)
        return len(page), (settle(page, self.process) if page else [])

    async def run(self, on_processed: Callable[[T], object] = lambda _: None) -> None:
        """Follow until stopped; `on_processed` gets each page's result on the event loop."""
        wait = self.idle_s
        while not self.stopping.is_set():
            try:
                count, results = await asyncio.to_thread(self.step)
            except Exception:
                log.exception("following the store failed; retrying")
                count, results = 0, []
                await asyncio.sleep(1.0)
            for result in results:
                on_processed(result)
            wait = self.idle_s if count else min(2 * wait, self.idle_max_s)
            if count < self.page_size:
                await asyncio.sleep(wait)
