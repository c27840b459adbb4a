"""The `make run` topology in a test: nats-server, store writer, feedback and intake processes, a mail sink."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from launcher.mailsink import MailSink
from launcher.natsd import free_port
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from tests.support.processes import ProcessRegistry
from tests.support.servers import NatsServer


@dataclass
class Stack:
    settings: Settings
    nats: NatsServer
    sink: MailSink
    client: httpx.AsyncClient


async def until_ok(client: httpx.AsyncClient, path: str, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = await client.get(path)
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 20) -> None:
    """Wait for `check` (plain or async) to hold."""
    deadline = time.monotonic() + timeout
    while not await _holds(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = check()
    return bool(await result) if inspect.isawaitable(result) else bool(result)


@pytest.fixture
async def stack(
    nats_server: NatsServer, store_settings: Settings, services: ProcessRegistry, tmp_path: Path
) -> AsyncIterator[Stack]:
    with MailSink(tmp_path / "mail") as sink:
        settings = store_settings.model_copy(
            update={
                "nats_url": nats_server.url,
                "intake_port": free_port(),
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
                "smtp_tls": "none",
            }
        )
        password = ensure_local_users(settings.users_path)["intake"]["password"]
        services.start("store-writer", settings).wait_for_log("store writer recording", timeout=20)
        services.start("feedback", settings)
        services.start("intake", settings)
        async with httpx.AsyncClient(
            base_url=settings.base_url, auth=("intake", password), timeout=10
        ) as client:
            await until_ok(client, "/readyz")
            yield Stack(settings, nats_server, sink, client)
