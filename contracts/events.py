"""The referral lifecycle's facts, each a versioned envelope with its own body.

Bump an event's `schema_version` whenever its schema changes; `make contracts` exports the
JSON Schema of each version and a test fails when a schema changes without a bump.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Final, Literal, TypeAlias, Union
from uuid import UUID

from pydantic import Field, TypeAdapter

from contracts.envelope import Fact
from contracts.fields import Email, LongText, RecordedTime, ScheduledDate, ScheduledTime, ShortText
from contracts.forgetting import FORGOTTEN_CONTEXT, STORED_CONTEXT
from contracts.referral import Contract, Referral


class Note(Contract):
    note: LongText | None = None


class Reason(Contract):
    reason: LongText


class OptionalReason(Contract):
    reason: LongText | None = None


class Appointment(Contract):
    appointment_at: ScheduledTime
    provider: ShortText | None = None
    location: ShortText | None = None


class MissedAppointment(Contract):
    appointment_at: ScheduledTime | None = None


class ConsultSummary(Contract):
    """What the specialist found, for the consult report to the referring provider."""

    specialist: ShortText
    findings: LongText
    assessment: LongText
    plan: LongText
    recommendations: LongText = Field(description="Recommendations to the referring provider.")


class ReturnVisit(Contract):
    return_visit_on: ScheduledDate = Field(
        description="The patient's next visit with the referring provider."
    )


class Delivery(Contract):
    """An email the referring office's server accepted. The Message-ID makes a resend recognisable."""

    message_id: ShortText
    sent_to: Email


class FeedbackKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    REPORT = "report"
    THANK_YOU = "thank_you"


class Deadline(Contract):
    """When the consult report is due: before the patient's return visit to the referring provider."""

    due_at: RecordedTime


class DeliveryFailed(Contract):
    """An email that can never be delivered as it is (5xx, bad address, no address): escalated to ops."""

    kind: FeedbackKind
    reason: ShortText


class Forgetting(Contract):
    """A patient's details erased on request: their data key destroyed (crypto-shredding).

    Recorded on each of the patient's referrals; names the referral the request was made on."""

    requested_on: UUID = Field(description="The referral named when the erasure was requested.")


class ReferralReceived(Fact):
    type: Literal["ReferralReceived"] = "ReferralReceived"
    schema_version: Literal[1] = 1
    data: Referral


class ReferralAccepted(Fact):
    type: Literal["ReferralAccepted"] = "ReferralAccepted"
    schema_version: Literal[1] = 1
    data: Note = Note()


class ReferralDeclined(Fact):
    type: Literal["ReferralDeclined"] = "ReferralDeclined"
    schema_version: Literal[1] = 1
    data: Reason


class ReferralCancelled(Fact):
    type: Literal["ReferralCancelled"] = "ReferralCancelled"
    schema_version: Literal[1] = 1
    data: OptionalReason = OptionalReason()


class AppointmentScheduled(Fact):
    type: Literal["AppointmentScheduled"] = "AppointmentScheduled"
    schema_version: Literal[1] = 1
    data: Appointment


class AppointmentCancelled(Fact):
    type: Literal["AppointmentCancelled"] = "AppointmentCancelled"
    schema_version: Literal[1] = 1
    data: OptionalReason = OptionalReason()


class PatientNoShow(Fact):
    type: Literal["PatientNoShow"] = "PatientNoShow"
    schema_version: Literal[1] = 1
    data: MissedAppointment = MissedAppointment()


class PatientSeen(Fact):
    type: Literal["PatientSeen"] = "PatientSeen"
    schema_version: Literal[1] = 1
    data: ConsultSummary


class ReturnVisitScheduled(Fact):
    type: Literal["ReturnVisitScheduled"] = "ReturnVisitScheduled"
    schema_version: Literal[1] = 1
    data: ReturnVisit


class ReportSent(Fact):
    type: Literal["ReportSent"] = "ReportSent"
    schema_version: Literal[1] = 1
    data: Delivery


class ThankYouSent(Fact):
    type: Literal["ThankYouSent"] = "ThankYouSent"
    schema_version: Literal[1] = 1
    data: Delivery


class AcknowledgementSent(Fact):
    type: Literal["AcknowledgementSent"] = "AcknowledgementSent"
    schema_version: Literal[1] = 1
    data: Delivery


