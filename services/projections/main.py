"""Entry point of the projections process: keep the read models current and serve ops.

The projector follows the referral store; the ops API and dashboard read the same views.
Every replica serves the views; one projects into them, while the others stand by
(`referral_loop.leading`).
"""

from __future__ import annotations

import asyncio
import logging

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.leading import lead
from referral_loop.ops import checks, gauges, stores, threads
from referral_loop.ops.endpoints import Ops
from referral_loop.ops.heap import freeze_startup_objects
from referral_loop.ops.web import GracefulServer
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import StoreFollower
from referral_loop.store.lease import lease_for
from referral_loop.store.ledger import ReferralLedger
from referral_loop.web.server import server_config
from services.projections import quarantine
from services.projections.app import create_app, views_writable
from services.projections.db import Database
from services.projections.projector import Projector

log = logging.getLogger(__name__)
QUIET_POLL_S = 0.05
"""The longest wait between two looks at a store that has had no new facts for a while."""


async def run(settings: Settings) -> None:
    referrals = await asyncio.to_thread(open_ledger, settings)
    db = Database(settings)
    projector = await asyncio.to_thread(Projector, db, deadline_policy(settings))
    follower = StoreFollower(
        referrals,
        projector.process,
        projector.position,
        page_size=1000,
        idle_s=settings.projections_poll_s,
        idle_max_s=QUIET_POLL_S,
    )
    ops = projections_ops(db, referrals, projector)
    config = server_config(create_app(settings, ops=ops), settings, settings.ops_host, settings.ops_port)
    lease = await asyncio.to_thread(lease_for, referrals, "projections")
    leading = ops.metrics.gauge("referral_loop_leading", "1 while this replica leads its role, 0 on standby.")
    following = asyncio.create_task(lead(lease, follower.stopping, "projections", follower.run, leading))
    server = GracefulServer(config, on_signal=lambda: setattr(ops, "stopping", True))
    following.add_done_callback(
        lambda _: server.stop_gracefully()
    )  # the projector ended: so does the process
    log.info("projections following the referral store; ops on %s:%d", settings.ops_host, settings.ops_port)
    freeze_startup_objects()
    try:
        await server.serve()
    finally:
        follower.stopping.set()
        try:
            await following
        finally:
            await asyncio.to_thread(lease.close)
        await threads.finished()  # no readiness probe still in a store as it closes
        db.close()
        referrals.close()
        log.info("projections stopped")


def projections_ops(db: Database, referrals: ReferralLedger, projector: Projector) -> Ops:
    """Ready: the referral store readable, the views writable (the facts set aside in the detail).
    Metrics: how far the views lag, how many facts the projector set aside."""
    ops = Ops(
        "projections",
        [
            checks.blocking("referral_store", lambda: stores.readable(referrals.recorder)),
            checks.blocking("views", lambda: views_writable(db)),
            checks.quarantined(lambda: quarantine.count(db)),
        ],
    )
    gauges.follower_lag(ops.metrics, "projections", referrals, projector.position)
    gauges.quarantined(ops.metrics, "projections", lambda: quarantine.count(db))
    return ops
