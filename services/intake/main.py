"""Entry point of the intake process: the API and staff form under uvicorn.

On SIGTERM or SIGINT intake stops accepting connections and answers 503 on /readyz, lets the
requests in flight finish (a submission gets its 202 once JetStream has it), closes NATS, exits 0.
With INTAKE_WORKERS above 1, that many such processes share the port (services/intake/workers.py).
"""

from __future__ import annotations

import socket

import uvloop

from referral_loop.ops.endpoints import Ops
from referral_loop.ops.heap import freeze_startup_objects
from referral_loop.ops.web import GracefulServer
from referral_loop.settings import Settings
from referral_loop.web.server import server_config
from services.intake.app import create_app
from services.intake.workers import run_workers


def serve(settings: Settings) -> int:
    """Serve until stopped; the exit status."""
    if settings.intake_workers > 1:
        return run_workers(settings, lambda sock: uvloop.run(serving(settings, sock)))
    uvloop.run(serving(settings))
    return 0


async def serving(settings: Settings, sock: socket.socket | None = None) -> None:
    """One intake: on `sock` when a parent bound it for its workers, else on the configured port."""
    app = create_app(settings)
    ops: Ops = app.state.ops
    freeze_startup_objects()
    config = server_config(app, settings, settings.intake_host, settings.intake_port)
    server = GracefulServer(config, on_signal=lambda: setattr(ops, "stopping", True))
    await server.serve(sockets=None if sock is None else [sock])