class ReportDueSoon(Fact):
    type: Literal["ReportDueSoon"] = "ReportDueSoon"
    schema_version: Literal[1] = 1
    data: Deadline


class ReportOverdue(Fact):
    type: Literal["ReportOverdue"] = "ReportOverdue"
    schema_version: Literal[1] = 1
    data: Deadline


class ReportLate(Fact):
    """The consult report went out after its due time (`due_at`): feedback records it when the
    server accepted the report, instead of escalating; the late-report KPI counts it."""

    type: Literal["ReportLate"] = "ReportLate"
    schema_version: Literal[1] = 1
    data: Deadline


class FeedbackFailed(Fact):
    type: Literal["FeedbackFailed"] = "FeedbackFailed"
    schema_version: Literal[1] = 1
    data: DeliveryFailed


class PatientForgotten(Fact):
    type: Literal["PatientForgotten"] = "PatientForgotten"
    schema_version: Literal[1] = 1
    data: Forgetting


class Publisher(StrEnum):
    """Who puts a fact on the bus."""

    INTAKE = "intake"
    """Staff, through intake's form and API."""
    FEEDBACK = "feedback"
    """Feedback: the letters it sent (or could not) and the deadlines it watches."""
    FORGET_PATIENT = "forget-patient"
    """The operator's `referral-loop forget-patient` command, erasing a patient on request."""


PUBLISHED_BY: Final[dict[type[Fact], Publisher]] = {
    ReferralReceived: Publisher.INTAKE,
    ReferralAccepted: Publisher.INTAKE,
    ReferralDeclined: Publisher.INTAKE,
    ReferralCancelled: Publisher.INTAKE,
    AppointmentScheduled: Publisher.INTAKE,
    AppointmentCancelled: Publisher.INTAKE,
    PatientNoShow: Publisher.INTAKE,
    PatientSeen: Publisher.INTAKE,
    ReturnVisitScheduled: Publisher.INTAKE,
    ReportSent: Publisher.FEEDBACK,
    ThankYouSent: Publisher.FEEDBACK,
    AcknowledgementSent: Publisher.FEEDBACK,
    ReportDueSoon: Publisher.FEEDBACK,
    ReportOverdue: Publisher.FEEDBACK,
    ReportLate: Publisher.FEEDBACK,
    FeedbackFailed: Publisher.FEEDBACK,
    PatientForgotten: Publisher.FORGET_PATIENT,
}
"""The one list of fact types, each with who publishes it. Everything else derives from it: the
union below, the store's event classes (a test holds them to it), the NATS permissions
(`referral_loop.messaging.nats_auth`) and the AsyncAPI document (`contracts.asyncapi`)."""

FACTS: Final[tuple[type[Fact], ...]] = tuple(PUBLISHED_BY)
"""Every fact class, in the order of the list."""


def type_name(fact_class: type[Fact]) -> str:
    """The fact class's `type`, e.g. "ReferralReceived" (the default of its Literal field)."""
    name = fact_class.model_fields["type"].default
    if not isinstance(name, str):
        raise TypeError(f"{fact_class.__name__}.type has no string default")
    return name


FACT_TYPES: Final[dict[str, type[Fact]]] = {type_name(c): c for c in FACTS}
"""Every fact class by its `type`."""


if TYPE_CHECKING:  # a union built at run time is no type a checker can read: to it, any Fact
    AnyFact: TypeAlias = Fact
else:  # Union[...] because `|` cannot join a tuple of classes
    AnyFact = Annotated[Union[FACTS], Field(discriminator="type")]  # noqa: UP007
"""Any fact, told apart by `type`: the discriminated union of the list's classes."""

_FACT = TypeAdapter(AnyFact)


def parse_fact(raw: bytes | str) -> Fact:
    """Decode one fact from JSON (as published: the edge checked it against the present, so only
    the absolute bounds apply here); raises pydantic.ValidationError when it is not a valid fact."""
    fact: Fact = _FACT.validate_json(raw, context=STORED_CONTEXT)
    return fact


def fact_from_dict(raw: dict[str, object], forgotten: bool = False) -> Fact:
    """Decode one fact from a JSON-like dict as kept in the event store (`STORED_CONTEXT`: absolute
    bounds only). `forgotten`: the
    patient's details in it were erased and replaced by `contracts.forgetting`'s placeholders."""
    fact: Fact = _FACT.validate_python(raw, context=FORGOTTEN_CONTEXT if forgotten else STORED_CONTEXT)
    return fact
