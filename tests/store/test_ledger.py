"""The event store records micro-batches exactly once, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from referral_loop.domain.lifecycle import Status
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Outcome, Positioned, ReferralLedger
from tests.support import referrals as make


@pytest.fixture
def ledger(store_settings: Settings) -> Iterator[ReferralLedger]:
    ledger = open_ledger(store_settings)
    yield ledger
    ledger.close()


def outcomes(ledger: ReferralLedger, *facts: object, start: int = 1) -> list[Outcome]:
    batch = [Positioned(start + i, f) for i, f in enumerate(facts)]  # type: ignore[arg-type]
    results = ledger.record_batch(batch)
    return [results[p.position].outcome for p in batch]


def test_a_batch_is_recorded_with_its_timeline_in_order(ledger: ReferralLedger) -> None:
    rid = uuid4()
    facts = [make.received(rid), make.accepted(rid), make.scheduled(rid)]
    assert outcomes(ledger, *facts) == [Outcome.RECORDED] * 3
    assert ledger.timeline(rid) == facts
    referral = ledger.referral(rid)
    assert referral is not None and referral.status is Status.SCHEDULED


def test_a_redelivered_position_changes_nothing(ledger: ReferralLedger) -> None:
    rid = uuid4()
    outcomes(ledger, make.received(rid), make.accepted(rid))
    assert outcomes(ledger, make.received(rid), start=2) == [Outcome.DUPLICATE]
    assert len(ledger.timeline(rid)) == 2


def test_a_redelivery_of_an_earlier_position_after_later_ones_is_recognised(ledger: ReferralLedger) -> None:
    rid = uuid4()
    first = make.received(rid)
    outcomes(ledger, first, start=5)
    outcomes(ledger, make.accepted(rid), start=9)
    assert outcomes(ledger, first, start=5) == [Outcome.DUPLICATE]
    assert [f.type for f in ledger.timeline(rid)] == ["ReferralReceived", "ReferralAccepted"]


def test_the_same_fact_at_a_new_position_is_recorded_once(ledger: ReferralLedger) -> None:
    rid = uuid4()
    accept = make.accepted(rid)
    assert outcomes(ledger, make.received(rid), accept, accept) == [
        Outcome.RECORDED,
        Outcome.RECORDED,
        Outcome.DUPLICATE,
    ]
    assert outcomes(ledger, accept, start=10) == [Outcome.DUPLICATE]
    assert len(ledger.timeline(rid)) == 2


def test_a_fact_for_an_unknown_referral_is_not_recorded_and_not_tracked(ledger: ReferralLedger) -> None:
    rid = uuid4()
    assert outcomes(ledger, make.accepted(rid), start=3) == [Outcome.UNKNOWN_REFERRAL]
    outcomes(ledger, make.received(rid), start=4)
    assert outcomes(ledger, make.accepted(rid), start=3) == [Outcome.RECORDED]


def test_a_lifecycle_breach_is_rejected_with_its_reason_and_the_rest_is_recorded(
    ledger: ReferralLedger,
) -> None:
    rid = uuid4()
    results = ledger.record_batch(
        [Positioned(1, make.received(rid)), Positioned(2, make.cancelled(rid)), Positioned(3, make.seen(rid))]
    )
    assert results[3].outcome is Outcome.REJECTED
    assert "not allowed on a referral that is cancelled" in results[3].reason
    assert [f.type for f in ledger.timeline(rid)] == ["ReferralReceived", "ReferralCancelled"]


def test_recorded_facts_survive_reopening_the_store(store_settings: Settings) -> None:
    rid = uuid4()
    first = open_ledger(store_settings)
    outcomes(first, make.received(rid), start=1)
    first.close()
    again = open_ledger(store_settings)
    try:
        assert outcomes(again, make.received(rid), start=1) == [Outcome.DUPLICATE]
        assert len(again.timeline(rid)) == 1
    finally:
        again.close()
