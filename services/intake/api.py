"""The JSON API: submit a referral, record its later facts, read its status and timeline.

Every route records in the audit log (referral_loop/web/audited.py): reads as `read` on `referrals`
(the list) or `referral` (one), with exactly the ids shown; writes as `create` on the fact's type
(`ReferralReceived`, `PatientSeen` ...) with the referral's id, before publishing, retries included.
A lifecycle fact for a referral the store does not know, after a short wait, is a 404, audited as
failed, nothing published; its Idempotency-Key used before with another body, a 422
(`lifecycle.py`).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from contracts import Fact, events, icd10_cm
from contracts.fields import EventTime
from contracts.referral import Referral
from referral_loop.web.audited import Access, audited
from referral_loop.web.auth import PatientReader, Recorder, Submitter
from services.intake.commands import FactRejected, build_fact, split_occurred_at, with_occurred_at
from services.intake.idempotency import MAX_KEY_LENGTH, referral_id_for
from services.intake.lifecycle import is_retry
from services.intake.reader import ReferralView
from services.intake.submission import Accepted, Intake, accepted, submit_fact, submit_referral

router = APIRouter(prefix="/api")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=MAX_KEY_LENGTH)]
Creating = Annotated[Access, Depends(audited("create", "ReferralReceived"))]
ReadingList = Annotated[Access, Depends(audited("read", "referrals"))]
ReadingOne = Annotated[Access, Depends(audited("read", "referral"))]


class ReferralSubmission(Referral):
    received_at: EventTime | None = Field(
        None, description="When the referral reached the practice (starts the waiting clock); default now."
    )


class TimelineEntry(BaseModel):
    type: str
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    actor: str
    data: dict[str, Any]


class Diagnosis(BaseModel):
    code: str = Field(description="ICD-10-CM, with its dot.")
    description: str | None = Field(description="What the code means (CMS's ICD-10-CM); None if unknown.")


class ReferralStatus(BaseModel):
    referral_id: UUID
    status: str
    received_at: AwareDatetime
    referring_clinic: str
    requested_specialty: str
    priority: str
    diagnoses: list[Diagnosis]
    timeline: list[TimelineEntry]


def status_of(view: ReferralView) -> ReferralStatus:
    timeline = [
        TimelineEntry(
            type=f.type,
            occurred_at=f.occurred_at,
            recorded_at=f.recorded_at,
            actor=f.actor.name,
            data=f.model_dump(mode="json")["data"],
        )
        for f in view.timeline
    ]
    data = view.received.data
    return ReferralStatus(
        referral_id=view.referral_id,
        status=view.status.value,
        received_at=view.received_at,
        referring_clinic=data.referring_clinic.name,
        requested_specialty=data.requested_specialty,
        priority=data.priority.value,
        diagnoses=[
            Diagnosis(code=code, description=icd10_cm.describe(code)) for code in data.diagnosis_codes
        ],
        timeline=timeline,
    )


def referral_of(body: ReferralSubmission) -> Referral:
    """The referral without intake's own field; validated once already, so not validated again."""
    fields = {name: getattr(body, name) for name in Referral.model_fields}
    return Referral.model_construct(body.model_fields_set - {"received_at"}, **fields)


@router.post("/referrals", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def post_referral(
    request: Request, body: ReferralSubmission, access: Creating, user: Submitter, key: IdempotencyKey = None
) -> Accepted:
    """Accept a referral: answered only after JetStream has acknowledged the ReferralReceived fact."""
    referral = referral_of(body)
    referral_id = referral_id_for(user.name, key)
    await access.allowed(user, [referral_id])  # no audit, no referral; a retry is recorded too
    return await submit_referral(request.app.state.intake, referral, referral_id, user, key, body.received_at)


@router.get("/referrals", response_model=list[ReferralStatus])
async def list_referrals(
    request: Request, access: ReadingList, user: PatientReader, limit: int = 50
) -> list[ReferralStatus]:
    """The most recently received referrals, newest first."""
    views = await request.app.state.intake.reader.recent(max(1, min(limit, 200)))
    await access.allowed(user, (v.referral_id for v in views))
    return [status_of(v) for v in views]


@router.get("/referrals/{referral_id}", response_model=ReferralStatus)
async def get_referral(
    request: Request, referral_id: UUID, access: ReadingOne, user: PatientReader
) -> ReferralStatus:
    """A referral's status and timeline, read from the event store."""
    view = await request.app.state.intake.reader.get(referral_id)
    if view is None:  # recorded as failed, no ids, by the audit dependency
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no referral with this id has been recorded")
    await access.allowed(user, [referral_id])
    return status_of(view)


LIFECYCLE: dict[str, tuple[type[Fact], type[BaseModel], str]] = {
    "accept": (events.ReferralAccepted, events.Note, "The practice accepts the referral."),
    "decline": (events.ReferralDeclined, events.Reason, "The practice declines the referral, with a reason."),
    "cancel": (events.ReferralCancelled, events.OptionalReason, "The referral is cancelled."),
    "appointment": (
        events.AppointmentScheduled,
        events.Appointment,
        "An appointment is booked (or rebooked).",
    ),
    "appointment/cancel": (
        events.AppointmentCancelled,
        events.OptionalReason,
        "The appointment is cancelled.",
    ),
    "no-show": (events.PatientNoShow, events.MissedAppointment, "The patient did not come."),
    "seen": (events.PatientSeen, events.ConsultSummary, "The patient was seen: the consult summary."),
    "return-visit": (
        events.ReturnVisitScheduled,
        events.ReturnVisit,
        "The patient's next visit with the referring provider.",
    ),
}


def lifecycle_endpoint(fact_class: type[Fact], data_model: type[BaseModel], doc: str) -> Any:
    body_model = with_occurred_at(data_model)
    fact_type: str = fact_class.model_fields["type"].default

    async def endpoint(
        request: Request,
        referral_id: UUID,
        body: BaseModel,
        access: Access,
        user: Recorder,
        key: IdempotencyKey = None,
    ) -> Accepted:
        intake: Intake = request.app.state.intake
        try:
            data, occurred_at = split_occurred_at(body, data_model)
            fact = build_fact(fact_class, referral_id, data, user, key, occurred_at)
            retry = await is_retry(intake.reader, intake.keys, fact, occurred_at, key, intake.unknown_wait_s)
        except FactRejected as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
        await access.allowed(user, [referral_id])  # no audit, no fact; a retry is recorded too
        return accepted(intake, fact) if retry else await submit_fact(intake, fact)

    endpoint.__doc__ = doc
    # Local values: resolved here, not by name. Audited before the role check (see audited.py).
    endpoint.__annotations__["body"] = body_model
    endpoint.__annotations__["access"] = Annotated[Access, Depends(audited("create", fact_type))]
    return endpoint


for _path, (_fact, _data, _doc) in LIFECYCLE.items():
    router.add_api_route(
        f"/referrals/{{referral_id}}/{_path}",
        lifecycle_endpoint(_fact, _data, _doc),
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Accepted,
        name=f"referral_{_path.replace('/', '_')}",
        summary=_doc,
    )
