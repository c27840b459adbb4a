"""Replicas opening the same SQLite views together: switching to WAL can meet "database is locked"
at once (the busy timeout does not cover it); opening waits and tries again instead of crashing."""

from __future__ import annotations

import threading
from pathlib import Path

from referral_loop.settings import Settings
from services.projections.db import Database


def test_views_opened_at_once_by_several_processes_all_open(tmp_path: Path) -> None:
    failures: list[Exception] = []
    for round_ in range(25):
        settings = Settings(data_dir=tmp_path / str(round_))

        def open_views(settings: Settings = settings) -> None:
            db = Database(settings)
            try:
                db.connect()
            except Exception as error:  # the failure under test
                failures.append(error)
            finally:
                db.close()

        openers = [threading.Thread(target=open_views) for _ in range(4)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
    assert failures == []
