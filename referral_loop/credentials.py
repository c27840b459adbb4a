"""Checking a password or a token, with the sign-in attempts of each client counted."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from fastapi import HTTPException, status

from referral_loop.users import User, UserDirectory
from referral_loop.web_security import SlidingWindow

CACHE_TTL_S = 300.0


class TooManyAttempts(HTTPException):
    def __init__(self, what: str = "sign-in attempts") -> None:
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS, f"too many {what}: wait a minute", {"Retry-After": "60"}
        )


class Authenticator:
    """Checks passwords and tokens. A verified password is remembered for CACHE_TTL_S by a keyed hash
    of the pair, so argon2 runs (in a thread, off the event loop) once per user, not per request;
    each argon2 run counts as a sign-in attempt of the client. A changed users file forgets all."""

    def __init__(
        self, directory: UserDirectory, logins: SlidingWindow, clock: Callable[[], float] = time.monotonic
    ):
        self.directory, self.logins, self.clock = directory, logins, clock
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, tuple[User, float]] = {}
        self._checking: dict[bytes, asyncio.Future[User | None]] = {}
        """Checks under way: the same credentials arriving at once share one (one attempt)."""

    async def password(self, name: str, password: str, client: str) -> User | None:
        self._current()
        key = hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()
        remembered = self._verified.get(key)
        if remembered is not None and remembered[1] > self.clock():
            return remembered[0]
        if key in self._checking:
            return await asyncio.shield(self._checking[key])
        if not self.logins.hit(client):
            raise TooManyAttempts()
        self._checking[key] = asyncio.ensure_future(
            asyncio.to_thread(self.directory.authenticate, name, password)
        )
        try:
            user = await asyncio.shield(self._checking[key])
        finally:
            self._checking.pop(key, None)
        if user is not None:
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[key] = (user, self.clock() + CACHE_TTL_S)
        return user

    def token(self, token: str, client: str) -> User | None:
        self._current()
        if self.logins.exceeded(client):
            raise TooManyAttempts()
        user = self.directory.authenticate_token(token)
        if user is None:
            self.logins.hit(client)
        return user

    def _current(self) -> None:
        if self.directory.refresh():
            self._verified.clear()
