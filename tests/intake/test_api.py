"""The JSON API's handlers: validation, roles, idempotency, limits (publisher recorded, store real)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from tests.intake.conftest import Intake
from tests.support import referrals as make


def published(intake: Intake) -> list[Any]:
    return intake.app.state.intake.publisher.facts  # type: ignore[no-any-return]


def record(intake: Intake, *facts: Any) -> None:
    ledger = open_ledger(intake.settings)
    ledger.record_batch([Positioned(i + 1000, f) for i, f in enumerate(facts)])
    ledger.close()


async def test_a_valid_referral_is_accepted_with_its_id_and_status_url(intake: Intake) -> None:
    async with intake.client() as client:
        response = await client.post("/api/referrals", json=make.referral_body())
    assert response.status_code == 202
    body = response.json()
    (fact,) = published(intake)
    assert fact.type == "ReferralReceived" and str(fact.referral_id) == body["referral_id"]
    assert body["status_url"] == f"http://intake.test/api/referrals/{body['referral_id']}"
    assert fact.actor.name == "intake"
    assert fact.data.referring_provider.npi == "1234567893"


async def test_invalid_fields_are_named_with_what_is_wrong_and_nothing_is_published(intake: Intake) -> None:
    body = make.referral_body(reason="", diagnosis_codes=["12345"], priority="whenever")
    body["referring_provider"] = {"name": "Dr. X", "npi": "1234567890"}
    body["patient"] = {**body["patient"], "birth_date": "2999-01-01", "phone": "555-CALL"}
    async with intake.client() as client:
        response = await client.post("/api/referrals", json=body)
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {
        "reason",
        "diagnosis_codes.0",
        "priority",
        "referring_provider.npi",
        "patient.birth_date",
        "patient.phone",
    }
    assert "check digit" in errors["referring_provider.npi"]
    assert "future" in errors["patient.birth_date"]
    assert "complete phone number" in errors["patient.phone"]
    assert "555-CALL" not in response.text
    assert published(intake) == []


async def test_the_same_idempotency_key_names_the_same_referral(intake: Intake) -> None:
    headers = {"Idempotency-Key": "fax-2026-11-22-0007"}
    async with intake.client() as client:
        first = await client.post("/api/referrals", json=make.referral_body(), headers=headers)
        second = await client.post("/api/referrals", json=make.referral_body(), headers=headers)
    assert first.json()["referral_id"] == second.json()["referral_id"]
    assert published(intake)[0].event_id == published(intake)[1].event_id


async def test_an_idempotency_key_reused_for_a_different_recorded_referral_is_refused(intake: Intake) -> None:
    headers = {"Idempotency-Key": "k-1"}
    async with intake.client() as client:
        first = await client.post("/api/referrals", json=make.referral_body(), headers=headers)
        record(intake, published(intake)[0])
        again = await client.post("/api/referrals", json=make.referral_body(), headers=headers)
        other = await client.post("/api/referrals", json=make.referral_body(reason="Other."), headers=headers)
    assert again.status_code == 202 and again.json() == first.json()
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    assert len(published(intake)) == 1


async def test_ops_can_neither_read_patients_nor_submit(intake: Intake) -> None:
    async with intake.client("ops") as client:
        posted = await client.post("/api/referrals", json=make.referral_body())
        listed = await client.get("/api/referrals")
    assert posted.status_code == 403
    assert listed.status_code == 403
    assert published(intake) == []


async def test_every_api_endpoint_needs_a_signed_in_caller(intake: Intake) -> None:
    async with intake.client(None) as client:
        assert (await client.post("/api/referrals", json=make.referral_body())).status_code == 401
        assert (await client.get("/api/referrals")).status_code == 401
        assert (await client.get("/healthz")).status_code == 200
    async with intake.client(None) as client:
        wrong = await client.get("/api/referrals", auth=("intake", "not-the-password"))
    assert wrong.status_code == 401


async def test_a_body_over_the_limit_is_refused_with_413(intake: Intake) -> None:
    huge = make.referral_body(reason="x" * (intake.settings.max_body_bytes + 1))
    async with intake.client() as client:
        response = await client.post("/api/referrals", json=huge)
    assert response.status_code == 413
    assert published(intake) == []


async def test_status_and_timeline_are_read_from_the_store(intake: Intake) -> None:
    received = make.received()
    record(intake, received, make.accepted(received.referral_id))
    async with intake.client("intake") as client:
        response = await client.get(f"/api/referrals/{received.referral_id}")
        missing = await client.get(f"/api/referrals/{UUID(int=1)}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "accepted"
    assert [e["type"] for e in body["timeline"]] == ["ReferralReceived", "ReferralAccepted"]
    assert body["referring_clinic"] == "Harbor Family Medicine"
    assert body["diagnoses"] == [
        {"code": "R07.9", "description": "Chest pain, unspecified"},
        {"code": "I10", "description": "Essential (primary) hypertension"},
    ]
    assert missing.status_code == 404


async def test_a_lifecycle_fact_is_published_for_its_referral(intake: Intake) -> None:
    received = make.received()
    record(intake, received)
    summary = {
        "specialist": "Dr. B",
        "findings": "f",
        "assessment": "a",
        "plan": "p",
        "recommendations": "r",
        "occurred_at": "2026-11-20T10:00:00+00:00",
    }
    async with intake.client() as client:
        response = await client.post(f"/api/referrals/{received.referral_id}/seen", json=summary)
    assert response.status_code == 202
    (fact,) = published(intake)
    assert fact.type == "PatientSeen" and fact.referral_id == received.referral_id
    assert fact.occurred_at.isoformat() == "2026-11-20T10:00:00+00:00"
    assert fact.data.plan == "p"


async def test_a_fact_the_lifecycle_forbids_is_refused_at_once_with_409(intake: Intake) -> None:
    received = make.received()
    record(intake, received, make.cancelled(received.referral_id))
    summary = {"specialist": "Dr. B", "findings": "f", "assessment": "a", "plan": "p", "recommendations": "r"}
    async with intake.client() as client:
        response = await client.post(f"/api/referrals/{received.referral_id}/seen", json=summary)
    assert response.status_code == 409
    assert response.json()["detail"] == "PatientSeen is not allowed on a referral that is cancelled"
    assert published(intake) == []


async def test_the_openapi_document_lists_the_referral_endpoints(intake: Intake) -> None:
    async with intake.client(None) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/api/referrals" in paths
    for action in (
        "accept",
        "decline",
        "cancel",
        "appointment",
        "appointment/cancel",
        "no-show",
        "seen",
        "return-visit",
    ):
        assert f"/api/referrals/{{referral_id}}/{action}" in paths
