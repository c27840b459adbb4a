"""The intake ASGI app: bootstrap of the store reader, the NATS publisher, the audit log, auth and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from nats.aio.client import Client

from contracts import bus, icd10_cm
from contracts.phones import set_default_region
from referral_loop.messaging.bus import connect
from referral_loop.messaging.publisher import FactPublisher
from referral_loop.ops import checks, gauges, stores, threads
from referral_loop.ops.endpoints import Ops
from referral_loop.ops.shutdown import close_nats
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.web.audit import AuditLog
from referral_loop.web.guard import protect
from services.intake import api, pages, report_page
from services.intake.errors import validation_error
from services.intake.key_claims import KeyClaims
from services.intake.reader import ReferralReader
from services.intake.submission import Intake

log = logging.getLogger(__name__)


async def _connect_until_up(settings: Settings, intake: Intake) -> None:
    """Keep trying NATS in the background: intake serves (and answers 503) until it is up."""
    delay = 0.2
    while True:
        try:
            nc = await connect(settings, name="intake")
        except Exception as error:
            log.warning("NATS not reachable yet (%s)", type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        intake.publisher = FactPublisher(nc)
        return


def create_app(settings: Settings) -> FastAPI:
    set_default_region(settings.phone_region)  # national numbers are the practice's country's
    reader, keys = ReferralReader(open_ledger(settings)), KeyClaims(settings)
    intake = Intake(publisher=None, reader=reader, base_url=settings.base_url, keys=keys)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_connect_until_up(settings, intake))
        await asyncio.to_thread(icd10_cm.load)  # the code set and descriptions, off the event loop
        yield
        task.cancel()
        if intake.publisher is not None:
            await close_nats(intake.publisher.nc)
        await threads.finished()  # no readiness probe still in the store as it closes
        intake.reader.ledger.close()
        intake.keys.close()
        app.state.audit.close()
        app.state.guard.close()

    app = FastAPI(title="Referral Loop intake", version="0.1.0", lifespan=lifespan)
    app.state.intake = intake
    app.state.audit = AuditLog(
        settings, "intake"
    )  # every read and write of PHI (referral_loop/web/audited.py)
    app.state.ops = intake_ops(intake, app.state.audit)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(report_page.router)
    protect(app, settings, "intake", home="/referrals", ops=app.state.ops)
    return app


def intake_ops(intake: Intake, audit: AuditLog) -> Ops:
    """Ready: NATS connected, the REFERRALS stream there (where submissions go), the store readable
    (where statuses come from), the audit log writable (no entry, no PHI shown or taken in).
    /healthz, /readyz and /metrics need no sign-in."""

    def client() -> Client | None:
        return None if intake.publisher is None else intake.publisher.nc

    ops = Ops(
        "intake",
        [
            checks.nats_connected(client),
            checks.streams_present(client, [bus.STREAM]),
            checks.blocking("store", lambda: stores.readable(intake.reader.ledger.recorder)),
            checks.blocking("audit", audit.writable),
        ],
    )
    gauges.nats_connected(ops.metrics, client)
    return ops
