"""Entry point of the projections process: keep the read models current and serve ops.

The projector follows the referral store; the ops API and dashboard read the same views.
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from referral_loop.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import StoreFollower
from services.projections.app import create_app
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
    config = uvicorn.Config(
        create_app(settings),
        host=settings.ops_host,
        port=settings.ops_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    following = asyncio.create_task(follower.run())
    log.info("projections following the referral store; ops on %s:%d", settings.ops_host, settings.ops_port)
    try:
        await uvicorn.Server(config).serve()
    finally:
        follower.stopping.set()
        await following
        db.close()
        referrals.close()
        log.info("projections stopped")
