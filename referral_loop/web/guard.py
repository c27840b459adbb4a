"""Everything intake and the ops app share to protect themselves, installed by `protect`: the
authenticator, staff sessions, rate limits, the sign-in pages (and OIDC when configured), security
headers, a body size limit, public ops endpoints, and a check that every route declares its roles."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from referral_loop.ops.endpoints import Ops
from referral_loop.ops.web import endpoint
from referral_loop.settings import Settings
from referral_loop.web.auth import Public, SignInRequired, check_every_route_declares
from referral_loop.web.credentials import Authenticator
from referral_loop.web.middleware import BodySizeLimit, SecurityHeaders, SlidingWindow
from referral_loop.web.oidc import OidcClient
from referral_loop.web.oidc_pending import PendingSignins
from referral_loop.web.sessions import SessionStore
from referral_loop.web.signin_limits import SigninAttempts
from referral_loop.web.staff_tables import StaffTables
from referral_loop.web.users import UserDirectory


@dataclass
class Guard:
    authenticator: Authenticator
    sessions: SessionStore
    logins: SigninAttempts
    """Sign-in attempts per client address (the form, and each password or token that is checked),
    shared by every process of both apps."""
    submissions: SlidingWindow
    """Submissions (referrals and their facts) per user, counted in this process."""
    cookie: str
    """The session cookie's name: one per app, since cookies do not tell ports apart."""
    home: str
    oidc: OidcClient | None
    tables: StaffTables
    """Where sessions, OIDC sign-ins under way and sign-in attempts are kept (closed at shutdown)."""

    def close(self) -> None:
        self.tables.close()


def new_guard(settings: Settings, app_name: str, home: str) -> Guard:
    tables = StaffTables(settings)
    logins = SigninAttempts(tables, settings.login_attempts_per_minute)
    authenticator = Authenticator(UserDirectory(settings.users_path), logins)
    return Guard(
        authenticator=authenticator,
        sessions=SessionStore(tables, app_name, settings.session_idle_minutes * 60, authenticator.stamp_of),
        logins=logins,
        submissions=SlidingWindow(settings.submissions_per_minute),
        cookie=f"rl_{app_name}_session",
        home=home,
        oidc=OidcClient.from_settings(settings, PendingSignins(tables)),
        tables=tables,
    )


async def sign_in_first(request: Request, _: Exception) -> Response:
    """A page without a session: GETs go to the sign-in form (and come back after), others 401."""
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return JSONResponse({"detail": "sign in first"}, status_code=401)


def protect(app: FastAPI, settings: Settings, app_name: str, home: str, ops: Ops) -> None:
    """Install the guard on `app` once its own routes are in (ops endpoints are added here, public)."""
    from referral_loop.web.signin import router as signin_router

    app.state.guard = new_guard(settings, app_name, home)
    app.add_exception_handler(SignInRequired, sign_in_first)
    app.include_router(signin_router)
    for path, handler in ops.routes().items():
        app.add_api_route(
            path, endpoint(handler), methods=["GET"], include_in_schema=False, dependencies=[Public]
        )
    check_every_route_declares(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))
