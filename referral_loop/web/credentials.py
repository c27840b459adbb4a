"""Checking a password or a token, with the sign-in attempts of each client counted; the users file
looked at (one stat, re-read if it changed) on every check, so a change takes effect at once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from fastapi import HTTPException, status

from referral_loop.web.signin_limits import SigninAttempts
from referral_loop.web.users import User, UserDirectory

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
        self, directory: UserDirectory, logins: SigninAttempts, clock: Callable[[], float] = time.monotonic
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
        self._checking[key] = asyncio.ensure_future(self._attempt(name, password, client))
        try:
            user = await asyncio.shield(self._checking[key])
        finally:
            self._checking.pop(key, None)
        if user is not None:
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[key] = (user, self.clock() + CACHE_TTL_S)
        return user

    async def _attempt(self, name: str, password: str, client: str) -> User | None:
        """One counted attempt (429 past the client's limit), argon2 in a worker thread."""
        if not await self.logins.hit(client):
            raise TooManyAttempts()
        return await asyncio.to_thread(self.directory.authenticate, name, password)

    async def token(self, token: str, client: str) -> User | None:
        """A known token is let in without touching the count (256 random bits: not guessable); an
        unknown one is an attempt, 429 past the client's limit."""
        self._current()
        user = self.directory.authenticate_token(token)
        if user is None and not await self.logins.hit(client):
            raise TooManyAttempts()
        return user

    async def sign_in(self, name: str, password: str) -> tuple[User, str] | None:
        """The sign-in form's check (the attempt counted by the caller): the user and their stamp."""
        self._current()
        return await asyncio.to_thread(self.directory.verify, name, password)

    def stamp_of(self, name: str) -> str | None:
        """The person's current stamp (sessions.SessionStore), None once they are removed."""
        self._current()
        return self.directory.stamp_of(name)

    def _current(self) -> None:
        if self.directory.refresh():
            self._verified.clear()
