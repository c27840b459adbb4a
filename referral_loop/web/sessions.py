"""Staff sessions, kept in the shared `staff_sessions` table (staff_tables.py), so every intake
worker and every replica knows them and a restart signs nobody out. A session is found by a random
id in an HttpOnly, SameSite=Lax cookie that is Secure except on plain http to a loopback address;
the table holds only the id's SHA-256. It ends after `idle_s` without a request, 12 hours after
sign-in, on sign-out, and as soon as its user is removed from the users file or given another
password or role (its `stamp` no longer the user's). Each session has its own CSRF token."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response

from referral_loop.web.staff_tables import StaffTables, token_hash
from referral_loop.web.users import Role, User

MAX_AGE_S = 12 * 3600.0
TOUCH_S = 5.0
"""A session's last use is written at most this often (its idle clock is that much coarser)."""
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
CSRF_FIELD = "csrf_token"
OIDC_STAMP = "oidc"
"""The stamp of a session OIDC opened: the provider vouched for the person, the users file does not
know them (they end when idle, after 12 hours or at sign-out)."""


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    stamp: str


class SessionStore:
    """The sessions of one app (`app`: intake's and the ops app's are apart, as their cookies are).
    `stamp_of(name)` is the user's current stamp, None once they are gone (UserDirectory.stamp_of)."""

    def __init__(
        self,
        tables: StaffTables,
        app: str,
        idle_s: float,
        stamp_of: Callable[[str], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tables, self.app, self.idle_s, self.stamp_of, self.clock = tables, app, idle_s, stamp_of, clock

    async def start(self, user: User, stamp: str) -> str:
        """A new session for `user`, signed in with `stamp`; its id (the cookie's value)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await asyncio.to_thread(self._start, token_hash(session_id), user, stamp, csrf, self.clock())
        return session_id

    def _start(self, hashed: str, user: User, stamp: str, csrf: str, now: float) -> None:
        self.tables.run(
            "DELETE FROM staff_sessions WHERE app = ? AND (seen <= ? OR started <= ?)",
            self.app, now - self.idle_s, now - MAX_AGE_S,
        )  # fmt: skip
        self.tables.run(
            "INSERT INTO staff_sessions (id_hash, app, who, role, stamp, csrf, started, seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            hashed, self.app, user.name, user.role.value, stamp, csrf, now, now,
        )  # fmt: skip

    async def find(self, session_id: str | None) -> Session | None:
        """The live session of a user still signed in as they were, its idle clock restarted; None
        (and ended) once it has expired or its user was removed or changed."""
        if not session_id:
            return None
        session = await asyncio.to_thread(self._find, token_hash(session_id), self.clock())
        if session is None or session.stamp == OIDC_STAMP:
            return session
        current = self.stamp_of(session.user.name)  # one stat of the users file, re-read if changed
        if session.stamp == current:
            return session
        await asyncio.to_thread(self._end_stale, session.user.name, current)
        return None

    def _find(self, hashed: str, now: float) -> Session | None:
        rows = self.tables.run(
            "SELECT who, role, stamp, csrf, started, seen FROM staff_sessions WHERE id_hash = ? AND app = ?",
            hashed,
            self.app,
        )
        if not rows:
            return None
        who, role, stamp, csrf, started, seen = rows[0]
        if now - seen >= self.idle_s or now - started >= MAX_AGE_S:
            self.tables.run("DELETE FROM staff_sessions WHERE id_hash = ?", hashed)
            return None
        if now - seen >= TOUCH_S:
            self.tables.run("UPDATE staff_sessions SET seen = ? WHERE id_hash = ?", now, hashed)
        return Session(User(who, Role(role)), csrf, stamp)

    def _end_stale(self, name: str, current: str | None) -> None:
        """End every session `name` opened with a password other than their current one (all of
        them once they are removed), in every app."""
        self.tables.run(
            "DELETE FROM staff_sessions WHERE who = ? AND stamp <> ? AND stamp <> ?",
            name, OIDC_STAMP, current or "",
        )  # fmt: skip

    async def end(self, session_id: str | None) -> None:
        if session_id:
            await asyncio.to_thread(
                self.tables.run, "DELETE FROM staff_sessions WHERE id_hash = ?", token_hash(session_id)
            )


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
