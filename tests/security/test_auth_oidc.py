"""Staff sign-in through OIDC (164.312(d)), against a fake provider over real HTTP: the code flow
with PKCE signs a clinician in with the role the provider grants; a callback from another browser,
a replayed code, an ID token for another client, with another nonce, signed by another key,
expired, or granting no role are all refused (403) and start no session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from launcher.natsd import free_port
from tests.projections.browser import serving
from tests.security.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeProvider, new_key
from tests.security.web_apps import Apps, both_apps, settings_in


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake, port = FakeProvider(), free_port()
    with serving(fake.app(), port) as url:  # type: ignore[arg-type]
        fake.url = url
        yield fake


@pytest.fixture
def apps(tmp_path: Path, provider: FakeProvider) -> Iterator[Apps]:
    settings = settings_in(
        tmp_path,
        oidc_issuer=provider.url,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=SecretStr(CLIENT_SECRET),
    )
    with both_apps(settings) as found:
        yield found


def browser(apps: Apps) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.intake), base_url="https://intake.test")


async def through_provider(client: httpx.AsyncClient) -> str:
    """Start at the app, pass the provider (real HTTP); the callback URL it sends the browser back to."""
    start = await client.get("/login/oidc", params={"next": "/referrals"})
    assert start.status_code == 303
    async with httpx.AsyncClient() as outside:
        approved = await outside.get(start.headers["location"])
    assert approved.status_code == 302
    return approved.headers["location"]


async def test_a_clinician_signs_in_with_pkce_and_gets_the_granted_role(
    apps: Apps, provider: FakeProvider
) -> None:
    async with browser(apps) as client:
        answer = await client.get(await through_provider(client))
        assert answer.status_code == 303 and answer.headers["location"] == "/referrals"
        page = await client.get("/referrals")
        assert page.status_code == 200 and "dr.quinn (clinician)" in page.text
        assert (await client.get("/referrals/new")).status_code == 403  # clinicians enter no referrals
    [asked], [traded] = provider.authorize_requests, provider.token_requests
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    assert "code_verifier" in traded and traded["code_verifier"] not in str(asked)


async def test_a_callback_from_another_browser_or_a_replayed_code_is_refused(apps: Apps) -> None:
    async with browser(apps) as victim, browser(apps) as attacker:
        callback = await through_provider(attacker)
        assert (await victim.get(callback)).status_code == 403  # login CSRF: not this browser's state
        assert (await attacker.get(callback)).status_code == 303
        assert (await attacker.get(callback)).status_code == 403  # the state is spent


@pytest.mark.parametrize(
    "misbehaviour",
    [{"aud": "another-client"}, {"nonce": "another"}, {"exp": 1000}, {"iss": "https://evil.example"},
     {"roles": ["superuser"]}, {"roles": []}, "other key"],
)  # fmt: skip
async def test_an_id_token_that_does_not_check_out_starts_no_session(
    apps: Apps, provider: FakeProvider, misbehaviour: object
) -> None:
    if misbehaviour == "other key":
        provider.signing_key = new_key()
    else:
        assert isinstance(misbehaviour, dict)
        provider.claims |= misbehaviour
    async with browser(apps) as client:
        answer = await client.get(await through_provider(client))
        assert answer.status_code == 403
        assert apps.intake.state.guard.cookie not in client.cookies
        assert (await client.get("/referrals")).status_code == 303
