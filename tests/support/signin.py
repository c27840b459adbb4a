"""Signing in to intake or the ops app the way staff do: the sign-in form, then the session cookie."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    """Fill in the sign-in form: the answer is a 303 with the session cookie (kept by `client`)."""
    form = await client.get("/login")
    data = {"csrf_token": csrf_of(form.text), "username": user, "password": password}
    return await client.post("/login", data=data)


def sign_in_over(client: httpx.Client, user: str, password: str, **headers: str) -> httpx.Response:
    """`sign_in` with a blocking client (a real server): the form, then the post."""
    form = client.get("/login", headers=headers)
    data = {"csrf_token": csrf_of(form.text), "username": user, "password": password}
    return client.post("/login", data=data, headers=headers)


def fresh_connections(base_url: str) -> httpx.Client:
    """A client that opens a new connection for each request: several processes sharing a port
    (INTAKE_WORKERS) each get some of them."""
    return httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0), timeout=30)


@contextlib.asynccontextmanager
async def signed_in_client(
    app: FastAPI, user: str, password: str, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` (over https, so the Secure cookie comes back) with a live session."""
    transport = httpx.ASGITransport(app=app)
    base_url = options.pop("base_url", "https://app.test")
    async with httpx.AsyncClient(transport=transport, base_url=base_url, **options) as client:
        answer = await sign_in(client, user, password)
        assert answer.status_code == 303, answer.text
        yield client


def sign_in_browser(page: Any, base_url: str, user: str, password: str) -> None:
    """Sign in a Playwright (sync) page through the form."""
    page.goto(f"{base_url}/login")
    page.fill("[name=username]", user)
    page.fill("[name=password]", password)
    page.click("form.signin button[type=submit]")
    page.wait_for_selector("form.signed-in")


async def sign_in_browser_async(page: Any, base_url: str, user: str, password: str) -> None:
    """Sign in a Playwright (async) page through the form."""
    await page.goto(f"{base_url}/login")
    await page.fill("[name=username]", user)
    await page.fill("[name=password]", password)
    await page.click("form.signin button[type=submit]")
    await page.wait_for_selector("form.signed-in")
