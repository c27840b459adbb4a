"""Entry point of the store writer process: wire NATS, the event store and the writer; serve the
ops endpoints; on SIGTERM or SIGINT finish the batch in hand, give back the prefetched one, exit 0."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from contracts import bus
from referral_loop.messaging.bus import connect, declare_referral_streams, ensure_consumer
from referral_loop.ops import checks, gauges, stores, threads
from referral_loop.ops.endpoints import Ops
from referral_loop.ops.heap import freeze_startup_objects
from referral_loop.ops.metrics import Metrics
from referral_loop.ops.server import serve_ops
from referral_loop.ops.shutdown import Shutdown, close_nats
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import ReferralLedger, Result
from services.store_writer.writer import StoreWriter

log = logging.getLogger(__name__)


class CountingStoreWriter(StoreWriter):
    """The writer, counting each fact's outcome and each fact parked in the dead-letter stream."""

    def __init__(self, js: JetStreamContext, ledger: ReferralLedger, settings: Settings, metrics: Metrics):
        super().__init__(js, ledger, settings.writer_batch, settings.writer_fetch_wait_s)
        self.outcomes = metrics.counter(
            "referral_loop_facts", "Facts the store writer settled, by outcome.", ["outcome"]
        )
        self.parked = metrics.counter("referral_loop_facts_dead_lettered", "Facts the writer dead-lettered.")

    async def settle(self, msg: Msg, result: Result) -> None:
        self.outcomes.labels(result.outcome.value).inc()
        await super().settle(msg, result)

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        await super().dead_letter(msg, reason)
        self.parked.inc()


def writer_ops(nc: Client, ledger: ReferralLedger, metrics: Metrics) -> Ops:
    """Ready: NATS connected, both streams there, the store writable. Metrics: consumer lag, dead letters."""
    client = lambda: nc  # noqa: E731
    ops = Ops(
        "store-writer",
        [
            checks.nats_connected(client),
            checks.streams_present(client, [bus.STREAM, bus.DEADLETTER_STREAM]),
            checks.blocking("store", lambda: stores.writable(ledger.recorder)),
        ],
        metrics,
    )
    gauges.nats_connected(metrics, client)
    gauges.consumer_lag(metrics, nc, bus.STORE_WRITER)
    gauges.deadletter_count(metrics, nc)
    return ops


async def run(settings: Settings) -> None:
    shutdown = Shutdown()
    ledger = await asyncio.to_thread(open_ledger, settings)
    nc = await connect(settings, name="store-writer")
    js = nc.jetstream()
    await declare_referral_streams(js, settings)
    await ensure_consumer(js, bus.STREAM, bus.store_writer_consumer())
    metrics = Metrics()
    writer = CountingStoreWriter(js, ledger, settings, metrics)
    shutdown.ops = writer_ops(nc, ledger, metrics)
    server = await serve_ops(settings.ops_host, settings.store_writer_ops_port, shutdown.ops.routes())
    relay = shutdown.forward(writer.stopping)
    log.info("store writer recording %s into the %s store", bus.STREAM, settings.store)
    freeze_startup_objects()
    try:
        await writer.run()
    finally:
        relay.cancel()
        if server is not None:
            await server.close()
        await close_nats(nc)  # the last acks, naks and announcements flushed first
        await threads.finished()  # no readiness probe still in the store as it closes
        await asyncio.to_thread(ledger.close)
        log.info("store writer stopped")
