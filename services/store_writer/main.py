"""Entry point of the store writer process: wire NATS, the event store and the writer; stop on signal."""

from __future__ import annotations

import asyncio
import logging

from contracts import bus
from referral_loop.bus import connect, declare_referral_streams, ensure_consumer
from referral_loop.settings import Settings
from referral_loop.signals import stop_on_signals
from referral_loop.store.config import open_ledger
from services.store_writer.writer import StoreWriter

log = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    ledger = await asyncio.to_thread(open_ledger, settings)
    nc = await connect(settings, name="store-writer")
    js = nc.jetstream()
    await declare_referral_streams(js, settings)
    await ensure_consumer(js, bus.STREAM, bus.store_writer_consumer())
    writer = StoreWriter(js, ledger, settings.writer_batch, settings.writer_fetch_wait_s)
    stop_on_signals(writer.stopping)
    log.info("store writer recording %s into the %s store", bus.STREAM, settings.store)
    try:
        await writer.run()
    finally:
        await nc.close()
        await asyncio.to_thread(ledger.close)
        log.info("store writer stopped")
