"""Shared fixtures: real nats-server, embedded PostgreSQL, settings per store backend, processes.

Everything a fixture starts is stopped at teardown, pass or fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from referral_loop.settings import ENV_PREFIX, Settings, get_settings
from tests.support.processes import ProcessRegistry, stop_all_started
from tests.support.servers import (
    EmbeddedPostgres,
    NatsServer,
    PostgresParams,
    fresh_postgres_database,
    start_nats,
)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No REFERRAL_LOOP_* from the developer's shell leaks into a test; no cached Settings."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _stop_service_processes() -> Iterator[None]:
    """Whatever ServiceProcess a test started is stopped when the test ends."""
    yield
    stop_all_started()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A started nats-server with JetStream on free ports, store in tmp_path/nats."""
    server = start_nats(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_factory(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    """make(name="n1", **NatsServer options) -> a started server; all stopped at teardown."""
    started: list[NatsServer] = []

    def make(name: str = "nats", **options: Any) -> NatsServer:
        started.append(start_nats(tmp_path, name, **options))
        return started[-1]

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres]:
    """One embedded PostgreSQL for the session (started on first use), deleted at the end.

    Its data lives outside pytest's own temporary root: PostgreSQL runs as another user, who must
    traverse the folders above it, and every pytest run starting meanwhile makes that root 0700."""
    home = Path(tempfile.mkdtemp(prefix="referral-loop-postgres-"))
    server = EmbeddedPostgres(home / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: EmbeddedPostgres) -> PostgresParams:
    """A new, empty database for this test on the session's PostgreSQL."""
    return fresh_postgres_database(postgres_server)


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for each event store backend, data_dir=tmp_path; add nats_url with model_copy."""
    if request.param == "sqlite":
        return Settings(store="sqlite", data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite")
    database: PostgresParams = request.getfixturevalue("postgres_database")
    return database.settings(data_dir=tmp_path)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[ProcessRegistry]:
    """services.start("store-writer", settings) -> ServiceProcess; logs in tmp_path/logs."""
    registry = ProcessRegistry(tmp_path / "logs")
    yield registry
    registry.stop_all()
