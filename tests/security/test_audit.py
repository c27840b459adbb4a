"""Attacks on the audit trail of PHI access in the ops app: reads that leave no trace, refusals that
leave no trace, editing or deleting entries, and a non-admin reading the trail."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from referral_loop.settings import Settings
from referral_loop.web.audit import AuditEvent, AuditLog, AuditQuery
from tests.projections.browser import Ops, opened_ops
from tests.support.servers import PostgresParams


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    with opened_ops(
        Settings(data_dir=tmp_path, sqlite_path=tmp_path / "store.sqlite", public_url="http://intake.test")
    ) as opened:
        yield opened


async def get(
    ops: Ops, path: str, user: str | None, password: str | None = None, **params: Any
) -> httpx.Response:
    async with ops.client(user) as client:
        if password is not None:
            client.auth = httpx.BasicAuth(str(user), password)
        return await client.get(path, params=params)


def referral_ids_in(response: httpx.Response) -> set[str]:
    if response.headers["content-type"].startswith("text/csv"):
        return {row["referral_id"] for row in csv.DictReader(io.StringIO(response.text))}
    return {item["referral_id"] for items in response.json().values() for item in items}


async def trail(ops: Ops, **filters: Any) -> list[dict[str, Any]]:
    response = await get(ops, "/api/audit", "admin", **filters)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


async def test_exactly_the_reads_made_are_in_the_trail_with_who_and_which_referrals(ops: Ops) -> None:
    first = await get(ops, "/api/worklists", "intake")
    lists = first.json()
    fullest = max(lists, key=lambda name: len(lists[name]))
    shown = [referral_ids_in(first)]
    for params in ({}, {"limit": 2}, {"format": "csv", "list": fullest}):
        response = await get(ops, "/api/worklists", "intake", **params)
        assert response.status_code == 200
        shown.append(referral_ids_in(response))
    await get(ops, "/api/volume", "intake", **{"from": "2026-01", "to": "2026-06"})  # an aggregate
    entries = await trail(ops, what="worklists")
    assert len(entries) == 4, "exactly the four reads of worklists, nothing for aggregates"
    oldest_first = list(reversed(entries))
    assert [(e["who"], e["role"], e["action"], e["outcome"]) for e in oldest_first] == [
        ("intake", "intake", "read", "allowed"),
        ("intake", "intake", "read", "allowed"),
        ("intake", "intake", "read", "allowed"),
        ("intake", "intake", "export", "allowed"),
    ]
    for entry, seen in zip(oldest_first, shown, strict=True):
        assert seen and set(entry["referral_ids"]) == seen, "the referrals the answer showed"
    referral = next(iter(shown[2]))
    expected = sum(referral in ids for ids in shown)
    assert len(await trail(ops, referral=referral)) == expected, "found by referral: the reads that showed it"


async def test_refused_reads_are_recorded_as_denied(ops: Ops) -> None:
    assert (await get(ops, "/api/worklists", "ops")).status_code == 403  # ops: aggregates only
    assert (await get(ops, "/api/worklists", "intake", password="wrong")).status_code == 401
    assert (await get(ops, "/api/worklists", None)).status_code == 401
    entries = list(reversed(await trail(ops, what="worklists")))
    assert [(e["who"], e["outcome"], e["detail"], e["referral_ids"]) for e in entries] == [
        ("ops", "denied", "HTTP 403", []),
        ("intake", "denied", "HTTP 401", []),
        ("anonymous", "denied", "HTTP 401", []),
    ]


async def test_only_an_admin_reads_the_trail_and_every_look_at_it_is_recorded(ops: Ops) -> None:
    for user in ("intake", "ops"):
        assert (await get(ops, "/api/audit", user)).status_code == 403
    first = await trail(ops, what="audit")  # recorded once answered: not in its own answer
    assert [(e["who"], e["outcome"]) for e in reversed(first)] == [("intake", "denied"), ("ops", "denied")]
    second = await trail(ops, what="audit")
    assert [(e["who"], e["outcome"]) for e in second[:1]] == [("admin", "allowed")]


@pytest.fixture
def audit_log(store_settings: Settings) -> Iterator[AuditLog]:
    log = AuditLog(store_settings, "test")
    yield log
    log.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET outcome = 'allowed'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE seq > 0",
    ],
)
def test_the_database_refuses_to_edit_or_delete_entries(audit_log: AuditLog, statement: str) -> None:
    audit_log.record(AuditEvent("mallory", "intake", "read", "worklists", "denied", detail="HTTP 403"))
    with pytest.raises((sqlite3.Error, psycopg.Error), match="append-only"):
        audit_log._run(statement, ())  # the app's own connection: what an injected statement could do
    [entry] = audit_log.query(AuditQuery())
    assert (entry.who, entry.outcome, entry.service) == ("mallory", "denied", "test")


def test_postgres_refuses_truncate_too(postgres_database: PostgresParams, tmp_path: Path) -> None:
    log = AuditLog(postgres_database.settings(data_dir=tmp_path), "test")
    try:
        log.record(AuditEvent("mallory", "intake", "read", "worklists", "allowed", ("r1",)))
        with pytest.raises(psycopg.Error, match="append-only"):
            log._run("TRUNCATE audit_log", ())
        assert [e.referral_ids for e in log.query(AuditQuery())] == [("r1",)]
    finally:
        log.close()
