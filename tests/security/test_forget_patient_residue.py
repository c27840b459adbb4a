"""forget-patient's key destruction leaves no bytes of the key in the SQLite file, even on
connections of a SQLite build that keeps freed bytes (most but Debian's: no SQLITE_SECURE_DELETE):
the command zeroes what it frees. Keys overwritten there without it do linger: the scan sees them.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool

from referral_loop.privacy.key_residue import clear_key_residue
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from referral_loop.store.patient_keys import KEYS
from tests.support import referrals as make


def secure_delete_by_default(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """The store's SQLite connections opened from now on as a build with SQLITE_SECURE_DELETE
    (Debian's: freed bytes zeroed) or without it (most others: freed bytes stay in the file)."""
    create = SQLiteConnectionPool._create_connection

    def opened(pool: SQLiteConnectionPool) -> SQLiteConnection:
        connection = create(pool)
        connection.cursor().execute(f"PRAGMA secure_delete = {'ON' if on else 'OFF'}")
        return connection

    monkeypatch.setattr(SQLiteConnectionPool, "_create_connection", opened)


def keys_written(settings: Settings, count: int) -> dict[UUID, str]:
    """`count` patients' referrals recorded; each one's data key as the keys table holds it (no
    store key: the raw key, base64)."""
    rids = [uuid4() for _ in range(count)]
    with closing(open_ledger(settings)) as ledger:
        facts = [
            make.received(
                r, patient={"given_name": f"P{i}", "family_name": "Doe", "birth_date": date(1950, 1, 2)}
            )
            for i, r in enumerate(rids)
        ]
        ledger.record_batch([Positioned(i + 1, fact) for i, fact in enumerate(facts)])
    with closing(sqlite3.connect(settings.sqlite_file)) as connection:
        rows = connection.execute(
            f"SELECT r.referral_id, k.wrapped FROM {KEYS} k JOIN referrals_referral_keys r USING (key_id)"
        ).fetchall()
    return {UUID(rid): wrapped for rid, wrapped in rows}


def overwritten_without_zeroing(settings: Settings, wrapped: list[str]) -> None:
    """The forgetting's UPDATE, by a connection that keeps freed bytes and sets nothing."""
    with closing(sqlite3.connect(settings.sqlite_file, isolation_level=None)) as connection:
        connection.execute("PRAGMA secure_delete = OFF")
        connection.execute(
            f"UPDATE {KEYS} SET wrapped = NULL, identity = NULL, forgotten_at = '2026-11-23T00:00:00+00:00' "
            f"WHERE wrapped IN ({','.join('?' * len(wrapped))})",
            wrapped,
        )


def in_the_files(settings: Settings, text: str) -> bool:
    """Whether `text` is in the store's database file, its WAL or its shared memory."""
    return any(text.encode() in p.read_bytes() for p in settings.sqlite_file.parent.glob("store.sqlite*"))


def test_forgetting_zeroes_the_keys_bytes_even_where_sqlite_would_keep_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(store="sqlite", data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite")
    secure_delete_by_default(monkeypatch, on=False)  # the writer zeroes what its key writes free
    keys = keys_written(settings, 400)
    forgotten, control = list(keys)[:100], list(keys)[100:200]
    with closing(open_ledger(settings)) as ledger:
        for rid in forgotten:
            ledger.patient_keys.forget(rid)
        overwritten_without_zeroing(settings, [keys[r] for r in control])
        assert clear_key_residue(ledger.patient_keys.datastore, postgres=False).cleared
        lingering = {rid for rid in forgotten + control if in_the_files(settings, keys[rid])}
    assert lingering & set(control), "the scan finds keys overwritten without zeroing"
    assert lingering & set(forgotten) == set()
