"""What a referral carries when it arrives: patient, referring provider and clinic, the request."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.fields import NPI, BirthDate, Email, ICD10Code, LongText, Phone, ScheduledDate, ShortText


class Contract(BaseModel):
    """Base for every contract model: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Priority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class Channel(StrEnum):
    WEB_FORM = "web_form"
    API = "api"
    FAX = "fax"
    PHONE = "phone"
    PORTAL = "portal"
    E_REFERRAL = "e_referral"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Insurance(Contract):
    payer: ShortText
    member_id: ShortText | None = None


class Patient(Contract):
    given_name: ShortText
    family_name: ShortText
    birth_date: BirthDate
    sex: Sex = Sex.UNKNOWN
    phone: Phone | None = None
    insurance: Insurance | None = None
    mrn: ShortText | None = None


class ReferringProvider(Contract):
    name: ShortText
    npi: NPI


class ReferringClinic(Contract):
    name: ShortText
    phone: Phone | None = None
    fax: Phone | None = None
    report_email: Email | None = Field(None, description="Where consult reports and notes go.")


class Attachment(Contract):
    """A document by reference: documents never travel on the bus."""

    title: ShortText
    uri: ShortText


class Referral(Contract):
    """The body of ReferralReceived: everything the referring office sent."""

    channel: Channel = Channel.API
    external_reference: ShortText | None = Field(
        None, description="The referring office's own referral number, if it has one."
    )
    patient: Patient
    referring_provider: ReferringProvider
    referring_clinic: ReferringClinic
    requested_specialty: ShortText
    requested_provider: ShortText | None = None
    requested_service: ShortText | None = None
    reason: LongText
    diagnosis_codes: list[ICD10Code] = Field(default_factory=list, max_length=12)
    priority: Priority = Priority.ROUTINE
    requested_by: ScheduledDate | None = None
    return_visit_on: ScheduledDate | None = Field(
        None, description="The patient's next visit with the referring provider, if known."
    )
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
