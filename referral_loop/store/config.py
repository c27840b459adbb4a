"""Opening event stores from Settings: SQLite files by default, PostgreSQL at scale."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import PersistenceError

from referral_loop.keys import cipher_env
from referral_loop.settings import Settings
from referral_loop.store.at_rest import check_key_fits
from referral_loop.store.ledger import ReferralLedger

T = TypeVar("T")
_RECORDERS = {
    "sqlite": "referral_loop.store.recorders:BatchTrackingSQLiteRecorder",
    "postgres": "referral_loop.store.recorders:BatchTrackingPostgresRecorder",
}


def store_env(settings: Settings, name: str, sqlite_file: Path, **extra: str) -> dict[str, str]:
    """eventsourcing's environment for the application `name`, each key prefixed with its name.

    Both use the batch-tracking process recorders (`trackings=` on save). On PostgreSQL each application has its own tables (`<name>_events`, `<name>_tracking`);
    on SQLite its own file (one writer process per file). With a store key, every event's state
    is encrypted with AES-GCM (`referral_loop/keys.py`).
    """
    env = {
        "PERSISTENCE_MODULE": f"eventsourcing.{settings.store}",
        "PROCESS_RECORDER_TOPIC": _RECORDERS[settings.store],
        "CREATE_TABLE": "y",
        **cipher_env(settings),
        **extra,
    }
    env.update(_sqlite_env(sqlite_file) if settings.store == "sqlite" else _postgres_env(settings))
    return {f"{name.upper()}_{key}": value for key, value in env.items()}


def ledger_env(settings: Settings) -> dict[str, str]:
    """The referrals store: multi-row tracking of bus positions. No aggregate cache: the writer
    loads a batch's referrals in one query (`ReferralLedger._load`), and readers read events."""
    return store_env(settings, ReferralLedger.name, settings.sqlite_file, SINGLE_ROW_TRACKING="n")


def _sqlite_env(sqlite_file: Path) -> dict[str, str]:
    sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    return {"SQLITE_DBNAME": str(sqlite_file), "SQLITE_LOCK_TIMEOUT": "10"}


def _postgres_env(settings: Settings) -> dict[str, str]:
    return {
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_DBNAME": settings.postgres_dbname,
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        "POSTGRES_POOL_SIZE": "4",
    }


def connect_postgres(settings: Settings) -> psycopg.Connection[Any]:
    """An autocommit connection to the configured PostgreSQL database (for what eventsourcing's
    datastore does not do: the views, the audit log, scans)."""
    return psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        dbname=settings.postgres_dbname,
        user=settings.postgres_user,
        password=settings.postgres_password.get_secret_value(),
        autocommit=True,
    )


def open_ledger(settings: Settings) -> ReferralLedger:
    """The referrals event store, with tables created if missing; refused (StoreKeyError) when
    the configured store key cannot read the events already there."""
    return check_key_fits(opening(lambda: ReferralLedger(env=ledger_env(settings))))


def opening(open_store: Callable[[], T], attempts: int = 8) -> T:
    """Open a store, retrying while another process creates the same tables at the same moment
    (PostgreSQL answers concurrent DDL with 'tuple concurrently updated' or a unique violation;
    SQLite a new connection's switch to WAL with 'database is locked', without waiting)."""
    for attempt in range(1, attempts):
        try:
            return open_store()
        except (PersistenceError, sqlite3.OperationalError) as error:
            if isinstance(error, sqlite3.OperationalError) and "locked" not in str(error):
                raise
            time.sleep(0.05 * 2**attempt)
    return open_store()
