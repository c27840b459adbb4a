"""Staff sessions and forms: the session cookie's flags, the idle timeout (automatic logoff, HIPAA
164.312(a)(2)(iii)), sign-out, CSRF on every form (a post without a valid token is 403), and no
redirect to another site after sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.intake.test_pages import GOOD_FORM
from tests.security.web_apps import Apps, both_apps, settings_in
from tests.support.signin import csrf_of, sign_in, signed_in_client


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    with both_apps(settings_in(tmp_path, session_idle_minutes=15)) as found:
        yield found


def client_of(apps: Apps, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.intake), base_url=base_url)


def flags_of(answer: httpx.Response, name: str) -> set[str]:
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}="))
    return {part.strip().lower() for part in cookie.split(";")[1:]}


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [("https://intake.example", True), ("http://intake.example", True), ("http://127.0.0.1:8000", False)],
)
async def test_cookies_are_httponly_samesite_and_secure_unless_plain_http_to_loopback(
    apps: Apps, base_url: str, secure: bool
) -> None:
    async with client_of(apps, base_url) as client:
        form = await client.get("/login")
        answer = await sign_in(client, "intake", apps.password("intake"))
    cookies = [flags_of(form, "rl_intake_session_signin")]
    if secure and base_url.startswith("http:"):
        assert answer.status_code == 403  # a browser sends no Secure cookie back over plain http
    else:
        assert answer.status_code == 303
        cookies.append(flags_of(answer, "rl_intake_session"))
        assert not any(f.startswith(("max-age", "expires")) for f in cookies[-1])  # gone with the browser
    for flags in cookies:
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        assert ("secure" in flags) is secure


async def test_a_session_ends_after_the_idle_time_and_on_sign_out(apps: Apps) -> None:
    now = [1000.0]
    apps.intake.state.guard.sessions.clock = lambda: now[0]
    async with signed_in_client(apps.intake, "intake", apps.password("intake")) as client:
        now[0] += 14 * 60
        assert (await client.get("/referrals")).status_code == 200  # in use: the idle clock restarts
        now[0] += 14 * 60
        page = await client.get("/referrals")
        assert page.status_code == 200
        now[0] += 15 * 60
        assert (await client.get("/referrals")).headers["location"] == "/login?next=%2Freferrals"
    async with signed_in_client(apps.intake, "intake", apps.password("intake")) as client:
        page, old = await client.get("/referrals"), client.cookies["rl_intake_session"]
        out = await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
    async with client_of(apps, "https://app.test") as replay:  # the old cookie, kept by an attacker
        assert (
            await replay.get("/referrals", headers={"Cookie": f"rl_intake_session={old}"})
        ).status_code == 303


async def test_a_form_post_without_the_sessions_csrf_token_is_403_and_saves_nothing(apps: Apps) -> None:
    async with signed_in_client(apps.intake, "admin", apps.password("admin")) as other:
        foreign = csrf_of((await other.get("/referrals/new")).text)
    async with signed_in_client(apps.intake, "intake", apps.password("intake")) as client:
        own = csrf_of((await client.get("/referrals/new")).text)
        assert (await client.post("/referrals/new", data=GOOD_FORM)).status_code == 403
        assert (await client.post("/referrals/new", data=GOOD_FORM | {"csrf_token": ""})).status_code == 403
        assert (
            await client.post("/referrals/new", data=GOOD_FORM | {"csrf_token": foreign})
        ).status_code == 403
        assert (await client.post("/logout", data={})).status_code == 403
        assert apps.published.facts == []
        assert (await client.post("/referrals/new", data=GOOD_FORM | {"csrf_token": own})).status_code == 200
    assert len(apps.published.facts) == 1


async def test_the_sign_in_form_needs_its_own_csrf_token(apps: Apps) -> None:
    async with client_of(apps, "https://intake.test") as client:
        credentials = {"username": "intake", "password": apps.password("intake")}
        assert (await client.post("/login", data=credentials)).status_code == 403
        form = await client.get("/login")
        client.cookies.clear()  # the token without the cookie it is bound to
        assert (
            await client.post("/login", data=credentials | {"csrf_token": csrf_of(form.text)})
        ).status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_sign_in_never_sends_the_browser_to_another_site(apps: Apps, target: str) -> None:
    async with client_of(apps, "https://intake.test") as client:
        form = await client.get("/login", params={"next": target})
        data = {"csrf_token": csrf_of(form.text), "username": "intake", "password": apps.password("intake")}
        answer = await client.post("/login", data=data | {"next": target})
    assert answer.status_code == 303 and answer.headers["location"] == "/referrals"
