"""The ops JSON API over the read models: volume, trends, worklists, KPIs, scorecards, CMS50.

Every endpoint is a GET for a signed-in caller of any role (worklists, which name patients: any
role but ops) and also answers CSV
with `?format=csv`. Months are 'YYYY-MM'; a range defaults to the 12 months ending this month.
Months and `as_of` must fall in the years 1990 to 2100 (`params.py`): a 422 naming them otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Concatenate, Literal, ParamSpec, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from referral_loop.web.audited import Access, audited
from referral_loop.web.auth import AggregateReader, PatientReader, api
from referral_loop.web.users import Role, User
from services.projections import csv_export as csv
from services.projections.db import Database
from services.projections.models import (
    Cms50,
    Dimension,
    Kpis,
    Scorecard,
    Trend,
    VolumeFilter,
    VolumeReport,
    WorkItem,
    Worklists,
)
from services.projections.params import MAX_MONTHS as MAX_MONTHS  # re-exported for the report CLI
from services.projections.params import AsOf, Month
from services.projections.params import check_month as check_month
from services.projections.params import parse_as_of as parse_as_of
from services.projections.params import resolve_range as resolve_range
from services.projections.quarantine import QuarantinedFact, quarantined
from services.projections.queries.kpis import cms50, kpis, scorecards
from services.projections.queries.trends import trends
from services.projections.queries.volume import volume
from services.projections.queries.worklists import worklists

P = ParamSpec("P")
T = TypeVar("T")
router = APIRouter(prefix="/api", tags=["reports"])
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}, "description": "JSON or CSV"}}
LISTS = Literal["to_schedule", "scheduled", "awaiting_report", "overdue", "closed"]

Format = Annotated[Literal["json", "csv"], Query(alias="format", description="json (default) or csv")]


async def run(request: Request, query: Callable[Concatenate[Database, P], T], *a: P.args, **k: P.kwargs) -> T:
    """Run a blocking query in a worker thread; one query at a time on the app's one connection."""
    state = request.app.state

    def locked() -> T:
        with state.db_lock:
            return query(state.db, *a, **k)

    return await asyncio.to_thread(locked)


def window(
    first: Annotated[Month, Query(alias="from", description="First month, 'YYYY-MM'.")] = None,
    last: Annotated[Month, Query(alias="to", description="Last month, 'YYYY-MM'.")] = None,
    clinic: Annotated[str | None, Query(max_length=200, description="Only this referring office.")] = None,
    provider: Annotated[str | None, Query(max_length=20, description="Only this provider (NPI).")] = None,
    specialty: Annotated[str | None, Query(max_length=100, description="Only this specialty.")] = None,
    as_of: AsOf = None,
) -> VolumeFilter:
    """The months (at most MAX_MONTHS), the filters and the moment a report looks at."""
    (first_month, last_month), errors = resolve_range(first, last)
    if errors:
        raise RequestValidationError([field_error(f, m) for f, m in errors.items()])
    return VolumeFilter(
        first_month=first_month,
        last_month=last_month,
        clinic=clinic or None,
        provider_npi=provider or None,
        specialty=specialty or None,
        as_of=as_of,
    )


def field_error(field: str, message: str) -> dict[str, Any]:
    return {"loc": ("query", field), "msg": message, "type": "value_error"}


Window = Annotated[VolumeFilter, Depends(window)]


