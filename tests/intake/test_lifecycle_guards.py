"""Lifecycle facts for a referral the store does not know are a 404 (after a short wait for the
store writer), and an Idempotency-Key used with another body is a 422, whether the first fact is
recorded yet or not (publisher recorded, store and key claims real). Issue 14, findings 3 and 4."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from referral_loop.web.audit import AuditQuery
from tests.intake.conftest import Intake
from tests.support import referrals as make

SUMMARY = {
    "specialist": "Dr. B",
    "findings": "Canary findings.",
    "assessment": "a",
    "plan": "p",
    "recommendations": "r",
}


def published(intake: Intake) -> list[Any]:
    return intake.app.state.intake.publisher.facts  # type: ignore[no-any-return]


def record(intake: Intake, start: int, *facts: Any) -> None:
    ledger = open_ledger(intake.settings)
    ledger.record_batch([Positioned(start + i, f) for i, f in enumerate(facts)])
    ledger.close()


def booking(days: int) -> dict[str, str]:
    return {"appointment_at": (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()}


async def test_a_fact_for_an_unknown_referral_is_404_audited_as_failed_and_not_published(
    intake: Intake,
) -> None:
    unknown = uuid4()
    started = asyncio.get_running_loop().time()
    async with intake.client() as client:
        response = await client.post(
            f"/api/referrals/{unknown}/seen", json=SUMMARY, headers={"Idempotency-Key": "s"}
        )
    waited = asyncio.get_running_loop().time() - started
    assert response.status_code == 404
    assert "Canary" not in response.text
    assert 1.5 <= waited < 5, "it waited for the store writer first, but not for long"
    assert published(intake) == []
    (entry,) = intake.app.state.audit.query(AuditQuery(what="PatientSeen"))
    assert (entry.outcome, entry.referral_ids, entry.detail) == (
        "failed",
        (),
        f"HTTP 404 (referral {unknown})",
    )


async def test_a_fact_right_after_its_referral_waits_for_the_store_writer(intake: Intake) -> None:
    received = make.received()
    writer = threading.Timer(0.4, record, (intake, 1, received))  # the writer, a little behind
    writer.start()
    async with intake.client() as client:
        response = await client.post(f"/api/referrals/{received.referral_id}/appointment", json=booking(3))
    writer.join()
    assert response.status_code == 202, response.text
    assert [f.type for f in published(intake)] == ["AppointmentScheduled"]


async def test_a_key_reused_with_another_body_before_the_store_has_the_first_is_422(intake: Intake) -> None:
    received = make.received()
    record(intake, 1, received)
    path, key = f"/api/referrals/{received.referral_id}/appointment", {"Idempotency-Key": "book-1"}
    async with intake.client() as client:
        first = await client.post(path, json=booking(3), headers=key)
        other = await client.post(path, json=booking(5), headers=key)
        again = await client.post(path, json=booking(3), headers=key)
        moved = await client.post(
            path, json={**booking(3), "occurred_at": "2026-01-02T10:00:00+00:00"}, headers=key
        )
    assert first.status_code == again.status_code == 202 and again.json() == first.json()
    assert other.status_code == moved.status_code == 422
    assert (
        other.json()["detail"]
        == "this Idempotency-Key was already used for a different AppointmentScheduled fact"
    )
    facts = published(intake)
    assert len(facts) == 2 and facts[0].event_id == facts[1].event_id and facts[0].data == facts[1].data


async def test_a_key_reused_with_another_body_after_the_store_recorded_the_first_is_422(
    intake: Intake,
) -> None:
    received = make.received()
    record(intake, 1, received)
    path, key = f"/api/referrals/{received.referral_id}/appointment", {"Idempotency-Key": "book-2"}
    async with intake.client() as client:
        first = await client.post(path, json=booking(3), headers=key)
        record(intake, 2, *published(intake))
        other = await client.post(path, json=booking(5), headers=key)
        again = await client.post(path, json=booking(3), headers=key)
    assert first.status_code == again.status_code == 202 and again.json() == first.json()
    assert other.status_code == 422
    assert len(published(intake)) == 1


async def test_a_recorded_fact_is_compared_even_without_a_claim_from_before_claims_existed(
    intake: Intake,
) -> None:
    received = make.received()
    record(intake, 1, received)
    path, key = f"/api/referrals/{received.referral_id}/seen", {"Idempotency-Key": "visit-1"}
    async with intake.client() as client:
        first = await client.post(path, json=SUMMARY, headers=key)
    record(intake, 2, *published(intake))
    intake.app.state.intake.keys.close()
    (intake.settings.data_dir / "store" / "idempotency.sqlite").unlink()  # as before this table
    async with intake.client() as client:
        other = await client.post(path, json={**SUMMARY, "plan": "another plan"}, headers=key)
        again = await client.post(path, json=SUMMARY, headers=key)
    assert other.status_code == 422 and again.status_code == 202 and again.json() == first.json()
    assert len(published(intake)) == 1


async def test_a_referral_key_reused_with_another_referral_before_it_is_recorded_is_422(
    intake: Intake,
) -> None:
    key = {"Idempotency-Key": "fax-7"}
    async with intake.client() as client:
        first = await client.post("/api/referrals", json=make.referral_body(), headers=key)
        other = await client.post("/api/referrals", json=make.referral_body(reason="Other."), headers=key)
        again = await client.post("/api/referrals", json=make.referral_body(), headers=key)
    assert first.status_code == again.status_code == 202 and again.json() == first.json()
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    assert [f.data for f in published(intake)] == [published(intake)[0].data] * 2
