"""Sessions, OIDC sign-ins under way and sign-in attempts live in the service's database (issue 14,
finding 6), on SQLite and on PostgreSQL: two instances of intake and the ops app over the same
settings (as two processes are) know the same sessions, finish each other's OIDC sign-ins and
count attempts together; the table keeps a session's id only as its SHA-256.
Real processes (INTAKE_WORKERS=2): tests/intake/test_workers.py."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from launcher.natsd import free_port
from referral_loop.settings import Settings
from tests.projections.browser import serving
from tests.security.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeProvider
from tests.security.test_auth_oidc import through_provider
from tests.security.web_apps import Apps, both_apps
from tests.support.signin import csrf_of, sign_in, signed_in_client

Pair = tuple[Apps, Apps]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    with serving(fake.app(), free_port()) as url:  # type: ignore[arg-type]
        fake.url = url
        yield fake


@pytest.fixture
def pair(store_settings: Settings, provider: FakeProvider) -> Iterator[Pair]:
    """Two of each app on one database, as two processes (or replicas) of the service are."""
    settings = store_settings.model_copy(
        update={
            "oidc_issuer": provider.url,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
        }
    )
    with both_apps(settings) as first, both_apps(settings) as second:
        yield first, second


def client(app: object, address: str = "203.0.113.9") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="https://intake.test")


async def test_a_session_opened_in_one_process_is_known_and_ended_in_the_other(pair: Pair) -> None:
    first, second = pair
    async with signed_in_client(first.intake, "intake", first.password("intake")) as browser:
        cookie = browser.cookies["rl_intake_session"]
        async with client(second.intake) as elsewhere:
            elsewhere.cookies.set("rl_intake_session", cookie)
            page = await elsewhere.get("/referrals")
            assert page.status_code == 200 and "intake (intake)" in page.text
            out = await elsewhere.post("/logout", data={"csrf_token": csrf_of(page.text)})
            assert out.status_code == 303
        assert (await browser.get("/referrals")).status_code == 303  # signed out everywhere


async def test_the_table_keeps_only_the_sha256_of_a_session_id(pair: Pair) -> None:
    first, _ = pair
    async with signed_in_client(first.intake, "admin", first.password("admin")) as browser:
        cookie = browser.cookies["rl_intake_session"]
    rows = first.intake.state.guard.tables.run("SELECT * FROM staff_sessions")
    assert [row[0] for row in rows] == [hashlib.sha256(cookie.encode()).hexdigest()]
    assert cookie not in repr(rows)
    if first.settings.store == "sqlite":
        assert cookie.encode() not in first.settings.sessions_sqlite_file.read_bytes()


async def test_sign_in_attempts_count_once_across_processes_and_both_apps(pair: Pair) -> None:
    first, second = pair
    apps = [first.intake, second.intake, first.ops, second.ops]
    answers = []
    for attempt in range(30):
        async with client(apps[attempt % 4]) as guesser:
            answers.append((await sign_in(guesser, "intake", f"guess-{attempt}")).status_code)
    assert answers == [401] * 30
    for app in apps:
        async with client(app) as guesser:
            assert (await sign_in(guesser, "intake", first.password("intake"))).status_code == 429
    async with client(second.ops, "198.51.100.4") as colleague:
        assert (await sign_in(colleague, "ops", first.password("ops"))).status_code == 303


async def test_an_oidc_sign_in_begun_in_one_process_finishes_in_the_other(pair: Pair) -> None:
    first, second = pair
    async with client(first.intake) as begun, client(second.intake) as finished:
        callback = await through_provider(begun)
        finished.cookies.set("rl_intake_session_oidc", begun.cookies["rl_intake_session_oidc"])
        answer = await finished.get(callback)
        assert answer.status_code == 303 and answer.headers["location"] == "/referrals"
        assert (await finished.get("/referrals")).status_code == 200
        assert (await begun.get(callback)).status_code == 403  # taken once, whichever process
