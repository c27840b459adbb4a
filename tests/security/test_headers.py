"""Security headers on every answer of both apps, whatever the route or the outcome (200, 303, 401,
403, 404, 413): a Content-Security-Policy that forbids framing and scripts, nosniff, a
Referrer-Policy, X-Frame-Options; Strict-Transport-Security over https only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from referral_loop.web.auth import declared_routes
from tests.security.web_apps import Apps, both_apps, settings_in


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    with both_apps(settings_in(tmp_path, max_body_bytes=1000)) as found:
        yield found


def assert_locked_down(answer: httpx.Response, https: bool) -> None:
    headers, where = answer.headers, f"{answer.request.method} {answer.request.url.path} {answer.status_code}"
    policy = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, where
    assert "script-src" not in policy or answer.request.url.path in (
        "/docs",
        "/redoc",
        "/docs/oauth2-redirect",
    ), where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("referrer-policy") == "same-origin", where
    assert ("strict-transport-security" in headers) is https, where
    if https:
        assert headers["strict-transport-security"].startswith("max-age=31536000"), where


async def every_answer(app: FastAPI, base_url: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        for route in declared_routes(app):
            path = route.path.replace("{referral_id}", "00000000-0000-0000-0000-000000000001")
            for method in route.methods - {"HEAD"}:
                answers.append(await client.request(method, path))
        answers.append(await client.get("/no-such-page"))
        answers.append(await client.post("/api/referrals", content=b"x" * 5000))
    return answers


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_every_answer_of_both_apps_carries_the_security_headers(apps: Apps, scheme: str) -> None:
    statuses = set()
    for app in (apps.intake, apps.ops):
        for answer in await every_answer(app, f"{scheme}://app.example"):
            assert_locked_down(answer, https=scheme == "https")
            statuses.add(answer.status_code)
    assert {200, 303, 401, 404, 413} <= statuses
