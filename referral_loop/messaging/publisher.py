"""Publishing facts to JetStream, answered only once JetStream has acknowledged them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import PubAck

from contracts import Fact, bus

log = logging.getLogger(__name__)


class BusUnavailable(Exception):
    """NATS JetStream did not acknowledge the fact: nothing was accepted; retry later."""


class FactPublisher:
    def __init__(self, nc: Client, timeout_s: float = 3.0) -> None:
        self.nc, self.js, self.timeout_s = nc, nc.jetstream(), timeout_s

    async def publish(self, fact: Fact) -> None:
        """Publish with Nats-Msg-Id = event id, so a retried publish is deduplicated by JetStream."""
        if not self.nc.is_connected:
            raise BusUnavailable("not connected to NATS")
        try:
            await self.js.publish(
                bus.fact_subject(fact),
                fact.model_dump_json().encode(),
                timeout=self.timeout_s,
                stream=bus.STREAM,
                headers=_headers(fact),
            )
        except (NatsError, TimeoutError) as error:
            log.warning("publish of a %s failed: %s", fact.type, type(error).__name__)
            raise BusUnavailable(type(error).__name__) from error

    async def publish_many(self, facts: Sequence[Fact]) -> list[PubAck | BusUnavailable]:
        """Publish all at once (`publish_async`), then wait up to `timeout_s` for the acks together.

        One result per fact, in order: its PubAck (`duplicate` when JetStream already had that
        Nats-Msg-Id), or BusUnavailable when it was not acknowledged: retry that fact later.
        """
        if not self.nc.is_connected:
            return [BusUnavailable("not connected to NATS") for _ in facts]
        pending = [await self._publish_async(fact) for fact in facts]
        futures = [p for p in pending if isinstance(p, asyncio.Future)]
        if futures:
            _, late = await asyncio.wait(futures, timeout=self.timeout_s)
            for future in late:
                future.cancel()
        results = [_result(p) for p in pending]
        failed = sum(isinstance(r, BusUnavailable) for r in results)
        if failed:
            log.warning("publish of %d of %d facts failed", failed, len(results))
        return results

    async def _publish_async(self, fact: Fact) -> asyncio.Future[PubAck] | BusUnavailable:
        try:
            return await self.js.publish_async(
                bus.fact_subject(fact),
                fact.model_dump_json().encode(),
                wait_stall=self.timeout_s,
                stream=bus.STREAM,
                headers=_headers(fact),
            )
        except NatsError as error:  # TooManyStalledMsgsError too: more than 4,000 awaiting acks
            return BusUnavailable(type(error).__name__)


def _headers(fact: Fact) -> dict[str, str]:
    return {"Nats-Msg-Id": str(fact.event_id)}


def _result(pending: asyncio.Future[PubAck] | BusUnavailable) -> PubAck | BusUnavailable:
    """The ack of a finished publish, or why there is none (a future cancelled by the timeout)."""
    if isinstance(pending, BusUnavailable):
        return pending
    if pending.cancelled():
        return BusUnavailable("TimeoutError")
    error = pending.exception()
    if error is not None:
        return BusUnavailable(type(error).__name__)
    return pending.result()
