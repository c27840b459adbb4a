"""Who is calling: HTTP Basic against the users file, and the role each endpoint needs."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from referral_loop.users import Role, User, UserDirectory

_basic = HTTPBasic(realm="Referral Loop", auto_error=False)
READERS = frozenset({Role.INTAKE, Role.OPS})
WRITERS = frozenset({Role.INTAKE})


class Authenticator:
    """Checks credentials; remembers a verified pair by digest so PBKDF2 runs once per user, not per
    request, and then off the event loop (a remembered pair costs one SHA-256, no thread hop)."""

    def __init__(self, directory: UserDirectory) -> None:
        self.directory = directory
        self._verified: dict[bytes, User] = {}

    async def __call__(self, name: str, password: str) -> User | None:
        key = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        if key in self._verified:
            return self._verified[key]
        user = await asyncio.to_thread(self.directory.authenticate, name, password)
        if user is not None and len(self._verified) < 10_000:
            self._verified[key] = user
        return user


def _unauthorised() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "sign in with your Referral Loop user name and password",
        headers={"WWW-Authenticate": 'Basic realm="Referral Loop"'},
    )


def caller(roles: frozenset[Role]) -> Callable[..., Awaitable[User]]:
    """A dependency that answers with the signed-in user, if their role is one of `roles`."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
    ) -> User:
        if credentials is None:
            raise _unauthorised()
        user: User | None = await request.app.state.authenticate(credentials.username, credentials.password)
        if user is None:
            raise _unauthorised()
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {user.role.value} role cannot do this")
        return user

    return dependency


Reader = Annotated[User, Depends(caller(READERS))]
Writer = Annotated[User, Depends(caller(WRITERS))]
