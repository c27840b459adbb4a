"""The tables staff sign-in keeps in the service's database, so every intake worker and the ops app
see the same: sessions (by a SHA-256 of their id, never the id itself), OIDC sign-ins under way and
sign-in attempts per client address. Their own SQLite file (`SESSIONS_SQLITE_PATH`, default
`$DATA_DIR/store/sessions.sqlite`, WAL: the processes of one machine share it) or the PostgreSQL
database of the store. Nothing here is PHI: user names, roles, client addresses, times."""

from __future__ import annotations

import hashlib

from referral_loop.settings import Settings
from referral_loop.web.side_tables import SideTables

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS staff_sessions (id_hash TEXT PRIMARY KEY, app TEXT NOT NULL, "
    "who TEXT NOT NULL, role TEXT NOT NULL, stamp TEXT NOT NULL, csrf TEXT NOT NULL, "
    "started DOUBLE PRECISION NOT NULL, seen DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS staff_sessions_who ON staff_sessions (who)",
    "CREATE INDEX IF NOT EXISTS staff_sessions_seen ON staff_sessions (seen)",
    "CREATE TABLE IF NOT EXISTS oidc_pending (state_hash TEXT PRIMARY KEY, verifier TEXT NOT NULL, "
    "nonce TEXT NOT NULL, next TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS signin_attempts (client TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS signin_attempts_client ON signin_attempts (client, at)",
    "CREATE INDEX IF NOT EXISTS signin_attempts_at ON signin_attempts (at)",
]
TABLES_LOCK = 7316002
"""PostgreSQL advisory lock key of these tables: processes creating them at once take turns."""


def token_hash(token: str) -> str:
    """How a session id or an OIDC state is kept: its SHA-256, so the tables never hold a bearer
    secret (the tokens are 256 random bits: no salt or stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class StaffTables(SideTables):
    """The staff tables, on their connection (side_tables.py: opened on first use, shared by
    threads under a lock, closed on a failure), with SQLite's synchronous=NORMAL."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.sessions_sqlite_file, SCHEMA, TABLES_LOCK, synchronous="NORMAL")
