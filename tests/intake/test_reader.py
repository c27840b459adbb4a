"""Reading referrals back: the status alone agrees with the full view, on both store backends."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from referral_loop.domain.lifecycle import Status
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned, ReferralLedger
from services.intake.reader import ReferralReader
from tests.support import referrals as make


@pytest.fixture
def ledger(store_settings: Settings) -> Iterator[ReferralLedger]:
    ledger = open_ledger(store_settings)
    yield ledger
    ledger.close()


async def test_the_status_alone_matches_the_view_as_the_referral_moves_on(ledger: ReferralLedger) -> None:
    reader, rid = ReferralReader(ledger), uuid4()
    assert await reader.status(rid) is None
    steps = [
        (make.received(rid), Status.RECEIVED),
        (make.scheduled(rid), Status.SCHEDULED),
        (make.seen(rid), Status.SEEN),
    ]
    for position, (fact, expected) in enumerate(steps, start=1):
        ledger.record_batch([Positioned(position, fact)])
        view = await reader.get(rid)
        assert view is not None and view.status is expected
        assert await reader.status(rid) is expected
