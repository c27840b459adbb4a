"""Intake and the ops app in-process, over a real users file and a real (SQLite) store, for the
security tests; a publisher that records what would have gone to NATS."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from contracts import Fact
from referral_loop.settings import Settings
from referral_loop.web.users import Credentials, ensure_local_users
from services.intake.app import create_app as intake_app
from services.projections import schema
from services.projections.app import create_app as ops_app


@dataclass
class Recording:
    facts: list[Fact] = field(default_factory=list)

    async def publish(self, fact: Fact) -> None:
        self.facts.append(fact)


@dataclass
class Apps:
    settings: Settings
    users: Credentials
    intake: FastAPI
    ops: FastAPI
    published: Recording

    def password(self, user: str) -> str:
        return self.users[user]["password"]


def settings_in(tmp_path: Path, **update: object) -> Settings:
    return Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite", **update)  # type: ignore[arg-type]


@contextlib.contextmanager
def both_apps(settings: Settings) -> Iterator[Apps]:
    users = ensure_local_users(settings.users_path)
    intake, ops = intake_app(settings), ops_app(settings)
    published = Recording()
    schema.create(ops.state.db)
    intake.state.intake.publisher = published
    try:
        yield Apps(settings, users, intake, ops, published)
    finally:
        intake.state.intake.reader.ledger.close()
        ops.state.db.close()
        for app in (intake, ops):
            app.state.audit.close()
            app.state.guard.close()
