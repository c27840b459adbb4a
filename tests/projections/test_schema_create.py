"""Projections replicas starting together on a new PostgreSQL database: concurrent
CREATE TABLE IF NOT EXISTS can fail there ("duplicate key ... pg_type_typname_nsp_index"); the
views' creation takes turns instead, so every replica starts."""

from __future__ import annotations

from pathlib import Path

from services.projections import schema
from services.projections.db import Database
from tests.support.at_once import failures_at_once
from tests.support.servers import EmbeddedPostgres, fresh_postgres_database


def create_views(db: Database) -> None:
    try:
        schema.create(db)
    finally:
        db.close()


def test_views_created_at_once_by_several_replicas_all_start(
    postgres_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    failures: list[Exception] = []
    for _ in range(6):
        settings = fresh_postgres_database(postgres_server).settings(data_dir=tmp_path)
        failures += failures_at_once(lambda: create_views(Database(settings)))  # noqa: B023 - joined before the loop goes on
    assert failures == []
