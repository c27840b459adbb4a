"""The follower polls a caught-up store every idle_s, backing off to idle_max_s while it stays quiet."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import Recorded, StoreFollower
from referral_loop.store.ledger import Positioned
from referral_loop.store.quarantine import SetAside
from tests.support import referrals as make


async def waits_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: float) -> list[float]:
    """The follower's waits over seven looks at the store; a fact is recorded during the fourth wait."""
    ledger, processed = open_ledger(Settings(data_dir=tmp_path)), []

    def process(page: Sequence[Recorded], _: Sequence[SetAside]) -> int:
        processed.extend(page)
        return len(page)

    follower = StoreFollower(ledger, process, lambda: processed[-1].position if processed else 0, **options)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 4:
            ledger.record_batch([Positioned(1, make.received())])
        if len(waits) == 7:
            follower.stopping.set()

    monkeypatch.setattr(asyncio, "sleep", sleep)
    await follower.run()
    ledger.close()
    assert len(processed) == 1
    return waits


async def test_a_quiet_store_is_looked_at_less_often_until_a_fact_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = await waits_of(tmp_path, monkeypatch, idle_s=0.01, idle_max_s=0.04)
    assert waits == [0.02, 0.04, 0.04, 0.04, 0.01, 0.02, 0.04]


async def test_without_a_longest_wait_the_poll_stays_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await waits_of(tmp_path, monkeypatch, idle_s=0.03) == [0.03] * 7
