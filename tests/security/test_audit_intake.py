"""Attacks on intake's audit trail: reads of PHI (JSON API, pages, the report page) and creates
that leave no trace or the wrong referrals, refusals that leave none, and PHI shown or taken in
when the trail cannot be written. Intake records; an admin reads the same trail through the ops
app's query (`GET /api/audit`), on both stores. Entries cannot be altered: tests/security/test_audit.py.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from referral_loop.settings import Settings
from services.intake.form import KEY_FIELD
from tests.intake.test_pages import GOOD_FORM
from tests.projections.browser import record
from tests.security.web_apps import Apps, both_apps
from tests.support import referrals as make
from tests.support.signin import csrf_of, signed_in_client

UUIDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOTHING = frozenset[str]()


@pytest.fixture
def apps(store_settings: Settings) -> Iterator[Apps]:
    with both_apps(store_settings) as opened:
        yield opened


def seeded(apps: Apps) -> tuple[str, str, str]:
    """Three referrals in the store, oldest first; the last seen (it has a consult report)."""
    a, b, c = uuid4(), uuid4(), uuid4()
    record(apps.settings, [make.received(a), make.received(b), make.received(c), make.seen(c)])
    return str(a), str(b), str(c)


@contextlib.asynccontextmanager
async def api(app: FastAPI, auth: tuple[str, str] | None, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, **options)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test", auth=auth) as client:
        yield client


def signed_in(apps: Apps, user: str) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
    return signed_in_client(apps.intake, user, apps.password(user), base_url="https://intake.test")


async def trail(apps: Apps, **filters: Any) -> list[tuple[Any, ...]]:
    """Intake's entries, oldest first, as an admin reads them through the ops app's query."""
    async with api(apps.ops, ("admin", apps.password("admin"))) as client:
        response = await client.get("/api/audit", params={"limit": 5000, **filters})
    assert response.status_code == 200, response.text
    entries = [e for e in reversed(response.json()) if e["service"] == "intake"]
    return [
        (e["who"], e["role"], e["action"], e["what"], e["outcome"], frozenset(e["referral_ids"]), e["detail"])
        for e in entries
    ]


def shown_in(response: httpx.Response) -> frozenset[str]:
    """The referral ids an answer shows: in its JSON, or anywhere in its page or error."""
    if response.status_code == 200 and response.headers["content-type"].startswith("application/json"):
        found = response.json()
        return frozenset(r["referral_id"] for r in (found if isinstance(found, list) else [found]))
    return frozenset(UUIDS.findall(response.text))


async def test_exactly_the_reads_made_are_in_the_trail_with_who_and_the_ids_shown(apps: Apps) -> None:
    a, b, c = seeded(apps)
    gone = str(uuid4())
    reads = {
        "/api/referrals": "referrals",
        "/api/referrals?limit=1": "referrals",
        f"/api/referrals/{a}": "referral",
        f"/api/referrals/{gone}": "referral",
    }
    pages = {"/referrals": "referrals", f"/referrals/{b}": "referral", f"/referrals/{gone}": "referral"}
    pages |= {f"/referrals/{c}/report": "report", f"/referrals/{a}/report": "report"}  # a: not seen yet
    async with api(apps.intake, ("intake", apps.password("intake"))) as client:
        answers = [await client.get(path) for path in reads]
    async with signed_in(apps, "intake") as browser:
        answers += [await browser.get(path) for path in pages]
    assert [r.status_code for r in answers] == [200, 200, 200, 404, 200, 200, 404, 200, 404]
    shown = [shown_in(r) for r in answers]
    assert shown == [{a, b, c}, {c}, {a}, NOTHING, {a, b, c}, {b}, NOTHING, {c}, NOTHING]
    asked = [None, None, a, gone, None, b, gone, c, a]
    whats = [*reads.values(), *pages.values()]
    assert await trail(apps) == [
        read_of(what, ids, x) for what, ids, x in zip(whats, shown, asked, strict=True)
    ], "exactly the nine reads, each with the ids it showed (sign-in and the form show no PHI)"
    assert len(await trail(apps, referral=a)) == 3, "found by referral: the reads that showed it"


def read_of(what: str, ids: frozenset[str], asked: str | None) -> tuple[Any, ...]:
    """The entry of intake's read of `what` that showed `ids` (none: a 404 for `asked`)."""
    outcome, detail = ("allowed", "") if ids else ("failed", f"HTTP 404 (referral {asked})")
    return ("intake", "intake", "read", what, outcome, ids, detail)


async def test_every_create_is_recorded_with_the_new_id_and_a_retry_is_recorded_again(apps: Apps) -> None:
    a, b, _ = seeded(apps)
    key = {"Idempotency-Key": "fax-2026-11-22-0007"}
    async with api(apps.intake, ("intake", apps.password("intake"))) as client:
        first = await client.post("/api/referrals", json=make.referral_body(), headers=key)
        again = await client.post("/api/referrals", json=make.referral_body(), headers=key)
        seen = await client.post(f"/api/referrals/{a}/seen", json=body_of(make.seen(UUID(a))))
        declined = await client.post(f"/api/referrals/{b}/decline", json=body_of(make.declined(UUID(b))))
    async with signed_in(apps, "intake") as browser:
        form = (await browser.get("/referrals/new")).text
        typed = GOOD_FORM | {"csrf_token": csrf_of(form), KEY_FIELD: "form-token-9"}
        submitted = await browser.post("/referrals/new", data=typed)
    assert [r.status_code for r in (first, again, seen, declined, submitted)] == [202, 202, 202, 202, 200]
    new, typed_in = first.json()["referral_id"], str(apps.published.facts[-1].referral_id)
    assert again.json()["referral_id"] == new != typed_in and typed_in in submitted.text
    assert [f.type for f in apps.published.facts][2:4] == ["PatientSeen", "ReferralDeclined"]
    assert await trail(apps) == [
        ("intake", "intake", "create", "ReferralReceived", "allowed", {new}, ""),
        ("intake", "intake", "create", "ReferralReceived", "allowed", {new}, ""),
        ("intake", "intake", "create", "PatientSeen", "allowed", {a}, ""),
        ("intake", "intake", "create", "ReferralDeclined", "allowed", {b}, ""),
        ("intake", "intake", "create", "ReferralReceived", "allowed", {typed_in}, ""),
    ]


