"""A lifecycle fact retried with its Idempotency-Key after the first attempt was recorded (its
answer lost: intake killed, a timeout) is answered as the first time was, not refused with 409."""

from __future__ import annotations

from contracts import Fact
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from tests.intake.conftest import Intake
from tests.support import referrals as make

SUMMARY = {"specialist": "Dr. B", "findings": "f", "assessment": "a", "plan": "p", "recommendations": "r"}


def record(intake: Intake, start: int, *facts: Fact) -> None:
    """As the store writer would, the facts at stream positions `start`, `start` + 1 ..."""
    ledger = open_ledger(intake.settings)
    ledger.record_batch([Positioned(start + i, f) for i, f in enumerate(facts)])
    ledger.close()


async def test_a_retry_of_a_recorded_fact_is_accepted_again_without_publishing(intake: Intake) -> None:
    received = make.received()
    record(intake, 1, received, make.scheduled(received.referral_id))
    path, key = f"/api/referrals/{received.referral_id}/seen", {"Idempotency-Key": "visit-1"}
    async with intake.client() as client:
        first = await client.post(path, json=SUMMARY, headers=key)
        record(intake, 3, *intake.app.state.intake.publisher.facts)
        retry = await client.post(path, json=SUMMARY, headers=key)
        other = await client.post(path, json=SUMMARY, headers={"Idempotency-Key": "visit-2"})
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert len(intake.app.state.intake.publisher.facts) == 1
    assert other.status_code == 409
    assert other.json()["detail"] == "PatientSeen is not allowed on a referral that is seen"
