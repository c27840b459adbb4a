"""Rate limits and the body size limit: the 31st sign-in attempt in a minute from one client is 429
(form or API, right password or not), submissions per user per minute are capped, and a 10 MB body
is refused with 413 by a real server before it is read (by its length, or as it streams in)."""

from __future__ import annotations

import base64
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launcher.natsd import free_port
from tests.projections.browser import serving
from tests.security.web_apps import Apps, both_apps, settings_in
from tests.support.referrals import received
from tests.support.signin import csrf_of

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[Apps]:
    settings = settings_in(tmp_path, submissions_per_minute=3, nats_url=f"nats://127.0.0.1:{free_port()}")
    with both_apps(settings) as found:
        yield found


def client_from(apps: Apps, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=apps.intake, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="https://intake.test")


async def attempt(client: httpx.AsyncClient, password: str) -> int:
    form = await client.get("/login")
    data = {"csrf_token": csrf_of(form.text), "username": "intake", "password": password}
    return (await client.post("/login", data=data)).status_code


async def test_the_31st_sign_in_attempt_in_a_minute_from_one_client_is_429(apps: Apps) -> None:
    now = [500.0]
    apps.intake.state.guard.logins.clock = lambda: now[0]
    async with client_from(apps, "203.0.113.7") as attacker, client_from(apps, "198.51.100.2") as colleague:
        answers = [await attempt(attacker, f"guess-{i}") for i in range(30)]
        assert answers == [401] * 30
        assert await attempt(attacker, apps.password("intake")) == 429
        assert (await attacker.get("/api/referrals", auth=("intake", "guess-31"))).status_code == 429
        assert await attempt(colleague, apps.password("intake")) == 303
        now[0] += 60
        assert await attempt(attacker, apps.password("intake")) == 303


async def test_guessing_through_the_api_is_limited_the_same_way(apps: Apps) -> None:
    async with client_from(apps, "203.0.113.8") as attacker:
        answers = [
            (await attacker.get("/api/referrals", auth=("ops", f"g{i}"))).status_code for i in range(31)
        ]
        bearer = await attacker.get("/api/referrals", headers={"Authorization": "Bearer rlt_guess"})
    assert answers == [401] * 30 + [429] and bearer.status_code == 429
    assert answers[-1] == 429


async def test_submissions_per_user_per_minute_are_capped(apps: Apps) -> None:
    body = received().data.model_dump(mode="json")
    async with client_from(apps, "192.0.2.1") as client:
        intake = ("intake", apps.password("intake"))
        answers = [
            (await client.post("/api/referrals", json=body, auth=intake)).status_code for _ in range(4)
        ]
        admin = await client.post("/api/referrals", json=body, auth=("admin", apps.password("admin")))
    assert answers == [202, 202, 202, 429] and admin.status_code == 202
    assert len(apps.published.facts) == 4


def exchange(port: int, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Send a request's head and some of its body over a raw socket; the server's first answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        for chunk in body_chunks:
            if select.select([connection], [], [], 0)[0]:
                break  # the server has answered: it wants no more (sending on would meet a reset)
            try:
                connection.sendall(chunk)
            except (ConnectionResetError, BrokenPipeError):
                break
        return connection.recv(4096)


def test_a_10_mb_body_is_refused_with_413_before_it_is_read(apps: Apps) -> None:
    port = free_port()
    with serving(apps.intake, port):
        declared = exchange(
            port,
            f"POST /api/referrals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {TEN_MB}\r\n\r\n".encode(),
            [b"{" + b" " * 1000],  # 1 KB of 10 MB: the answer comes without the rest
        )
        limit = apps.settings.max_body_bytes
        basic = base64.b64encode(f"intake:{apps.password('intake')}".encode()).decode()
        chunk = b" " * 65536
        chunks = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(limit // len(chunk) + 2)]
        streamed = exchange(
            port,
            b"POST /api/referrals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Basic {basic}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n",
            chunks,  # a little past the limit of a body that would be 10 MB
        )
    assert declared.startswith(b"HTTP/1.1 413"), declared[:100]
    assert streamed.startswith(b"HTTP/1.1 413"), streamed[:100]
    assert apps.published.facts == []
