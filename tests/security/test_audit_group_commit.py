"""Group commit of the audit trail (`AuditLog.arecord`), on both stores: concurrent entries are
written together, in arrival order, exactly once; a failed write fails every caller it held and
the next write works again; a cancelled caller does not stop the others' entries.

Writes are counted, not timed: `record` (one entry) and `record_many` (one transaction) are
wrapped on the log, so a test fails the same way on a fast or a loaded machine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import psycopg
import pytest

from referral_loop.settings import Settings
from referral_loop.web.audit import AuditEvent, AuditLog, AuditQuery, Outcome

DB_ERRORS = (sqlite3.Error, psycopg.Error)


@pytest.fixture
def audit_log(store_settings: Settings) -> Iterator[AuditLog]:
    log = AuditLog(store_settings, "test")
    yield log
    log.close()


def entry(n: int) -> AuditEvent:
    return AuditEvent("intake", "intake", "read", "referral", "allowed", (f"r{n}",))


def logged(log: AuditLog) -> list[str]:
    """The referral id of each entry in the log, oldest first (seq order)."""
    return [e.referral_ids[0] for e in reversed(log.query(AuditQuery(limit=5000)))]


def count_writes(
    log: AuditLog, monkeypatch: pytest.MonkeyPatch, before: Callable[[], None] = lambda: None
) -> list[int]:
    """The number of entries of each write the log makes from now on (`before` runs first)."""
    sizes: list[int] = []
    one, many = log.record, log.record_many

    def record(event: AuditEvent) -> None:
        sizes.append(1)
        before()
        one(event)

    def record_many(events: list[AuditEvent]) -> None:
        sizes.append(len(events))
        before()
        many(events)

    monkeypatch.setattr(log, "record", record)
    monkeypatch.setattr(log, "record_many", record_many)
    return sizes


async def test_concurrent_entries_are_written_together_in_order_exactly_once(
    audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = count_writes(audit_log, monkeypatch)
    # when fifty requests record at once
    await asyncio.gather(*(audit_log.arecord(entry(n)) for n in range(50)))
    # then all are in the log, once each, in the order they arrived, in very few transactions
    assert logged(audit_log) == [f"r{n}" for n in range(50)]
    assert sum(writes) == 50 and len(writes) <= 2, f"one transaction per batch, not per entry: {writes}"
    assert asyncio.all_tasks() == {asyncio.current_task()}, "no flush left running once idle"


class Broken:
    """The log's connection after a full disk or a lost server: every statement fails."""

    def __init__(self, real: Any, error: Exception) -> None:
        self.real, self.error, self.closed = real, error, False

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return fail

    def close(self) -> None:
        self.closed = True
        self.real.close()


async def test_a_failed_write_fails_every_caller_in_it_and_the_next_write_works(
    audit_log: AuditLog, store_settings: Settings
) -> None:
    # given a log whose connection breaks after its first entry
    await audit_log.arecord(entry(0))
    sqlite = store_settings.store == "sqlite"
    error = sqlite3.OperationalError("disk I/O error") if sqlite else psycopg.OperationalError("lost")
    broken = audit_log._connection = Broken(audit_log._connection, error)
    # when ten requests record at once (one batch)
    failed = await asyncio.gather(
        *(audit_log.arecord(entry(n)) for n in range(1, 11)), return_exceptions=True
    )
    # then each of them raises (no audit, no PHI), and the broken connection was let go
    assert failed == [error] * 10
    assert broken.closed and logged(audit_log) == ["r0"]
    # and once the fault is gone (a fresh connection) the next entries are written
    await asyncio.gather(*(audit_log.arecord(entry(n)) for n in range(11, 14)))
    assert logged(audit_log) == ["r0", "r11", "r12", "r13"]


async def test_a_batch_is_one_transaction_an_entry_that_cannot_be_written_fails_it_all(
    audit_log: AuditLog,
) -> None:
    # given an entry the database refuses (no outcome: NOT NULL) among good ones
    bad = AuditEvent("intake", "intake", "read", "referral", cast(Outcome, None))
    # when they are recorded at once
    results = await asyncio.gather(
        *(audit_log.arecord(e) for e in (entry(0), bad, entry(2))), return_exceptions=True
    )
    # then every caller of that batch raises and none of it was written: all or nothing
    assert all(isinstance(result, DB_ERRORS) for result in results), results
    assert logged(audit_log) == []
    await audit_log.arecord(entry(3))
    assert logged(audit_log) == ["r3"]


async def test_a_cancelled_caller_does_not_stop_the_others_entries(
    audit_log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    writing, go_on = threading.Event(), threading.Event()

    def held() -> None:
        writing.set()
        go_on.wait(10)

    writes = count_writes(audit_log, monkeypatch, before=held)
    # given five entries being written, the first caller's having started the write
    first = [asyncio.create_task(audit_log.arecord(entry(n))) for n in range(5)]
    assert await asyncio.to_thread(writing.wait, 10)
    # and five more that arrived meanwhile, waiting for the next write
    then = [asyncio.create_task(audit_log.arecord(entry(n))) for n in range(5, 10)]
    await asyncio.sleep(0)
    # when the first caller and one of those waiting are cancelled (their clients went away)
    first[0].cancel()
    then[2].cancel()
    go_on.set()
    outcomes = await asyncio.gather(*first, *then, return_exceptions=True)
    # then they alone stop; every entry, theirs too, is written once, in order, in two writes
    assert [type(o).__name__ for o in outcomes] == [
        "CancelledError",
        *["NoneType"] * 6,
        "CancelledError",
        "NoneType",
        "NoneType",
    ]
    assert logged(audit_log) == [f"r{n}" for n in range(10)]
    assert writes == [5, 5]
