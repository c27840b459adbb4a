"""Intake is ready only while its audit trail can take an entry: every read and write of PHI is
refused without one, so a trail that cannot be written must show on /readyz, not as a 500 on
each request. The probe writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.natsd import free_port
from referral_loop.settings import Settings
from referral_loop.web.audit import AuditLog, AuditQuery


def test_a_trail_that_can_take_entries_is_ready_and_the_probe_writes_nothing(
    store_settings: Settings,
) -> None:
    log = AuditLog(store_settings, "intake")
    try:
        log.writable()
        assert log.query(AuditQuery()) == []
    finally:
        log.close()


def test_a_trail_that_cannot_take_entries_is_not_ready(store_settings: Settings, tmp_path: Path) -> None:
    if store_settings.store == "sqlite":  # its file cannot be made: a directory is in the way
        (tmp_path / "blocked").mkdir()
        settings = store_settings.model_copy(update={"audit_sqlite_path": tmp_path / "blocked"})
    else:  # the database is gone
        settings = store_settings.model_copy(update={"postgres_port": free_port()})
    log = AuditLog(settings, "intake")
    try:
        with pytest.raises(Exception):  # noqa: B017 - sqlite3's or a PermissionError: either way not ready
            log.writable()
    finally:
        log.close()
