"""Opening the event store from Settings: SQLite by default, PostgreSQL at scale."""

from __future__ import annotations

from referral_loop.settings import Settings
from referral_loop.store.ledger import ReferralLedger

_RECORDERS = {
    "sqlite": "referral_loop.store.recorders:BatchTrackingSQLiteRecorder",
    "postgres": "referral_loop.store.recorders:BatchTrackingPostgresRecorder",
}


def ledger_env(settings: Settings) -> dict[str, str]:
    """eventsourcing's environment for the referrals store, each key prefixed with its name."""
    env = {
        "PERSISTENCE_MODULE": f"eventsourcing.{settings.store}",
        "PROCESS_RECORDER_TOPIC": _RECORDERS[settings.store],
        "SINGLE_ROW_TRACKING": "n",
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "CREATE_TABLE": "y",
    }
    env.update(_sqlite_env(settings) if settings.store == "sqlite" else _postgres_env(settings))
    return {f"{ReferralLedger.name.upper()}_{key}": value for key, value in env.items()}


def _sqlite_env(settings: Settings) -> dict[str, str]:
    settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    return {"SQLITE_DBNAME": str(settings.sqlite_file), "SQLITE_LOCK_TIMEOUT": "10"}


def _postgres_env(settings: Settings) -> dict[str, str]:
    return {
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_DBNAME": settings.postgres_dbname,
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        "POSTGRES_POOL_SIZE": "4",
    }


def open_ledger(settings: Settings) -> ReferralLedger:
    """The referrals event store, with tables created if missing."""
    return ReferralLedger(env=ledger_env(settings))
