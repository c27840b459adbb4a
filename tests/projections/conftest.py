"""Fixtures the read-model tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from services.projections.db import Database
from services.projections.projector import Projector
from tests.projections.seed import SeededHistory

PRACTICE_ZONE = "America/Chicago"
"""The practice's time zone in the rule tests: never the server's (UTC here)."""
Project = Callable[[SeededHistory], Database]


@pytest.fixture
def project(store_settings: Settings) -> Iterator[Project]:
    """project(history) -> the read models fed with it (practice time zone injected)."""
    settings = store_settings.model_copy(update={"practice_timezone": PRACTICE_ZONE})
    opened: list[Database] = []

    def make(history: SeededHistory) -> Database:
        opened.append(Database(settings))
        Projector(opened[-1], deadline_policy(settings)).process(history.pages())
        return opened[-1]

    yield make
    for db in opened:
        db.close()
