"""Feedback in-process on real parts: nats-server, the store writer, a real SMTP sink, a fake clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import nats
from nats.aio.client import Client

from contracts import Fact
from launcher.mailsink import MailSink
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import ReferralLedger
from services.feedback.bootstrap import parts
from services.feedback.parts import Parts
from services.feedback.service import FeedbackService
from services.store_writer.writer import StoreWriter
from tests.support import referrals as make
from tests.support.bus import declare_all, publish
from tests.support.clock import FakeClock


@dataclass
class Loop:
    nc: Client
    referrals: ReferralLedger
    parts: Parts
    service: FeedbackService
    sink: MailSink
    clock: FakeClock

    async def publish(self, *facts: Fact) -> None:
        for fact in facts:
            await publish(self.nc.jetstream(), fact)

    def timeline(self, referral_id: UUID) -> list[str]:
        return [f.type for f in self.referrals.timeline(referral_id)]

    def mail(self, subject_part: str = "") -> list[EmailMessage]:
        return [m for m in self.sink.messages() if subject_part in str(m["Subject"])]

    async def settle(self) -> None:
        """Let the service run several ticks (it ticks every 20 ms) before checking what did not happen."""
        await asyncio.sleep(0.3)

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)


def feedback_settings(base: Settings, nats_url: str, sink: MailSink, **overrides: Any) -> Settings:
    update = {"nats_url": nats_url, "smtp_port": sink.port, "smtp_tls": "none", **overrides}
    return base.model_copy(update={"smtp_host": "127.0.0.1", **update})


@asynccontextmanager
async def running_loop(
    settings: Settings, sink: MailSink, clock: FakeClock | None = None, tick_s: float = 0.02
) -> AsyncIterator[Loop]:
    """The store writer and the feedback service as tasks; everything stopped at the end.

    `tick_s`: the service's tick (retries, deadlines); new work wakes it at once regardless."""
    clock = clock or FakeClock(datetime.now(UTC))
    nc = await nats.connect(settings.nats_url)
    await declare_all(nc.jetstream(), settings)
    writer = StoreWriter(nc.jetstream(), open_ledger(settings), 100, 0.05)
    wired = await asyncio.to_thread(parts, settings, nc, clock)
    service = FeedbackService(wired, tick_s=tick_s)
    tasks = [asyncio.create_task(writer.run()), asyncio.create_task(service.run())]
    try:
        yield Loop(nc, wired.referrals, wired, service, sink, clock)
    finally:
        writer.stopping.set()
        service.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await wired.mailer.close()
        await nc.close()
        for ledger in (writer.ledger, wired.ledger, wired.referrals):
            ledger.close()


async def seen_referrals_on_the_bus(
    store_settings: Settings, nats_url: str, sink: MailSink, n: int
) -> tuple[Settings, list[UUID]]:
    """Settings that mail `sink` (no acknowledgements: two letters a referral), and `n` referrals
    received and seen, published for a store writer to record; their ids."""
    update = {"nats_url": nats_url, "smtp_host": "127.0.0.1", "smtp_port": sink.port}
    settings = store_settings.model_copy(
        update={**update, "smtp_tls": "none", "acknowledge_referrals": False}
    )
    nc = await nats.connect(nats_url)
    try:
        await declare_all(nc.jetstream(), settings)
        rids = [uuid4() for _ in range(n)]
        for rid in rids:
            await publish(nc.jetstream(), make.received(rid))
            await publish(nc.jetstream(), make.seen(rid))
    finally:
        await nc.close()
    return settings, rids
