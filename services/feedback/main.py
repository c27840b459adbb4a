"""Entry point of the feedback process: follow the store, send reports and notes, serve the ops
endpoints; on SIGTERM or SIGINT finish the batch being sent, record its outcomes, exit 0.
Replicas stand by while one leads (`referral_loop.leading`): one sender, never two."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from nats.aio.client import Client

from contracts import bus
from referral_loop.leading import lead
from referral_loop.messaging.bus import connect, declare_referral_streams
from referral_loop.ops import checks, gauges, stores, threads
from referral_loop.ops.endpoints import Ops
from referral_loop.ops.heap import freeze_startup_objects
from referral_loop.ops.metrics import Metrics
from referral_loop.ops.server import serve_ops
from referral_loop.ops.shutdown import Shutdown, close_nats
from referral_loop.ops.smtp import SmtpReachability
from referral_loop.settings import Settings
from referral_loop.store.lease import lease_for
from services.feedback.bootstrap import parts
from services.feedback.policy import REPORT
from services.feedback.service import FeedbackService

log = logging.getLogger(__name__)


def outbox_gauges(metrics: Metrics, service: FeedbackService) -> None:
    """Open work, counted at scrape time from the outbox (in memory, on this event loop)."""
    sends = metrics.gauge(
        "referral_loop_outbox_sends", "Emails decided and not sent: due now, or waiting to retry.", ["state"]
    )
    announcements = metrics.gauge(
        "referral_loop_outbox_announcements", "Facts (ReportSent ...) decided and not yet in the store."
    )
    at_risk = metrics.gauge(
        "referral_loop_reports_at_risk",
        "Consult reports not sent whose deadline is near or passed.",
        ["state"],
    )

    async def refresh() -> None:
        outbox, now = service.outbox, service.parts.clock.now()
        due = Counter(a.due(now) for keys in outbox.sends.values() for a in keys.values())
        sends.labels("due").set(due[True])
        sends.labels("waiting").set(due[False])
        announcements.set(sum(len(facts) for facts in outbox.announcements.values()))
        policy = service.parts.ledger.deadlines
        reached = Counter((policy.reached(w.due_at, now) or [""])[-1] for w in outbox.deadlines.values())
        # a report still to send whose deadline is no longer watched: ReportOverdue was recorded
        unwatched = sum(REPORT in keys for rid, keys in outbox.sends.items() if rid not in outbox.deadlines)
        at_risk.labels("due_soon").set(reached["due_soon"])
        at_risk.labels("overdue").set(reached["overdue"] + unwatched)

    metrics.on_scrape("outbox", refresh)


def feedback_ops(settings: Settings, nc: Client, service: FeedbackService, metrics: Metrics) -> Ops:
    """Ready: NATS connected, the REFERRALS stream there, both stores usable, SMTP reachable; and
    how many facts were set aside (in the detail: the check passes, feedback moves on)."""
    client, wired = (lambda: nc), service.parts
    ops = Ops(
        "feedback",
        [
            checks.nats_connected(client),
            checks.streams_present(client, [bus.STREAM]),
            checks.blocking("referral_store", lambda: stores.readable(wired.referrals.recorder)),
            checks.blocking("feedback_store", lambda: stores.writable(wired.ledger.recorder)),
            SmtpReachability(settings).check(),
            checks.quarantined(lambda: service.quarantine.count),
        ],
        metrics,
    )
    gauges.nats_connected(metrics, client)
    gauges.follower_lag(metrics, "feedback", wired.referrals, wired.ledger.position)
    gauges.quarantined(metrics, "feedback", lambda: service.quarantine.count)
    outbox_gauges(metrics, service)
    return ops


async def run(settings: Settings) -> None:
    shutdown = Shutdown()
    nc = await connect(settings, name="feedback")
    await declare_referral_streams(nc.jetstream(), settings)
    metrics = Metrics()
    wired = await asyncio.to_thread(parts, settings, nc, None, metrics)
    service = FeedbackService(wired, poll_s=settings.feedback_poll_s)
    shutdown.ops = feedback_ops(settings, nc, service, metrics)
    server = await serve_ops(settings.ops_host, settings.feedback_ops_port, shutdown.ops.routes())
    relay = shutdown.forward(service.stopping)
    log.info("feedback following the referral store; mail via %s:%d", settings.smtp_host, settings.smtp_port)
    freeze_startup_objects()
    lease = await asyncio.to_thread(lease_for, wired.ledger, "feedback")
    leading = metrics.gauge("referral_loop_leading", "1 while this replica leads its role, 0 on standby.")
    try:
        await lead(lease, service.stopping, "feedback", service.run, leading)
    finally:
        await asyncio.to_thread(lease.close)
        relay.cancel()
        if server is not None:
            await server.close()
        await wired.mailer.close()
        await close_nats(nc)  # the last acks, naks and announcements flushed first
        await threads.finished()  # no readiness probe still in a store as it closes
        wired.ledger.close()
        wired.referrals.close()
        log.info("feedback stopped")
