"""Services opening a new PostgreSQL store together (writer, feedback, projections, at once):
concurrent CREATE TABLE IF NOT EXISTS can fail there with a duplicate pg_type row; creating the
patient-key tables takes turns instead, so each service opens."""

from __future__ import annotations

from pathlib import Path

from referral_loop.store.config import open_ledger
from referral_loop.store.patient_keys import KEYS, REFERRALS, PatientKeys
from tests.support.at_once import failures_at_once
from tests.support.servers import EmbeddedPostgres, fresh_postgres_database


def test_patient_key_tables_created_at_once_by_several_services_open_for_each(
    postgres_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    ledger = open_ledger(fresh_postgres_database(postgres_server).settings(data_dir=tmp_path))
    datastore = ledger.recorder.datastore  # type: ignore[attr-defined]
    failures: list[Exception] = []
    try:
        for _ in range(10):
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(f"DROP TABLE {KEYS}, {REFERRALS}")
            failures += failures_at_once(lambda: PatientKeys(datastore, True, None))
    finally:
        ledger.close()
    assert failures == []
