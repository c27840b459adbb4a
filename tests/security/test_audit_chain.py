"""Attacks on the audit trail by someone with the database's files (or its owner's role), who can
drop the append-only triggers, delete or edit entries and put the triggers back: the hash chain
(`referral_loop/web/audit_chain.py`) shows it, and `audit verify` names the first broken entry. On
SQLite and PostgreSQL alike. (Before the chain, every attack here left no trace.)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from pydantic import SecretStr

from referral_loop.keys import new_key
from referral_loop.settings import Settings
from referral_loop.store.config import connect_postgres
from referral_loop.web.audit import AuditEvent, AuditLog
from referral_loop.web.audit_chain import entry_hash
from referral_loop.web.audit_tables import POSTGRES_SCHEMA, SQLITE_SCHEMA
from referral_loop.web.audit_verify import (
    EXIT_BROKEN,
    EXIT_INTACT,
    EXIT_UNAUTHENTICATED,
    Walk,
    keys_of,
    summary,
    verify,
)

FIELDS = "at, service, who, role, action, what, referral_ids, outcome, detail"


@pytest.fixture
def keyed(store_settings: Settings) -> Settings:
    """As deployed: a store key, so each entry carries a MAC under a key derived from it."""
    return store_settings.model_copy(update={"store_key": SecretStr(new_key())})


@pytest.fixture
def log(keyed: Settings) -> Iterator[AuditLog]:
    opened = AuditLog(keyed, "test")
    yield opened
    opened.close()


def entry(n: int) -> AuditEvent:
    return AuditEvent("ada", "intake", "read", "referral", "allowed", (f"r{n}",))


def filled(log: AuditLog, n: int = 6) -> None:
    """`n` entries: one by one, then a group in one transaction."""
    log.record(entry(0))
    log.record(entry(1))
    log.record_many([entry(i) for i in range(2, n)])


def checked(log: AuditLog, settings: Settings) -> Walk:
    return verify(log, keys_of(settings, []))


def tamper(settings: Settings, *statements: str) -> None:
    """What file access (SQLite) or the table owner's role (PostgreSQL) allows: drop the
    triggers, change the table, create the triggers again as they were."""
    triggers = [
        s for s in (SQLITE_SCHEMA if settings.store == "sqlite" else POSTGRES_SCHEMA) if "TRIGGER" in s
    ]
    if settings.store == "sqlite":
        with closing(sqlite3.connect(settings.audit_sqlite_file, isolation_level=None)) as connection:
            drop = ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"]
            for statement in [*drop, *statements, *triggers]:
                connection.execute(statement)
        return
    with connect_postgres(settings) as connection:
        drop = [
            "DROP TRIGGER audit_log_no_change ON audit_log",
            "DROP TRIGGER audit_log_no_truncate ON audit_log",
        ]
        for statement in [*drop, *[s.replace("?", "%s") for s in statements], *triggers]:
            connection.execute(statement)


def test_an_untouched_trail_verifies_with_its_mac(log: AuditLog, keyed: Settings) -> None:
    filled(log)
    walk = checked(log, keyed)
    assert (walk.broken, walk.chained, walk.unauthenticated) == ("", 6, 0)
    code, text = summary(walk)
    assert code == EXIT_INTACT and "intact: 6 chained entries" in text


def test_deleting_an_entry_around_the_trigger_is_named(log: AuditLog, keyed: Settings) -> None:
    filled(log)
    tamper(keyed, "DELETE FROM audit_log WHERE seq = 3")
    code, text = summary(checked(log, keyed))
    assert code == EXIT_BROKEN
    assert "BROKEN at entry 4: its prev_hash is not the hash of entry 2: entries were removed" in text


def test_deleting_the_first_entries_is_named(log: AuditLog, keyed: Settings) -> None:
    filled(log)
    tamper(keyed, "DELETE FROM audit_log WHERE seq <= 2")
    walk = checked(log, keyed)
    assert walk.broken.startswith("entry 3: its prev_hash is not the hash GENESIS")


def test_editing_an_entry_around_the_trigger_is_named(log: AuditLog, keyed: Settings) -> None:
    filled(log)
    tamper(keyed, "UPDATE audit_log SET who = 'nobody' WHERE seq = 2")
    walk = checked(log, keyed)
    assert walk.broken == "entry 2: its fields do not match its hash: it was edited"
    assert walk.chained == 1


def rechained(keyed: Settings, edit: str) -> None:
    """The attacker's better try: edit, then recompute every hash after it (SHA-256 is public);
    without the store key the MACs cannot be recomputed, so they are left as they were."""
    tamper(keyed, edit)
    sql = f"SELECT seq, {FIELDS} FROM audit_log ORDER BY seq"
    log = AuditLog(keyed.model_copy(update={"store_key": None}), "attacker")
    try:
        rows = log._run(sql, ())
    finally:
        log.close()
    prev, updates = "0" * 64, []
    for seq, *fields in rows:
        digest = entry_hash(prev, [str(f) for f in fields])
        updates.append(
            f"UPDATE audit_log SET prev_hash = '{prev}', entry_hash = '{digest}' WHERE seq = {seq}"
        )
        prev = digest
    tamper(keyed, *updates)


def test_an_edit_with_the_chain_recomputed_fails_its_mac(log: AuditLog, keyed: Settings) -> None:
    filled(log)
    rechained(keyed, "UPDATE audit_log SET who = 'nobody' WHERE seq = 2")
    walk = checked(log, keyed)
    assert walk.broken.startswith("entry 2: its MAC does not match"), walk.broken


def test_stripping_the_macs_after_rechaining_leaves_the_newest_unauthenticated(
    log: AuditLog, keyed: Settings
) -> None:
    filled(log)
    rechained(keyed, "UPDATE audit_log SET mac = NULL, key_id = NULL WHERE seq >= 4")
    code, text = summary(checked(log, keyed))
    assert code == EXIT_UNAUTHENTICATED and "the newest 3 entries carry no MAC" in text


def test_cutting_the_newest_entries_shows_against_a_head_kept_elsewhere(
    log: AuditLog, keyed: Settings
) -> None:
    filled(log)
    head = checked(log, keyed).last
    assert head is not None
    tamper(keyed, "DELETE FROM audit_log WHERE seq >= 5")
    assert checked(log, keyed).broken == "", "the rest still links: the chain alone cannot show a cut tail"
    walk = verify(log, keys_of(keyed, []), head)
    assert walk.broken.startswith(f"entry {head[0]}: not in the chain with hash {head[1]}")


def test_several_writers_at_once_keep_one_chain(keyed: Settings) -> None:
    """Intake's processes append concurrently: the tail is read and extended under one lock."""
    logs = [AuditLog(keyed, f"intake-{n}") for n in range(4)]
    try:

        def write(log: AuditLog) -> None:
            for n in range(15):
                log.record(entry(n)) if n % 3 else log.record_many([entry(n), entry(n)])

        threads = [threading.Thread(target=write, args=(log,)) for log in logs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        walk = checked(logs[0], keyed)
        assert (walk.broken, walk.chained) == ("", 4 * 20)
    finally:
        for log in logs:
            log.close()


def test_entries_from_before_the_chain_come_first_and_are_counted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.audit_sqlite_file.parent.mkdir(parents=True)
    with closing(sqlite3.connect(settings.audit_sqlite_file, isolation_level=None)) as connection:
        old_table = SQLITE_SCHEMA[0].replace(", prev_hash TEXT, entry_hash TEXT, mac TEXT, key_id TEXT", "")
        connection.execute(old_table)
        connection.execute(
            f"INSERT INTO audit_log ({FIELDS}) VALUES ('t', 's', 'w', 'r', 'a', 'w', '[]', 'allowed', '')"
        )
    log = AuditLog(settings, "test")
    try:
        filled(log, 3)
        code, text = summary(checked(log, settings))
        assert code == EXIT_INTACT and "intact: 3 chained entries; 1 entries from before the chain" in text
        assert "no store key: hashes checked, no MAC" in text
    finally:
        log.close()
