"""Replicas opening the same SQLite views together: switching to WAL can meet "database is locked"
at once (the busy timeout does not cover it); opening waits and tries again instead of crashing."""

from __future__ import annotations

from pathlib import Path

from referral_loop.settings import Settings
from services.projections.db import Database
from tests.support.at_once import failures_at_once


def open_views(db: Database) -> None:
    try:
        db.connect()
    finally:
        db.close()


def test_views_opened_at_once_by_several_processes_all_open(tmp_path: Path) -> None:
    failures: list[Exception] = []
    for round_ in range(25):
        settings = Settings(data_dir=tmp_path / str(round_))
        failures += failures_at_once(lambda: open_views(Database(settings)))  # noqa: B023 - joined before the loop goes on
    assert failures == []