def body_of(fact: Any) -> Any:
    return fact.data.model_dump(mode="json")


async def test_a_create_the_bus_did_not_take_is_recorded_as_failed_after_it_was_allowed(apps: Apps) -> None:
    a, _, _ = seeded(apps)
    apps.intake.state.intake.publisher = None  # NATS down: nothing can be accepted
    async with api(apps.intake, ("intake", apps.password("intake"))) as client:
        refused = await client.post("/api/referrals", json=make.referral_body())
        seen = await client.post(f"/api/referrals/{a}/seen", json=body_of(make.seen(UUID(a))))
    async with signed_in(apps, "intake") as browser:
        form = (await browser.get("/referrals/new")).text
        typed = GOOD_FORM | {"csrf_token": csrf_of(form)}
        page = await browser.post("/referrals/new", data=typed)
    assert (refused.status_code, seen.status_code, page.status_code) == (503, 503, 503)
    entries = await trail(apps)
    assert [(e[3], e[4], e[6]) for e in entries] == [
        (what, outcome, "" if outcome == "allowed" else "HTTP 503")
        for what in ("ReferralReceived", "PatientSeen", "ReferralReceived")
        for outcome in ("allowed", "failed")
    ]
    assert all(len(e[5]) == 1 for e in entries) and entries[2][5] == entries[3][5] == {a}


async def test_refusals_on_patient_endpoints_are_recorded_as_denied(apps: Apps) -> None:
    a, _, _ = seeded(apps)
    summary = body_of(make.seen(UUID(a)))
    async with api(apps.intake, ("ops", apps.password("ops"))) as ops:
        assert (await ops.get(f"/api/referrals/{a}")).status_code == 403
        assert (await ops.post(f"/api/referrals/{a}/seen", json=summary)).status_code == 403
    async with api(apps.intake, None) as anonymous:
        assert (await anonymous.get(f"/api/referrals/{a}")).status_code == 401
        assert (await anonymous.get("/referrals")).status_code == 303  # to the sign-in form
    async with api(apps.intake, ("intake", "wrong")) as guessing:
        assert (await guessing.post("/api/referrals", json=make.referral_body())).status_code == 401
    async with signed_in(apps, "ops") as browser:
        assert (await browser.get(f"/referrals/{a}/report")).status_code == 403
    asked = f" (referral {a})"
    assert await trail(apps) == [
        ("ops", "ops", "read", "referral", "denied", NOTHING, "HTTP 403" + asked),
        ("ops", "ops", "create", "PatientSeen", "denied", NOTHING, "HTTP 403" + asked),
        ("anonymous", "none", "read", "referral", "denied", NOTHING, "HTTP 401" + asked),
        ("anonymous", "none", "read", "referrals", "denied", NOTHING, "no session"),
        ("intake", "unverified", "create", "ReferralReceived", "denied", NOTHING, "HTTP 401"),
        ("ops", "ops", "read", "report", "denied", NOTHING, "HTTP 403" + asked),
    ]
    assert apps.published.facts == []


async def test_too_many_submissions_are_recorded_as_denied(store_settings: Settings) -> None:
    with both_apps(store_settings.model_copy(update={"submissions_per_minute": 1})) as apps:
        async with api(apps.intake, ("intake", apps.password("intake"))) as client:
            assert (await client.post("/api/referrals", json=make.referral_body())).status_code == 202
            assert (await client.post("/api/referrals", json=make.referral_body())).status_code == 429
        new = str(apps.published.facts[0].referral_id)
        assert await trail(apps) == [
            ("intake", "intake", "create", "ReferralReceived", "allowed", {new}, ""),
            ("intake", "intake", "create", "ReferralReceived", "denied", NOTHING, "HTTP 429"),
        ]


async def test_without_a_trail_nothing_is_shown_and_nothing_is_taken_in(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, _ = seeded(apps)

    def broken(_: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    for write in ("record", "record_many"):  # one entry at a time, or group-committed
        monkeypatch.setattr(apps.intake.state.audit, write, broken)
    async with api(apps.intake, ("intake", apps.password("intake")), raise_app_exceptions=False) as client:
        answers = [
            await client.get("/api/referrals"),
            await client.get(f"/api/referrals/{a}"),
            await client.post("/api/referrals", json=make.referral_body()),
            await client.post(f"/api/referrals/{a}/seen", json=body_of(make.seen(UUID(a)))),
        ]
    assert [r.status_code for r in answers] == [500] * 4
    assert not any(a in r.text or "Lovelace" in r.text for r in answers), "no audit, no PHI"
    assert apps.published.facts == [], "no audit, nothing taken in"
