"""The sign-in pages of intake and the ops app: a password form (its own CSRF token, bound to a
cookie, since there is no session yet), sign-out, and OIDC when a provider is configured."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from referral_loop.web.auth import ALL, Public, StaffUser, client_of, page
from referral_loop.web.credentials import TooManyAttempts
from referral_loop.web.oidc import OidcError
from referral_loop.web.sessions import CSRF_FIELD, OIDC_STAMP, same_token, set_cookie
from referral_loop.web.users import User

log = logging.getLogger(__name__)
templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
router = APIRouter(include_in_schema=False)
WRONG = "The user name or password is wrong."


def safe_next(target: str | None, home: str) -> str:
    """Only a path on this site: never another host (`//evil`, `/\\evil`, `https://...`)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return home


def signin_page(
    request: Request, next_path: str, error: str = "", username: str = "", code: int = 200
) -> Response:
    guard, token = request.app.state.guard, secrets.token_urlsafe(32)
    html = templates.get_template("signin.html").render(
        csrf_token=token, next=next_path, error=error, username=username, oidc=guard.oidc is not None
    )
    response = HTMLResponse(html, status_code=code)
    set_cookie(response, request, f"{guard.cookie}_signin", token, max_age=3600)
    return response


async def signed_in(request: Request, user: User, stamp: str, next_path: str) -> Response:
    guard = request.app.state.guard
    response = RedirectResponse(safe_next(next_path, guard.home), status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(response, request, guard.cookie, await guard.sessions.start(user, stamp))
    response.delete_cookie(f"{guard.cookie}_signin", path="/")
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[Public])
def login_form(request: Request, next: str = "") -> Response:
    return signin_page(request, safe_next(next, request.app.state.guard.home))


@router.post("/login", dependencies=[Public])
async def login(request: Request) -> Response:
    """Every attempt counts against the client's limit, right or wrong (429 past it)."""
    guard = request.app.state.guard
    async with request.form() as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not same_token(fields.get(CSRF_FIELD), request.cookies.get(f"{guard.cookie}_signin", "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the sign-in form's CSRF token is missing or wrong")
    if not await guard.logins.hit(client_of(request)):
        raise TooManyAttempts()
    name, next_path = fields.get("username", "")[:200], safe_next(fields.get("next"), guard.home)
    found = await guard.authenticator.sign_in(name, fields.get("password", ""))
    if found is None:
        return signin_page(request, next_path, WRONG, name, status.HTTP_401_UNAUTHORIZED)
    user, stamp = found
    return await signed_in(request, user, stamp, next_path)


@router.post("/logout")
async def logout(request: Request, _: Annotated[StaffUser, Depends(page(ALL, form=True))]) -> Response:
    guard = request.app.state.guard
    await guard.sessions.end(request.cookies.get(guard.cookie))
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(guard.cookie, path="/")
    return response


@router.get("/login/oidc", dependencies=[Public])
async def oidc_begin(request: Request, next: str = "") -> Response:
    guard = request.app.state.guard
    if guard.oidc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no OIDC provider is configured")
    try:
        url, state = await guard.oidc.begin(
            str(request.url_for("oidc_callback")), safe_next(next, guard.home)
        )
    except (OidcError, httpx.HTTPError) as error:
        log.warning("OIDC provider unusable: %s", type(error).__name__)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "the sign-in provider cannot be reached") from None
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(response, request, f"{guard.cookie}_oidc", state, max_age=600)
    return response


@router.get("/login/oidc/callback", name="oidc_callback", dependencies=[Public])
async def oidc_callback(request: Request, state: str = "", code: str = "") -> Response:
    """State from this browser (its cookie), a code to trade with the PKCE verifier, a valid ID token."""
    guard = request.app.state.guard
    if guard.oidc is None or not same_token(state, request.cookies.get(f"{guard.cookie}_oidc", "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this sign-in was not started in this browser")
    try:
        user, next_path = await guard.oidc.finish(state, code, str(request.url_for("oidc_callback")))
    except httpx.HTTPError as error:
        log.warning("OIDC provider unusable: %s", type(error).__name__)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "the sign-in provider cannot be reached") from None
    except OidcError as error:
        log.warning("OIDC sign-in refused: %s", error)
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"sign-in refused: {error}") from None
    response = await signed_in(request, user, OIDC_STAMP, next_path)
    response.delete_cookie(f"{guard.cookie}_oidc", path="/")
    return response
