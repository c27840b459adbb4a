"""The audit log's table: its schema on SQLite and PostgreSQL, the triggers that make it
append-only, and opening a connection to it (the schema created, durable commits). The chain's
columns (`audit_chain.py`) are added to a table made before them; its older entries stay
unchained, and the chain starts after them."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from referral_loop.settings import Settings
from referral_loop.sqlite_setup import patiently
from referral_loop.store.config import connect_postgres

APPEND_ONLY = "audit_log is append-only"
CHAIN_COLUMNS = ("prev_hash", "entry_hash", "mac", "key_id")
SQLITE_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
    "service TEXT NOT NULL, who TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, "
    "what TEXT NOT NULL, referral_ids TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, "
    "prev_hash TEXT, entry_hash TEXT, mac TEXT, key_id TEXT)",
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
    "CREATE INDEX IF NOT EXISTS audit_log_who ON audit_log (who, at)",
]
POSTGRES_SCHEMA = [
    "SELECT pg_advisory_xact_lock(7316001)",  # two services creating it at once take turns
    "CREATE TABLE IF NOT EXISTS audit_log (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "at TEXT NOT NULL, service TEXT NOT NULL, who TEXT NOT NULL, role TEXT NOT NULL, "
    "action TEXT NOT NULL, what TEXT NOT NULL, referral_ids TEXT NOT NULL, outcome TEXT NOT NULL, "
    "detail TEXT NOT NULL, prev_hash TEXT, entry_hash TEXT, mac TEXT, key_id TEXT)",
    *(f"ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS {column} TEXT" for column in CHAIN_COLUMNS),
    "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$",
    "CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
    "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
    "CREATE INDEX IF NOT EXISTS audit_log_who ON audit_log (who, at)",
]


def open_sqlite(settings: Settings) -> sqlite3.Connection:
    path = settings.audit_sqlite_file
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    patiently(connection, ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", *SQLITE_SCHEMA])
    _add_chain_columns(connection)
    return connection


def _add_chain_columns(connection: sqlite3.Connection) -> None:
    """A table made before the chain gets its columns (another process may add them meanwhile)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(audit_log)")}
    for column in (c for c in CHAIN_COLUMNS if c not in present):
        try:
            patiently(connection, [f"ALTER TABLE audit_log ADD COLUMN {column} TEXT"])
        except sqlite3.OperationalError as error:
            if "duplicate column" not in str(error):
                raise


OWNED_BY_ANOTHER = (
    "SELECT pg_get_userbyid(relowner) <> current_user FROM pg_class WHERE oid = to_regclass('audit_log')"
)


def open_postgres(settings: Settings) -> psycopg.Connection[Any]:
    """A connection, the table and its triggers created (or kept current) unless another role
    owns them: the least-privilege set-up docs/security.md advises (the app's role holding only
    INSERT and SELECT) then opens without asking for rights it must not have."""
    connection = connect_postgres(settings)
    if not _owned_by_another(connection):
        with connection.transaction():
            for statement in POSTGRES_SCHEMA:
                connection.execute(statement)
    return connection


def _owned_by_another(connection: psycopg.Connection[Any]) -> bool:
    row = connection.execute(OWNED_BY_ANOTHER).fetchone()
    return bool(row and row[0])
