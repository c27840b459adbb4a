"""Staff sessions: kept in the process (a restart signs everyone out), found by a random id in an
HttpOnly, SameSite=Lax cookie that is Secure except on plain http to a loopback address;
ended after `idle_s` without a request, or 12 hours after sign-in, or on sign-out. Each session
has its own CSRF token, which every form carries."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response

from referral_loop.users import User

MAX_AGE_S = 12 * 3600.0
MAX_SESSIONS = 20_000
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
CSRF_FIELD = "csrf_token"


@dataclass
class Session:
    user: User
    csrf: str
    started: float
    seen: float


class SessionStore:
    def __init__(self, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s, self.clock = idle_s, clock
        self._sessions: dict[str, Session] = {}

    def start(self, user: User) -> str:
        """A new session for `user`; its id (the cookie's value)."""
        now = self.clock()
        if len(self._sessions) >= MAX_SESSIONS:
            self._sessions = {k: s for k, s in self._sessions.items() if self._alive(s, now)}
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(user, secrets.token_urlsafe(32), now, now)
        return session_id

    def find(self, session_id: str | None) -> Session | None:
        """The live session, its idle clock restarted; None (and forgotten) once it has expired."""
        session = self._sessions.get(session_id) if session_id else None
        if session is None or session_id is None:
            return None
        now = self.clock()
        if not self._alive(session, now):
            del self._sessions[session_id]
            return None
        session.seen = now
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def _alive(self, session: Session, now: float) -> bool:
        return now - session.seen < self.idle_s and now - session.started < MAX_AGE_S


def secure_cookies(request: Request) -> bool:
    """Secure unless this is plain http to a loopback address (`make run` on a laptop)."""
    return not (request.url.scheme == "http" and (request.url.hostname or "") in LOOPBACK)


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=secure_cookies(request),
        httponly=True,
        samesite="lax",
    )


def same_token(given: object, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())
