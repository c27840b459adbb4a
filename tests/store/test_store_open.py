"""Writers (replicas, or a restart racing the old process) opening the same new SQLite store at
once: a new connection's switch to WAL can meet "database is locked" without waiting (the busy
timeout does not cover it); opening tries again instead of crashing the process."""

from __future__ import annotations

import threading
from pathlib import Path

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger


def test_a_store_opened_at_once_by_several_writers_opens_for_each(tmp_path: Path) -> None:
    failures: list[Exception] = []
    for round_ in range(20):
        settings = Settings(data_dir=tmp_path / str(round_))

        def open_store(settings: Settings = settings) -> None:
            try:
                open_ledger(settings).close()
            except Exception as error:  # the failure under test
                failures.append(error)

        openers = [threading.Thread(target=open_store) for _ in range(4)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
    assert failures == []
