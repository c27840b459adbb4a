"""Writers (replicas, or a restart racing the old process) opening the same new SQLite store at
once: a new connection's switch to WAL can meet "database is locked" without waiting (the busy
timeout does not cover it); opening tries again instead of crashing the process."""

from __future__ import annotations

from pathlib import Path

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from tests.support.at_once import failures_at_once


def test_a_store_opened_at_once_by_several_writers_opens_for_each(tmp_path: Path) -> None:
    failures: list[Exception] = []
    for round_ in range(20):
        settings = Settings(data_dir=tmp_path / str(round_))
        failures += failures_at_once(lambda: open_ledger(settings).close())  # noqa: B023 - joined before the loop goes on
    assert failures == []
