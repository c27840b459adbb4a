"""The staff web pages: the intake form, the list of recent referrals and each referral's status.

Server-rendered with Jinja2 (autoescaped), plain HTML forms, no JavaScript. Pages that show
patients, and the form that enters one, record in the audit log as the JSON API does, as the same actions (api.py).
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from contracts import icd10_cm
from contracts.forgetting import FORGOTTEN, FORGOTTEN_BIRTH_DATE
from contracts.referral import Patient
from referral_loop.web.auth import PATIENT_READERS, SUBMITTERS, Public, StaffUser, page
from services.intake.api import Creating, ReadingList, ReadingOne, status_of
from services.intake.form import FIELDS, GROUPS, KEY_FIELD, flat_values, initial_values, parse
from services.intake.idempotency import MAX_KEY_LENGTH, referral_id_for
from services.intake.reader import ReferralView
from services.intake.submission import submit_referral

HERE = Path(__file__).parent
STYLE = HERE / "static" / "style.css"
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
UNAVAILABLE = (
    "The referral could not be accepted: the referral system is unavailable right now. "
    "Nothing was saved. Please try again in a moment; what you typed is kept below."
)
KEY_REUSED = (
    "This form was already submitted with different details, so nothing new was saved. "
    "Check the list of referrals; submit again only if this is a separate referral."
)
FACT_WORDS = {
    "PatientNoShow": "Patient did not come (no-show)",
    "ReportSent": "Consult report sent",
    "ReportLate": "Consult report went out after its due time",
    "ThankYouSent": "Thank-you note sent",
    "ReturnVisitScheduled": "Return visit with the referring provider scheduled",
}

router = APIRouter(include_in_schema=False)
PatientPage = Annotated[StaffUser, Depends(page(PATIENT_READERS))]
EntryPage = Annotated[StaffUser, Depends(page(SUBMITTERS))]
EntryForm = Annotated[StaffUser, Depends(page(SUBMITTERS, form=True, submits=True))]


def in_words(fact_type: str) -> str:
    """`ReferralReceived` -> `Referral received`."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", fact_type).lower()
    return FACT_WORDS.get(fact_type, words[:1].upper() + words[1:])


def patient_name(patient: Patient) -> str:
    """The patient's name as staff read it; a forgotten patient's as one placeholder."""
    return FORGOTTEN if patient.given_name == FORGOTTEN else f"{patient.given_name} {patient.family_name}"


def born(birth_date: date) -> str:
    return FORGOTTEN if birth_date == FORGOTTEN_BIRTH_DATE else birth_date.isoformat()


def local_time(moment: datetime) -> str:
    """A moment in the practice's local time (this server's time zone)."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
)
templates.filters["in_words"] = in_words
templates.filters["patient_name"] = patient_name
templates.filters["born"] = born
templates.filters["local_time"] = local_time
templates.filters["icd10_description"] = icd10_cm.describe


def render(name: str, user: StaffUser, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(user=user, can_write=user.role in SUBMITTERS, **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def form_page(
    user: StaffUser,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    banner: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = {"groups": GROUPS, "fields": FIELDS, "key_field": KEY_FIELD, "values": values}
    return render("form.html", user, status_code, errors=errors or {}, banner=banner, **context)


def new_key() -> str:
    """A fresh Idempotency-Key per rendered form: a resubmitted form names the same referral."""
    return secrets.token_urlsafe(24)


def cross_site(request: Request) -> bool:
    """A form post from another site (the browser would send our Basic credentials along): refuse it."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    ours = {request.headers.get("host", ""), urlsplit(request.app.state.intake.base_url).netloc}
    return urlsplit(origin).netloc not in ours


@router.get("/", dependencies=[Public])
def home() -> RedirectResponse:
    return RedirectResponse("/referrals", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/static/style.css", dependencies=[Public])
def style() -> FileResponse:
    return FileResponse(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=300"})


@router.get("/referrals/new", response_class=HTMLResponse)
def new_referral(user: EntryPage) -> HTMLResponse:
    return form_page(user, initial_values() | {KEY_FIELD: new_key()})


@router.post("/referrals/new", response_class=HTMLResponse)
async def submit_new_referral(request: Request, access: Creating, user: EntryForm) -> HTMLResponse:
    if cross_site(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "submit referrals from the Referral Loop form")
    async with request.form() as submitted:
        values = flat_values(submitted.multi_items())
    parsed = parse(values)
    if parsed.referral is None:
        await access.failed(user, "HTTP 422")
        return form_page(user, values, parsed.errors, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    key = values.get(KEY_FIELD, "")[:MAX_KEY_LENGTH] or None
    referral_id = referral_id_for(user.name, key)
    await access.allowed(user, [referral_id])  # no audit, no referral; a resubmitted form too
    intake = request.app.state.intake
    try:
        accepted = await submit_referral(intake, parsed.referral, referral_id, user, key, parsed.received_at)
    except HTTPException as error:
        await access.undone(f"HTTP {error.status_code}")  # nothing was saved: say so in the trail
        return not_accepted(user, values, error)
    return render("submitted.html", user, accepted=accepted)


def not_accepted(user: StaffUser, values: dict[str, str], error: HTTPException) -> HTMLResponse:
    """The bus is down (try again, same key), or the key was used for other details (new key)."""
    if error.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        return form_page(user, values, banner=UNAVAILABLE, status_code=error.status_code)
    if error.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
        fresh = values | {KEY_FIELD: new_key()}
        return form_page(user, fresh, banner=KEY_REUSED, status_code=status.HTTP_409_CONFLICT)
    raise error


@router.get("/referrals", response_class=HTMLResponse)
async def referral_list(request: Request, access: ReadingList, user: PatientPage) -> HTMLResponse:
    views = await request.app.state.intake.reader.recent(50)
    await access.allowed(user, (v.referral_id for v in views))
    return render("referrals.html", user, referrals=[status_of(v) for v in views])


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
async def referral_page(
    request: Request, referral_id: str, access: ReadingOne, user: PatientPage
) -> HTMLResponse:
    view = await find(request, referral_id)
    if view is None:
        await access.failed(user, "HTTP 404")
        return render("not_found.html", user, status.HTTP_404_NOT_FOUND)
    await access.allowed(user, [view.referral_id])
    return render(
        "referral.html", user, referral=status_of(view), data=view.received.data, unreadable=view.unreadable
    )


async def find(request: Request, referral_id: str) -> ReferralView | None:
    try:
        parsed = UUID(referral_id)
    except ValueError:
        return None
    view: ReferralView | None = await request.app.state.intake.reader.get(parsed)
    return view
