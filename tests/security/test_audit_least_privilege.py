"""The audit log under the least-privilege role docs/security.md advises for production on
PostgreSQL: another role owns `audit_log`; the app's role holds only INSERT and SELECT on it.
The app then opens the log, appends and reads entries, is ready, and still cannot alter one.
(Before, opening asked to create the table and its triggers, and was refused.)"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from referral_loop.settings import Settings
from referral_loop.web.audit import AuditEvent, AuditLog, AuditQuery
from tests.support.servers import PostgresParams

APP_ROLE = "referral_app"


def settings_for(database: PostgresParams, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, **database.settings_update())


def app_role(database: PostgresParams, tmp_path: Path) -> PostgresParams:
    """The table and its triggers made by their owner, then a role that may only append and read."""
    owner = AuditLog(settings_for(database, tmp_path), "setup")
    owner.writable()
    owner.close()
    with database.connect(autocommit=True) as connection:
        connection.execute(f"DROP ROLE IF EXISTS {APP_ROLE}")
        connection.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
        grant = sql.SQL("GRANT CONNECT ON DATABASE {} TO {}")
        connection.execute(grant.format(sql.Identifier(database.dbname), sql.Identifier(APP_ROLE)))
        connection.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
        connection.execute(f"GRANT SELECT, INSERT ON audit_log TO {APP_ROLE}")
    return PostgresParams(database.host, database.port, APP_ROLE, database.dbname)


def test_the_app_role_appends_and_reads_but_cannot_alter(
    postgres_database: PostgresParams, tmp_path: Path
) -> None:
    role = app_role(postgres_database, tmp_path)
    log = AuditLog(settings_for(role, tmp_path), "intake")
    try:
        log.writable()
        log.record(AuditEvent("ada", "intake", "read", "referral", "allowed", ("r-1",)))
        assert [e.who for e in log.query(AuditQuery())] == ["ada"]
    finally:
        log.close()
    with role.connect(autocommit=True) as connection, pytest.raises(psycopg.Error):
        connection.execute("UPDATE audit_log SET who = 'eve'")
