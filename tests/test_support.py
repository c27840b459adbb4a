"""The test support itself: settings per store backend and service processes from Settings."""

from __future__ import annotations

import json
from pathlib import Path

from referral_loop.settings import Settings
from referral_loop.store.config import connect_postgres
from tests.support.processes import ProcessRegistry, wait_until


def test_store_settings_reach_their_store(store_settings: Settings, tmp_path: Path) -> None:
    assert store_settings.data_dir == tmp_path
    if store_settings.store == "sqlite":
        assert store_settings.sqlite_file.parent == tmp_path
        return
    with connect_postgres(store_settings) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == (store_settings.postgres_dbname,)


def test_service_process_reads_settings_from_env(services: ProcessRegistry, tmp_path: Path) -> None:
    users = tmp_path / "elsewhere" / "users.json"
    service = services.start("users", Settings(data_dir=tmp_path, users_file=users))
    wait_until(lambda: not service.running, timeout=30, what="`referral-loop users` exits")
    assert service.returncode == 0, service.log_text()
    credentials = json.loads((users.parent / "local-credentials.json").read_text())
    assert credentials["intake"]["password"] in service.log_text()
