"""Entry point of the feedback process: follow the store, send reports and notes, stop on signal."""

from __future__ import annotations

import asyncio
import logging

from referral_loop.bus import connect, declare_referral_streams
from referral_loop.settings import Settings
from referral_loop.signals import stop_on_signals
from services.feedback.bootstrap import parts
from services.feedback.service import FeedbackService

log = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    nc = await connect(settings, name="feedback")
    await declare_referral_streams(nc.jetstream(), settings)
    wired = await asyncio.to_thread(parts, settings, nc)
    service = FeedbackService(wired, poll_s=settings.feedback_poll_s)
    stop_on_signals(service.stopping)
    log.info("feedback following the referral store; mail via %s:%d", settings.smtp_host, settings.smtp_port)
    try:
        await service.run()
    finally:
        await wired.mailer.close()
        await nc.close()
        wired.ledger.close()
        wired.referrals.close()
        log.info("feedback stopped")
