"""Entry point of the intake process: the API and staff form under uvicorn."""

from __future__ import annotations

import uvicorn

from referral_loop.settings import Settings
from services.intake.app import create_app


def serve(settings: Settings) -> None:
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.intake_host,
        port=settings.intake_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
