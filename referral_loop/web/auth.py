"""Who is calling, and whether their role may: every route declares its roles with one of the
dependencies here (`api`, `page` or `public`), and `declared_routes` finds that declaration
(the route walk in tests/security/test_roles.py, and `check_every_route_declares` at startup).

Systems and scripts call the JSON API with a bearer token (`referral-loop users add-token`) or HTTP
Basic; staff use the pages through a session (the sign-in form or OIDC), forms with a CSRF token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer

from referral_loop.web.credentials import Authenticator, TooManyAttempts
from referral_loop.web.middleware import DOCS_PATHS
from referral_loop.web.sessions import CSRF_FIELD, same_token
from referral_loop.web.users import Role, User

ALL = frozenset(Role)
PATIENT_READERS = frozenset({Role.INTAKE, Role.CLINICIAN, Role.ADMIN})
"""May see a patient: every role but ops."""
RECORDERS = PATIENT_READERS
"""May record a referral's later facts (accepted, booked, seen ...)."""
SUBMITTERS = frozenset({Role.INTAKE, Role.ADMIN})
"""May enter a new referral."""
AGGREGATE_READERS = ALL
"""May read aggregates (volume, trends, KPIs, scorecards): every role."""
PUBLIC: frozenset[Role] = frozenset()
D = TypeVar("D", bound=Callable[..., Any])

_basic = HTTPBasic(realm="Referral Loop", auto_error=False)
_bearer = HTTPBearer(auto_error=False, description="a token from `referral-loop users add-token`")


class SignInRequired(Exception):
    """No live session: a page answers with the sign-in form (see guard.py)."""


@dataclass(frozen=True)
class StaffUser(User):
    """A user signed in to the pages, with the CSRF token of their session."""

    csrf: str = ""


def client_of(request: Request) -> str:
    """The client's address: the TCP peer, or what a configured proxy says it is (uvicorn trusts
    X-Forwarded-For only from REFERRAL_LOOP_FORWARDED_ALLOW_IPS, web/server.py)."""
    return request.client.host if request.client else "unknown"


def _unauthorised() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "sign in: a bearer token, or your Referral Loop user name and password",
        headers={"WWW-Authenticate": 'Bearer, Basic realm="Referral Loop"'},
    )


def permit(request: Request, user: User, roles: frozenset[Role], submits: bool) -> None:
    request.state.user = user  # who was refused, for the audit trail
    if user.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {user.role.value} role cannot do this")
    if submits and not request.app.state.guard.submissions.hit(user.name):
        raise TooManyAttempts("submissions")


def _declare(dependency: D, roles: frozenset[Role], kind: str) -> D:
    setattr(dependency, "roles", roles)  # noqa: B010 (a function's attribute)
    setattr(dependency, "kind", kind)  # noqa: B010
    return dependency


def api(roles: frozenset[Role], submits: bool = False) -> Callable[..., Awaitable[User]]:
    """A JSON API caller with a bearer token or HTTP Basic, whose role is one of `roles`."""

    async def dependency(
        request: Request,
        basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User:
        authenticator: Authenticator = request.app.state.guard.authenticator
        user = None
        if bearer is not None:
            user = await authenticator.token(bearer.credentials, client_of(request))
        elif basic is not None:
            user = await authenticator.password(basic.username, basic.password, client_of(request))
        if user is None:
            raise _unauthorised()
        permit(request, user, roles, submits)
        return user

    return _declare(dependency, roles, "api")


def page(
    roles: frozenset[Role], form: bool = False, submits: bool = False
) -> Callable[..., Awaitable[StaffUser]]:
    """A signed-in member of staff (a live session of a user still in the users file as they signed
    in) whose role is one of `roles`; with `form`, the posted form must carry the session's CSRF
    token (403 otherwise)."""

    async def dependency(request: Request) -> StaffUser:
        guard = request.app.state.guard
        session = await guard.sessions.find(request.cookies.get(guard.cookie))
        if session is None:
            raise SignInRequired()
        if form:
            submitted = await request.form()
            if not same_token(submitted.get(CSRF_FIELD), session.csrf):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong")
        permit(request, session.user, roles, submits)
        return StaffUser(session.user.name, session.user.role, session.csrf)

    return _declare(dependency, roles, "form" if form else "page")


def public() -> None:
    """Anyone: health, the stylesheet, the sign-in form."""


_declare(public, PUBLIC, "public")
Public = Depends(public)


@dataclass(frozen=True)
class Declared:
    path: str
    methods: frozenset[str]
    declarations: tuple[tuple[str, frozenset[Role]], ...]
    """(kind, roles) of each role declaration: exactly one for every route of a protected app."""


def declared_routes(app: FastAPI) -> list[Declared]:
    """Every route of `app` (routers included, prefixes applied) with its role declarations."""
    found = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, str(context.path)
        methods = frozenset(context.methods or ())
        if not isinstance(route, APIRoute):
            public = (("public", PUBLIC),) if path in DOCS_PATHS else ()
            found.append(Declared(path, methods, public))
            continue
        declarations, pending = [], [route.dependant]
        while pending:
            dependant = pending.pop()
            call: Any = dependant.call
            if hasattr(call, "roles"):
                declarations.append((call.kind, call.roles))
            pending.extend(dependant.dependencies)
        found.append(Declared(path, methods, tuple(declarations)))
    return found


def check_every_route_declares(app: FastAPI) -> None:
    """Refuse to start an app with a route that has no roles (or several) declared."""
    for route in declared_routes(app):
        if len(route.declarations) != 1:
            raise RuntimeError(f"route {route.path} must declare its roles exactly once")


PatientReader = Annotated[User, Depends(api(PATIENT_READERS))]
"""An API caller who may see patients."""
Recorder = Annotated[User, Depends(api(RECORDERS, submits=True))]
"""An API caller who may record a referral's later facts (rate-limited as submissions)."""
Submitter = Annotated[User, Depends(api(SUBMITTERS, submits=True))]
"""An API caller who may enter referrals (rate-limited as submissions)."""
AggregateReader = Annotated[User, Depends(api(AGGREGATE_READERS))]
"""An API caller who may read aggregates: every role."""
