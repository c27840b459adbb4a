"""An intake app in-process: real users file and real store; the publisher is a recorder or real NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from contracts import Fact
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from services.intake.app import create_app


@dataclass
class RecordingPublisher:
    """Stands in for JetStream in handler unit tests: keeps what was published."""

    facts: list[Fact] = field(default_factory=list)

    async def publish(self, fact: Fact) -> None:
        self.facts.append(fact)


@dataclass
class Intake:
    app: FastAPI
    settings: Settings
    passwords: dict[str, str]

    def client(self, user: str | None = "intake") -> httpx.AsyncClient:
        auth = (user, self.passwords[user]) if user else None
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://intake.test", auth=auth)


@pytest.fixture
def intake_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite", public_url="http://intake.test")


@pytest.fixture
async def intake(intake_settings: Settings) -> AsyncIterator[Intake]:
    users = ensure_local_users(intake_settings.users_path)
    app = create_app(intake_settings)
    app.state.intake.publisher = RecordingPublisher()
    yield Intake(app, intake_settings, {name: u["password"] for name, u in users.items()})
    app.state.intake.reader.ledger.close()
    app.state.audit.close()
