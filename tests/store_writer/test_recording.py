"""What happens to each message of a batch: ack, retry with backoff, or dead-letter."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from referral_loop.store.ledger import Outcome, Result
from services.store_writer.recording import UNKNOWN_REFERRAL_ATTEMPTS, Batch, retry_delay, verdict


def message(data: bytes = b"{}", delivered: int = 1, seq: int = 7) -> Any:
    metadata = SimpleNamespace(num_delivered=delivered, sequence=SimpleNamespace(stream=seq))
    return SimpleNamespace(data=data, metadata=metadata, subject="referrals.ReferralReceived")


@pytest.mark.parametrize("outcome", [Outcome.RECORDED, Outcome.DUPLICATE])
def test_recorded_and_duplicate_facts_are_acked(outcome: Outcome) -> None:
    assert verdict(message(), Result(outcome)) == ("ack", "")


def test_a_rejected_fact_is_dead_lettered_with_its_reason() -> None:
    assert verdict(message(), Result(Outcome.REJECTED, "not allowed")) == ("deadletter", "not allowed")


def test_an_unknown_referral_is_retried_then_dead_lettered() -> None:
    result = Result(Outcome.UNKNOWN_REFERRAL, "no referral x in the store yet")
    assert verdict(message(delivered=UNKNOWN_REFERRAL_ATTEMPTS - 1), result) == ("retry", "")
    action, reason = verdict(message(delivered=UNKNOWN_REFERRAL_ATTEMPTS), result)
    assert action == "deadletter"
    assert reason == f"no referral x in the store yet after {UNKNOWN_REFERRAL_ATTEMPTS} deliveries"


def test_retries_back_off_exponentially_up_to_thirty_seconds() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 6, 20)] == [1.0, 2.0, 4.0, 30.0, 30.0]


def test_an_undecodable_message_is_poison_and_its_reason_never_echoes_the_input() -> None:
    batch = Batch.of([message(b'{"type": "ReferralReceived", "data": {"patient": "Ada Lovelace"}}')])
    assert batch.facts == []
    ((_, reason),) = batch.poison
    assert reason.startswith("undecodable fact: ")
    assert "Ada" not in reason
