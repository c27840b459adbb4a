"""The ops web app: the reports API and the dashboard over the read models, read only.

Protected as intake is (`referral_loop/web/guard.py`): roles on every route, sign-in, security headers,
a body size limit. The ops role sees aggregates only: worklists name patients and are not shown to it.
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

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.ops import checks, threads
from referral_loop.ops.endpoints import Ops
from referral_loop.settings import Settings
from referral_loop.web.audit import AuditLog
from referral_loop.web.guard import protect
from services.projections import api, audit_api, dashboard, schema
from services.projections.db import Database

DESCRIPTION = """Referral volume, trends, worklists, loop KPIs, office scorecards and CMS50, read from
the read models. A bearer token (`referral-loop users add-token`) or HTTP Basic; aggregates for every
role, worklists (patient names) for every role but ops. Add `format=csv` for CSV."""


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
    app.add_exception_handler(RequestValidationError, invalid_fields)
    app.state.audit = AuditLog(settings, "projections")
    for router in (api.router, dashboard.router, audit_api.router):
        app.include_router(router)
    ops = ops or Ops("projections", [checks.blocking("views", lambda: views_writable(database))])
    protect(app, settings, "ops", home="/", ops=ops)
    return app


def views_writable(db: Database) -> None:
    """A write transaction on the views that changes nothing (blocking)."""
    position = schema.tables("")["view_position"]
    with db.transaction() as cursor:
        cursor.execute(f"UPDATE {position} SET position = position WHERE 1 = 0")


def owning(database: Database) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Tables created at startup (empty reports until the projector has run), connection closed at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(schema.create, database)
        yield
        await threads.finished()  # no readiness probe still in the views as they close
        database.close()
        app.state.guard.close()

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
