"""Standing by until this replica leads its role, then working while it still does.

A replica that cannot take its role's lease (`referral_loop.store.lease`) waits, answering its
ops endpoints, and takes over when the leader's process dies. A leader whose lease is lost (its
PostgreSQL session dropped: another replica may lead now) stops its work and exits with an error
at once, to stand by again when restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Gauge

from referral_loop.store.lease import Lease

log = logging.getLogger(__name__)
TRY_EVERY_S = 0.5
CHECK_EVERY_S = 1.0


class LeaseLost(RuntimeError):
    """This replica no longer holds its role's lease: another may be doing the work."""


async def take_lead(lease: Lease, stopping: asyncio.Event, role: str) -> bool:
    """Wait until this replica holds the lease (True), or is asked to stop first (False)."""
    told = False
    while not stopping.is_set():
        if await asyncio.to_thread(lease.try_take):
            log.info("%s: this replica leads", role)
            return True
        if not told:
            log.info("%s: standing by, another replica leads", role)
            told = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), TRY_EVERY_S)
    return False


async def lead(
    lease: Lease, stopping: asyncio.Event, role: str, work: Callable[[], Awaitable[None]], leading: Gauge
) -> None:
    """Stand by until leading, then do `work` until it ends; `stopping` ends both. Raises LeaseLost
    (after `work` has drained) if the lease was lost on the way."""
    if not await take_lead(lease, stopping, role):
        return
    leading.set(1)
    watch = asyncio.create_task(_watch(lease, stopping, role))
    try:
        await work()
    finally:
        leading.set(0)
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    if not watch.cancelled() and watch.result():
        raise LeaseLost(f"{role}: the lease was lost")


async def _watch(lease: Lease, stopping: asyncio.Event, role: str) -> bool:
    """Until stopped: whether the lease was lost (and then `stopping` is set, so work drains)."""
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), CHECK_EVERY_S)
        if not stopping.is_set() and not await asyncio.to_thread(lease.still_held):
            log.error("%s: the lease was lost; stopping this replica's work", role)
            stopping.set()
            return True
    return False
