"""Builders of valid referral facts for tests: one place to know what a good referral looks like."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from contracts import Actor, ActorKind
from contracts.events import (
    Appointment,
    AppointmentScheduled,
    ConsultSummary,
    Forgetting,
    Note,
    PatientForgotten,
    PatientSeen,
    Reason,
    ReferralAccepted,
    ReferralCancelled,
    ReferralDeclined,
    ReferralReceived,
)
from contracts.forgetting import STORED_CONTEXT
from contracts.referral import Referral

STAFF = Actor(kind=ActorKind.STAFF, name="intake-tester")
VALID_NPI = "1234567893"


def referral_body(**overrides: Any) -> dict[str, Any]:
    """A valid referral as JSON-like data, as the API and form receive it."""
    body: dict[str, Any] = {
        "channel": "api",
        "external_reference": "REF-1001",
        "patient": {
            "given_name": "Ada",
            "family_name": "Lovelace",
            "birth_date": "1980-04-02",
            "sex": "female",
            "phone": "+15550100199",
            "insurance": {"payer": "Acme Health", "member_id": "M-42"},
        },
        "referring_provider": {"name": "Dr. Grace Hopper", "npi": VALID_NPI},
        "referring_clinic": {
            "name": "Harbor Family Medicine",
            "phone": "+15550100100",
            "fax": "+15550100101",
            "report_email": "reports@harbor.example",
        },
        "requested_specialty": "cardiology",
        "reason": "Exertional chest pain, abnormal ECG.",
        "diagnosis_codes": ["R07.9", "I10"],
        "priority": "urgent",
        "return_visit_on": "2026-12-15",
    }
    body.update(overrides)
    return body


def received(referral_id: UUID | None = None, **overrides: Any) -> ReferralReceived:
    data = Referral.model_validate(referral_body(**overrides))
    return ReferralReceived.new(referral_id or uuid4(), data, STAFF)


def received_before_the_rules(referral_id: UUID | None = None, **overrides: Any) -> ReferralReceived:
    """A referral as a store may hold it from before the edge's rules (control characters in a
    name, say): validated as recorded facts are (STORED_CONTEXT), for defences further in."""
    data = Referral.model_validate(referral_body(**overrides), context=STORED_CONTEXT)
    return ReferralReceived.new(referral_id or uuid4(), data, STAFF)


def accepted(referral_id: UUID) -> ReferralAccepted:
    return ReferralAccepted.new(referral_id, Note(), STAFF)


def declined(referral_id: UUID) -> ReferralDeclined:
    return ReferralDeclined.new(referral_id, Reason(reason="Outside our scope."), STAFF)


def cancelled(referral_id: UUID) -> ReferralCancelled:
    return ReferralCancelled.new(referral_id, ReferralCancelled.model_fields["data"].default, STAFF)


def scheduled(referral_id: UUID, at: datetime | None = None) -> AppointmentScheduled:
    when = at or datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    return AppointmentScheduled.new(referral_id, Appointment(appointment_at=when), STAFF)


def seen(referral_id: UUID) -> PatientSeen:
    summary = ConsultSummary(
        specialist="Dr. Ada Byron",
        findings="Normal echo.",
        assessment="Stable angina.",
        plan="Start beta blocker.",
        recommendations="Recheck BP in 4 weeks.",
    )
    return PatientSeen.new(referral_id, summary, STAFF)


def forgotten(referral_id: UUID, requested_on: UUID | None = None) -> PatientForgotten:
    return PatientForgotten.new(referral_id, Forgetting(requested_on=requested_on or referral_id), STAFF)
