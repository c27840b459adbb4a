"""Entry point of the intake process: the API and staff form under uvicorn.

On SIGTERM or SIGINT intake stops accepting connections and answers 503 on /readyz, lets the
requests in flight finish (a submission gets its 202 once JetStream has it), closes NATS, exits 0.
"""

from __future__ import annotations

import uvicorn
import uvloop

from referral_loop.ops.endpoints import Ops
from referral_loop.ops.heap import freeze_startup_objects
from referral_loop.ops.web import GracefulServer
from referral_loop.settings import Settings
from services.intake.app import create_app


def serve(settings: Settings) -> None:
    uvloop.run(serving(settings))


async def serving(settings: Settings) -> None:
    app = create_app(settings)
    ops: Ops = app.state.ops
    freeze_startup_objects()
    config = uvicorn.Config(
        app,
        host=settings.intake_host,
        port=settings.intake_port,
        log_level=settings.log_level.lower(),
        log_config=None,  # the process's logging (referral_loop.ops.logs), not uvicorn's own
        access_log=False,
    )
    await GracefulServer(config, on_signal=lambda: setattr(ops, "stopping", True)).serve()
