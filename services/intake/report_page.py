"""The consult report of one referral, for a signed-in user: where the link of a minimum-mode
email (`REFERRAL_LOOP_EMAIL_MODE=minimum`) leads, so the report itself never travels by email.

`GET /referrals/{id}/report`: the latest consult summary (PatientSeen) with the referral it
answers; 404 while the patient has not been seen. Signed-in staff who may see patients only
(clinician, intake, admin: never ops). Each look is audited: `read` on `report` with the referral's
id, or `failed` with none when there is no report to show.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse

from contracts.events import PatientSeen
from referral_loop.web.audited import Access, audited
from referral_loop.web.auth import PATIENT_READERS, StaffUser, page
from services.intake.pages import find, render

router = APIRouter(include_in_schema=False)
PatientReader = Annotated[StaffUser, Depends(page(PATIENT_READERS))]
Reading = Annotated[Access, Depends(audited("read", "report"))]


@router.get("/referrals/{referral_id}/report", response_class=HTMLResponse)
async def report_page(
    request: Request, referral_id: str, access: Reading, user: PatientReader
) -> HTMLResponse:
    view = await find(request, referral_id)
    seen = [fact for fact in view.timeline if isinstance(fact, PatientSeen)] if view else []
    if view is None or not seen:
        await access.failed(user, "HTTP 404")
        return render("report_missing.html", user, status.HTTP_404_NOT_FOUND, referral_id=referral_id)
    await access.allowed(user, [view.referral_id])
    data = view.received.data
    return render("report.html", user, referral_id=view.referral_id, data=data, seen=seen[-1])
