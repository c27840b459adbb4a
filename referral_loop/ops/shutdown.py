"""Graceful stops for the asyncio services: SIGTERM or SIGINT, from the very start of the process,
sets one event; the service stops taking new work, drains what it has in flight and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from nats.aio.client import Client
from nats.errors import Error as NatsError

from referral_loop.ops.endpoints import Ops

log = logging.getLogger(__name__)


class Shutdown:
    def __init__(self, ops: Ops | None = None) -> None:
        self.requested = asyncio.Event()
        self.ops = ops
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request)

    def request(self) -> None:
        if self.ops is not None:
            self.ops.stopping = True
        self.requested.set()

    def forward(self, stopping: asyncio.Event) -> asyncio.Task[None]:
        """Set `stopping` (a service's own event) once a stop is requested."""

        async def relay() -> None:
            await self.requested.wait()
            stopping.set()

        return asyncio.create_task(relay())


async def close_nats(nc: Client) -> None:
    """Flush what is pending (the last acks, naks and publishes) while connected, then close.

    When NATS is away at that moment the unsent acks are simply lost, and JetStream redelivers
    those facts to the next writer, which finds them recorded: nothing is lost or doubled."""
    if nc.is_connected:
        with contextlib.suppress(NatsError, TimeoutError):
            await nc.flush(timeout=2)
    try:
        await nc.close()
    except (NatsError, RuntimeError, OSError) as error:  # a transport already gone (uvloop: RuntimeError)
        log.warning("NATS connection closed uncleanly (%s)", type(error).__name__)
