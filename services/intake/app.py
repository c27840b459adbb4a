"""The intake ASGI app: bootstrap of the store reader, the NATS publisher, auth and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

from referral_loop.auth import Authenticator
from referral_loop.bus import connect
from referral_loop.publisher import FactPublisher
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.users import UserDirectory
from services.intake import api, pages
from services.intake.errors import validation_error
from services.intake.limits import BodySizeLimit
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
    intake = Intake(publisher=None, reader=ReferralReader(open_ledger(settings)), base_url=settings.base_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_connect_until_up(settings, intake))
        yield
        task.cancel()
        if intake.publisher is not None:
            await intake.publisher.nc.close()
        intake.reader.ledger.close()

    app = FastAPI(title="Referral Loop intake", version="0.1.0", lifespan=lifespan)
    app.state.intake = intake
    app.state.authenticate = Authenticator(UserDirectory(settings.users_path))
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.add_api_route("/healthz", lambda: PlainTextResponse("ok"), include_in_schema=False)
    app.add_api_route("/readyz", lambda: _ready(intake), include_in_schema=False)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


def _ready(intake: Intake) -> JSONResponse:
    connected = intake.publisher is not None and intake.publisher.nc.is_connected
    return JSONResponse({"nats": "connected" if connected else "down"}, status_code=200 if connected else 503)
