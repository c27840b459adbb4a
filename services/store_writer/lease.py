"""The recording lease: one store writer at a time fetches and records, so facts keep stream order.

Replicas of the store writer share one durable consumer. If two recorded at once, a later fact
about a referral could reach the store before an earlier one still in the other replica's hands
(a visit before its appointment: refused by the lifecycle and lost to the dead letters). So a
writer holds the role's lease (`referral_loop.store.lease`) from its first fetch until a fetch
comes back empty and every message it fetched is settled; the others wait, ready to take over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from referral_loop.store.lease import Lease, lease_for
from referral_loop.store.ledger import ReferralLedger

ROLE = "store-writer"
POLL_S = 0.1


def writer_lease(ledger: ReferralLedger) -> Lease:
    """The store writers' lease in the ledger's store (blocking: call it off the event loop)."""
    return lease_for(ledger, ROLE)


@contextlib.asynccontextmanager
async def holding(lease: Lease, stopping: asyncio.Event) -> AsyncIterator[bool]:
    """Wait for the lease (or the stop); yields whether it is held; gives it back on leaving."""
    held = False
    while not stopping.is_set() and not (held := await asyncio.to_thread(lease.try_take)):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), POLL_S)
    try:
        yield held
    finally:
        if held:
            await asyncio.to_thread(lease.give_back)
