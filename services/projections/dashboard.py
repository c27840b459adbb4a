"""The ops dashboard: volume chart and table, drifting referrers, worklists and office scorecards,
and the facts the projector set aside (`quarantine.py`), when there are any.

Server-rendered with Jinja2 (autoescaped), filters in a plain GET form, charts as inline SVG:
no JavaScript and nothing loaded from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from referral_loop.web.audited import Access, audited
from referral_loop.web.auth import AGGREGATE_READERS, PATIENT_READERS, Public, StaffUser, page
from services.projections.api import all_items, run
from services.projections.charts import Series, bar_chart
from services.projections.db import Database
from services.projections.models import (
    Dimension,
    Scorecard,
    Trend,
    TrendStatus,
    VolumeFilter,
    VolumeReport,
    Worklists,
)
from services.projections.params import check_month, resolve_range
from services.projections.quarantine import QuarantinedFact, count, quarantined
from services.projections.queries.kpis import scorecards
from services.projections.queries.trends import trends
from services.projections.queries.volume import shift_month, volume
from services.projections.queries.worklists import worklists

HERE = Path(__file__).parent
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}
TOP_REFERRERS, WORKLIST_ROWS, TREND_WINDOW, QUARANTINE_ROWS = 5, 50, 6, 20
OPEN_LISTS = {"overdue", "awaiting_report"}
"""Shown open; the others are one click away (a <details>, no JavaScript)."""
LISTS = [
    ("overdue", "Consult reports overdue"),
    ("awaiting_report", "Seen, report not sent yet"),
    ("to_schedule", "Waiting for an appointment"),
    ("scheduled", "Appointment booked"),
    ("closed", "Loop closed (report sent)"),
]
DRIFTING = {TrendStatus.DECLINING, TrendStatus.LAPSED}
NO_WORKLISTS = Worklists(to_schedule=[], scheduled=[], awaiting_report=[], overdue=[], closed=[])

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
)
templates.filters["local_time"] = lambda moment, tz: moment.astimezone(ZoneInfo(tz)).strftime(
    "%Y-%m-%d %H:%M"
)
templates.filters["percent"] = lambda share: "—" if share is None else f"{share:.0%}"
templates.filters["days"] = lambda days: "—" if days is None else f"{days:.1f}"
templates.filters["reference"] = lambda referral_id: f"RL-{referral_id.replace('-', '')[:8].upper()}"


@dataclass(frozen=True)
class Board:
    volume: VolumeReport
    chart: Markup
    clinics: list[tuple[str, str]]
    trend_month: str
    drifting: list[tuple[str, Trend]]
    worklists: Worklists
    scorecards: list[Scorecard]
    quarantined: list[QuarantinedFact]
    """The latest facts set aside (at most QUARANTINE_ROWS); `set_aside` counts them all."""
    set_aside: int


@router.get("/static/style.css", dependencies=[Public])
def style() -> FileResponse:
    return FileResponse(
        HERE / "static" / "style.css", media_type="text/css", headers={"Cache-Control": "max-age=300"}
    )


@router.get("/favicon.ico", dependencies=[Public])
def favicon() -> Response:
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request,
    access: Annotated[Access, Depends(audited("read", "dashboard"))],
    user: Annotated[StaffUser, Depends(page(AGGREGATE_READERS))],
    first: Annotated[str, Query(alias="from", max_length=7)] = "",
    last: Annotated[str, Query(alias="to", max_length=7)] = "",
    clinic: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """The dashboard for the months and office chosen in the form (default: the last 12 months)."""
    errors = form_errors(first, last)
    if errors:
        filters = {"from": first, "to": last, "clinic": clinic}
        return render(request, user, filters=filters, errors=errors, board=None, status_code=422)
    (first_month, last_month), _ = resolve_range(first or None, last or None)
    filters = {"from": first_month, "to": last_month, "clinic": clinic}
    span = VolumeFilter(first_month=first_month, last_month=last_month, clinic=clinic or None)
    board = await run(request, collect, span, datetime.now(UTC), user.role in PATIENT_READERS)
    await access.allowed(user, (item.referral_id for item in all_items(board.worklists)))
    return render(request, user, filters=filters, errors={}, board=board)


def form_errors(first: str, last: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field, value in (("from", first), ("to", last)):
        try:
            check_month(value)
        except ValueError as error:
            errors[field] = str(error)
    return errors or resolve_range(first or None, last or None)[1]


def collect(db: Database, span: VolumeFilter, now: datetime, patients: bool) -> Board:
    """Everything the page shows, read in one go; the worklists (patient names) only for `patients`."""
    top = volume(db, Dimension.CLINIC, span, top=TOP_REFERRERS, limit=TOP_REFERRERS)
    offices = volume(db, Dimension.CLINIC, span.model_copy(update={"clinic": None}), limit=500)
    month = trend_month(span.last_month, now)
    drifting = [
        (kind.value, t)
        for kind in (Dimension.CLINIC, Dimension.PROVIDER)
        for t in trends(db, kind, month, window_months=TREND_WINDOW)
        if t.status in DRIFTING
    ]
    description = (
        f"Referrals per month from the top referring offices, {span.first_month} to {span.last_month}"
    )
    chart = bar_chart(top.months, [Series(r.key, r.label, r.months) for r in top.rows], description)
    options = sorted(((r.key, r.label) for r in offices.rows), key=lambda o: o[1].lower())
    lists = worklists(db, now, limit=WORKLIST_ROWS) if patients else NO_WORKLISTS
    aside = quarantined(db, QUARANTINE_ROWS)
    return Board(top, chart, options, month, drifting, lists, scorecards(db, span), aside, count(db))


def trend_month(last: str, now: datetime) -> str:
    """The range's last month, or the month before when that is this (unfinished) month."""
    current = now.strftime("%Y-%m")
    return shift_month(current, -1) if last >= current else last


def render(request: Request, user: StaffUser, status_code: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    html = templates.get_template("dashboard.html").render(
        user=user,
        practice_name=settings.practice_name,
        intake_url=request.app.state.intake_url,
        tz=settings.practice_timezone,
        lists=LISTS,
        trend_window=TREND_WINDOW,
        worklist_rows=WORKLIST_ROWS,
        open_lists=OPEN_LISTS,
        show_patients=user.role in PATIENT_READERS,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)