def answer(found: Any, fmt: str, name: str, rows: Callable[[], list[list[str]]]) -> Response:
    if fmt == "json":
        return JSONResponse(jsonable_encoder(found))
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(csv.to_csv(rows()), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/volume", response_model=VolumeReport, responses=CSV)
async def get_volume(
    request: Request,
    _: AggregateReader,
    span: Window,
    by: Dimension = Dimension.CLINIC,
    fmt: Format = "json",
    top: Annotated[int | None, Query(ge=1, le=500, description="Only the N largest by total.")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Referrals per month by one dimension, with the same months a year earlier."""
    report = await run(request, volume, by, span, top=top, offset=offset, limit=limit)
    name = f"volume-{by.value}-{span.first_month}-{span.last_month}"
    return answer(report, fmt, name, lambda: csv.volume_rows(report))


@router.get("/trends", response_model=list[Trend], responses=CSV)
async def get_trends(
    request: Request,
    _: AggregateReader,
    by: Literal["clinic", "provider"] = "clinic",
    month: Month = None,
    window_months: Annotated[int, Query(alias="window", ge=1, le=MAX_MONTHS)] = 6,
    as_of: AsOf = None,
    fmt: Format = "json",
) -> Response:
    """Each referrer's month against its trailing average: new, growing, steady, declining or lapsed."""
    chosen = month or datetime.now(UTC).strftime("%Y-%m")
    found = await run(request, trends, Dimension(by), chosen, window_months=window_months, as_of=as_of)
    return answer(found, fmt, f"trends-{by}-{chosen}", lambda: csv.model_rows(found, Trend))


@router.get("/worklists", response_model=Worklists, responses=CSV)
async def get_worklists(
    request: Request,
    access: Annotated[Access, Depends(audited("read", "worklists"))],
    user: PatientReader,
    fmt: Format = "json",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    list_name: Annotated[LISTS | None, Query(alias="list", description="Which list, for CSV.")] = None,
) -> Response:
    """Open referrals by what they wait for (with patient names: every role but ops)."""
    if fmt == "csv" and list_name is None:
        raise RequestValidationError([field_error("list", "choose a list for CSV, e.g. list=overdue")])
    found = await run(request, worklists, datetime.now(UTC), limit=limit)
    items = getattr(found, list_name or "overdue")
    shown = items if fmt == "csv" else all_items(found)
    await access.allowed(user, (i.referral_id for i in shown), "export" if fmt == "csv" else "read")
    return answer(found, fmt, f"worklist-{list_name}", lambda: csv.model_rows(items, WorkItem))


def all_items(found: Worklists) -> list[WorkItem]:
    """Every row of every list: what a JSON answer shows."""
    return [item for name in Worklists.model_fields for item in getattr(found, name)]


@router.get("/kpis", response_model=list[Kpis], responses=CSV)
async def get_kpis(request: Request, _: AggregateReader, span: Window, fmt: Format = "json") -> Response:
    """Loop KPIs per month of referral: lead time, no-shows, report turnaround."""
    found = await run(request, kpis, span)
    name = f"kpis-{span.first_month}-{span.last_month}"
    return answer(found, fmt, name, lambda: csv.model_rows(found, Kpis))


@router.get("/scorecards", response_model=list[Scorecard], responses=CSV)
async def get_scorecards(
    request: Request, _: AggregateReader, span: Window, fmt: Format = "json"
) -> Response:
    """Each referring office's scorecard over the months."""
    found = await run(request, scorecards, span)
    name = f"scorecards-{span.first_month}-{span.last_month}"
    return answer(found, fmt, name, lambda: csv.model_rows(found, Scorecard))


@router.get("/cms50", response_model=Cms50, responses=CSV)
async def get_cms50(
    request: Request,
    _: AggregateReader,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    clinic: Annotated[str | None, Query(max_length=200)] = None,
    as_of: AsOf = None,
    fmt: Format = "json",
) -> Response:
    """CMS50 closing the referral loop for one year: referred patients whose report came back."""
    chosen = year or datetime.now(UTC).year
    found = await run(request, cms50, chosen, clinic=clinic or None, as_of=as_of)
    return answer(found, fmt, f"cms50-{chosen}", lambda: csv.model_rows([found], Cms50))


OpsReader = Annotated[User, Depends(api(frozenset({Role.OPS, Role.ADMIN})))]


@router.get("/quarantine", response_model=list[QuarantinedFact])
async def get_quarantine(
    request: Request,
    access: Annotated[Access, Depends(audited("read", "quarantine"))],
    user: OpsReader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[QuarantinedFact]:
    """The facts the projector set aside (it could not read or apply them), the latest first: store
    position, fact type, referral and event ids, the reason (no values) and when. Ops and admins."""
    found = await run(request, quarantined, limit)
    await access.allowed(user, [])
    return found
