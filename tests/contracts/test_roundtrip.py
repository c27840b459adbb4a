"""Every fact type survives JSON and back; parse_fact rejects what is not a fact."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from contracts import Actor, ActorKind, Fact, fact_from_dict, parse_fact
from contracts.events import FACT_TYPES

ACTOR = Actor(kind=ActorKind.STAFF, name="front-desk")
REFERRAL_ID = UUID("6f1c3a1e-93a4-4c53-9a4e-1f6f1b2a7c10")
AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
DELIVERY = {"message_id": "<r-1@referral-loop.example>", "sent_to": "reports@harbor.example"}
REFERRAL = {
    "patient": {"given_name": "Ada", "family_name": "Lovelace", "birth_date": "1980-04-02"},
    "referring_provider": {"name": "Dr. Grace Hopper", "npi": "1245319599"},
    "referring_clinic": {"name": "Harbor Family Medicine"},
    "requested_specialty": "cardiology",
    "reason": "Exertional chest pain.",
    "diagnosis_codes": ["r079"],
}
DATA: dict[str, dict[str, Any]] = {
    "ReferralReceived": REFERRAL,
    "ReferralAccepted": {"note": "Booked with Dr. Byron."},
    "ReferralDeclined": {"reason": "Outside our scope."},
    "ReferralCancelled": {},
    "AppointmentScheduled": {"appointment_at": AT.isoformat(), "location": "Suite 4"},
    "AppointmentCancelled": {"reason": "Patient asked to move it."},
    "PatientNoShow": {"appointment_at": AT.isoformat()},
    "PatientSeen": {
        "specialist": "Dr. Ada Byron",
        "findings": "Normal echo.",
        "assessment": "Stable angina.",
        "plan": "Start a beta blocker.",
        "recommendations": "Recheck blood pressure in 4 weeks.",
    },
    "ReturnVisitScheduled": {"return_visit_on": date(2026, 4, 1).isoformat()},
    "ReportSent": DELIVERY,
    "ThankYouSent": DELIVERY,
    "AcknowledgementSent": DELIVERY,
    "ReportDueSoon": {"due_at": "2026-12-14T00:00:00+00:00"},
    "ReportOverdue": {"due_at": "2026-12-14T00:00:00+00:00"},
    "ReportLate": {"due_at": "2026-12-14T00:00:00+00:00"},
    "FeedbackFailed": {"kind": "report", "reason": "RCPT 550 5.1.1 mailbox unavailable"},
    "PatientForgotten": {"requested_on": str(REFERRAL_ID)},
}


def build(fact_type: str) -> Fact:
    """A fact of this type made the way services make them, with Fact.new."""
    fact_class = FACT_TYPES[fact_type]
    data_class = fact_class.model_fields["data"].annotation
    assert isinstance(data_class, type)
    data = data_class.model_validate(DATA[fact_type])
    return fact_class.new(REFERRAL_ID, data, ACTOR, occurred_at=AT)


def test_every_fact_type_has_sample_data() -> None:
    assert set(DATA) == set(FACT_TYPES)


@pytest.mark.parametrize("fact_type", sorted(FACT_TYPES))
def test_a_fact_survives_json(fact_type: str) -> None:
    fact = build(fact_type)
    parsed = parse_fact(fact.model_dump_json())
    assert type(parsed) is FACT_TYPES[fact_type]
    assert parsed == fact
    assert parsed.type == fact_type


@pytest.mark.parametrize("fact_type", sorted(FACT_TYPES))
def test_a_fact_survives_a_json_dict(fact_type: str) -> None:
    fact = build(fact_type)
    assert fact_from_dict(fact.model_dump(mode="json")) == fact


def test_received_normalises_its_codes_before_the_wire() -> None:
    raw = json.loads(build("ReferralReceived").model_dump_json())
    assert raw["data"]["diagnosis_codes"] == ["R07.9"]
    assert raw["schema_version"] == 1


def wire(fact_type: str, **changes: Any) -> dict[str, Any]:
    """A fact as JSON-like data with top-level keys changed (a value of None removes the key)."""
    raw: dict[str, Any] = build(fact_type).model_dump(mode="json")
    raw.update(changes)
    return {key: value for key, value in raw.items() if value is not None}


def test_parse_fact_rejects_an_unknown_type() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_fact(json.dumps(wire("ReferralAccepted", type="ReferralTeleported")))
    assert caught.value.errors()[0]["type"] == "union_tag_invalid"


def test_parse_fact_rejects_a_fact_without_a_type() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_fact(json.dumps(wire("ReferralAccepted", type=None)))
    assert caught.value.errors()[0]["type"] == "union_tag_not_found"


@pytest.mark.parametrize("field", ["event_id", "referral_id", "occurred_at", "actor"])
def test_parse_fact_rejects_a_missing_field(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_fact(json.dumps(wire("ReferralDeclined", **{field: None})))
    error = caught.value.errors()[0]
    assert error["type"] == "missing"
    assert error["loc"] == ("ReferralDeclined", field)


def test_parse_fact_rejects_a_missing_body_field() -> None:
    raw = wire("ReferralDeclined", data={})
    with pytest.raises(ValidationError) as caught:
        parse_fact(json.dumps(raw))
    assert caught.value.errors()[0]["loc"] == ("ReferralDeclined", "data", "reason")


def test_parse_fact_rejects_a_naive_timestamp() -> None:
    raw = wire("ReferralAccepted", occurred_at="2026-03-02T14:30:00")
    with pytest.raises(ValidationError, match="timezone"):
        parse_fact(json.dumps(raw))


def test_parse_fact_rejects_another_schema_version() -> None:
    with pytest.raises(ValidationError):
        parse_fact(json.dumps(wire("ReferralAccepted", schema_version=2)))


def test_parse_fact_rejects_malformed_json() -> None:
    with pytest.raises(ValidationError):
        parse_fact(b"{not json")
