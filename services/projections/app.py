"""The ops web app: the reports API and the dashboard over the read models, read only.

There is no request body limit here (intake has one): every route is a GET that never reads a
body, and anything else is answered 405 before a body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from referral_loop.auth import Authenticator
from referral_loop.deadlines import deadline_policy
from referral_loop.ops import checks, threads
from referral_loop.ops.endpoints import Ops
from referral_loop.ops.web import add_ops_routes
from referral_loop.settings import Settings
from referral_loop.users import UserDirectory
from services.projections import api, dashboard, schema
from services.projections.db import Database

DESCRIPTION = """Referral volume, trends, worklists, loop KPIs, office scorecards and CMS50, read from
the read models. HTTP Basic; every endpoint needs the intake or ops role. Add `format=csv` for CSV."""
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def create_app(settings: Settings, db: Database | None = None, ops: Ops | None = None) -> FastAPI:
    """The app over `db`, or over its own connection to the views database (closed at shutdown).
    `ops` answers /healthz, /readyz and /metrics (by default: readiness checks the views only)."""
    database = db or Database(settings, settings.views_sqlite_file)
    app = FastAPI(
        title="Referral Loop operations",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=owning(database) if db is None else None,
    )
    app.state.settings, app.state.db, app.state.db_lock = settings, database, threading.Lock()
    app.state.deadlines, app.state.intake_url = deadline_policy(settings), settings.base_url
    app.state.authenticate = Authenticator(UserDirectory(settings.users_path))
    app.add_exception_handler(RequestValidationError, invalid_fields)
    for router in (api.router, dashboard.router):
        app.include_router(router)
    add_ops_routes(
        app, ops or Ops("projections", [checks.blocking("views", lambda: views_writable(database))])
    )
    app.add_middleware(SecurityHeaders)
    return app


def views_writable(db: Database) -> None:
    """A write transaction on the views that changes nothing (blocking)."""
    position = schema.tables("")["view_position"]
    with db.transaction() as cursor:
        cursor.execute(f"UPDATE {position} SET position = position WHERE 1 = 0")


def owning(database: Database) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Tables created at startup (empty reports until the projector has run), connection closed at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(schema.create, database)
        yield
        await threads.finished()  # no readiness probe still in the views as they close
        database.close()

    return lifespan


async def invalid_fields(_: Request, error: Exception) -> JSONResponse:
    """422 naming each field and what is wrong with it, never echoing the input."""
    assert isinstance(error, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in e["loc"] if p not in ("query", "path", "header")) or "query",
            "message": str(e["msg"]).removeprefix("Value error, "),
        }
        for e in error.errors()
    ]
    return JSONResponse({"detail": "the request has invalid fields", "errors": errors}, status_code=422)


class SecurityHeaders:
    """nosniff, no framing, same-origin referrers on every answer; no-store unless the route set caching."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [(n, v) for n, v in ALWAYS if n not in present]
                if b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)
