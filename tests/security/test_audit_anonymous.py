"""Attack: fill the audit trail from outside. Requests without credentials, or with made-up user
names, are refused; each used to write a durable entry, as many as anyone cared to send. Now a
window records a bounded number one by one and counts the rest in one summary entry per kind
(`referral_loop/web/audit_anonymous.py`); an authenticated caller's refusals are all recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from referral_loop.settings import Settings
from referral_loop.web.audit import AuditEvent, AuditLog, AuditQuery
from referral_loop.web.audit_anonymous import Unauthenticated
from tests.projections.browser import Ops, opened_ops


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    with opened_ops(Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite")) as opened:
        yield opened


def bounded(ops: Ops, individually: int) -> tuple[AuditLog, Clock]:
    clock, log = Clock(), ops.app.state.audit
    log.unauthenticated = Unauthenticated(window_s=60, individually=individually, clock=clock)
    return log, clock


async def worklists(ops: Ops, user: str | None = None, password: str | None = None) -> int:
    async with ops.client(None if password else user) as client:
        if password is not None:
            client.auth = httpx.BasicAuth(str(user), password)
        return (await client.get("/api/worklists")).status_code


def trail(log: AuditLog) -> list[AuditEvent]:
    return list(reversed(log.query(AuditQuery(what="worklists", limit=5000))))


async def test_unauthenticated_refusals_are_bounded_per_window_and_counted(ops: Ops) -> None:
    log, clock = bounded(ops, individually=3)
    # given a stranger sending 40 requests without credentials and 20 with made-up names
    for _ in range(40):
        assert await worklists(ops) == 401
    for n in range(20):
        assert await worklists(ops, f"guess{n}", "wrong") == 401
    # and ops, a real user, refused 5 times
    for _ in range(5):
        assert await worklists(ops, "ops") == 403
    # then the first 3 refusals of the stranger are entries, the rest not yet; ops's 5 all are
    entries = trail(log)
    assert [(e.who, e.outcome) for e in entries] == [("anonymous", "denied")] * 3 + [("ops", "denied")] * 5
    # when the window is over and the next request comes
    clock.now += timedelta(seconds=61)
    assert await worklists(ops) == 401
    # then one summary counts the 57 others, and the new window records this one
    summary, again = trail(log)[8:]
    assert (summary.who, summary.role, summary.outcome, summary.referral_ids) == (
        "anonymous",
        "none",
        "denied",
        (),
    )
    assert summary.detail.startswith("HTTP 401: 57 more from unauthenticated callers, 2026-05-04 12:00:00")
    assert (again.who, again.detail) == ("anonymous", "HTTP 401")


async def test_what_was_counted_is_written_when_the_log_closes(ops: Ops) -> None:
    log, _ = bounded(ops, individually=2)
    for _ in range(7):
        assert await worklists(ops) == 401
    log.close()
    reopened = AuditLog(ops.settings, "test")
    try:
        details = [e.detail for e in trail(reopened)]
    finally:
        reopened.close()
    assert details[:2] == ["HTTP 401", "HTTP 401"] and details[2].startswith("HTTP 401: 5 more")
    assert len(details) == 3
