"""Publishing facts to JetStream, answered only once JetStream has acknowledged them."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import Error as NatsError

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
        headers = {"Nats-Msg-Id": str(fact.event_id)}
        try:
            await self.js.publish(
                bus.fact_subject(fact),
                fact.model_dump_json().encode(),
                timeout=self.timeout_s,
                stream=bus.STREAM,
                headers=headers,
            )
        except (NatsError, TimeoutError) as error:
            log.warning("publish of a %s failed: %s", fact.type, type(error).__name__)
            raise BusUnavailable(type(error).__name__) from error
