"""Auditing the routes that show PHI (FastAPI): a dependency each such route declares first.

    @router.get("/api/worklists")
    async def get_worklists(access: Annotated[Access, Depends(audited("read", "worklists"))],
                            user: Reader, ...):
        found = ...
        await access.allowed(user, ids_of(found))   # before the answer leaves: no audit, no PHI
        return ...

Declared before the sign-in dependency, it sees that dependency's refusal (401, 403, 429, no
session) thrown into it and records the attempt as `denied`; any other failure before the route recorded is `failed`.
The app keeps its `AuditLog` in `app.state.audit`. The user of a refused request is
`request.state.user` when the sign-in code set it, else the name claimed in HTTP Basic
credentials (unverified for a 401), else "anonymous".
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import HTTPException, Request

from referral_loop.audit import AuditEvent, AuditLog, Outcome
from referral_loop.auth import SignInRequired
from referral_loop.users import User

NAME_MAX = 100
DENIALS = frozenset({401, 403, 429})
"""Answers that refuse the caller (no or wrong credentials, a role that may not, too many tries)."""


@dataclass
class Access:
    """One request's access to PHI, recorded exactly once."""

    log: AuditLog
    action: str
    what: str
    recorded: bool = False

    async def allowed(
        self, user: User, referral_ids: Iterable[UUID | str], action: str | None = None
    ) -> None:
        """The user was shown (or sent) these referrals: record it (raises if it cannot be)."""
        ids = tuple(dict.fromkeys(str(i) for i in referral_ids))
        await self._record(user.name, user.role.value, "allowed", ids, "", action)

    async def refused(self, who: tuple[str, str], outcome: Outcome, detail: str) -> None:
        await self._record(*who, outcome, (), detail, None)

    async def _record(
        self, who: str, role: str, outcome: Outcome, ids: tuple[str, ...], detail: str, action: str | None
    ) -> None:
        event = AuditEvent(who, role, action or self.action, self.what, outcome, ids, detail)
        await self.log.arecord(event)
        self.recorded = True


def audited(action: str, what: str) -> Callable[[Request], AsyncIterator[Access]]:
    """The dependency recording one kind of access (`action` on `what`) for the route."""

    async def dependency(request: Request) -> AsyncIterator[Access]:
        access = Access(request.app.state.audit, action, what)
        try:
            yield access
        except SignInRequired:
            if not access.recorded:
                await access.refused(caller_of(request), "denied", "no session")
            raise
        except HTTPException as error:
            if not access.recorded:
                denied = error.status_code in DENIALS
                await access.refused(
                    caller_of(request), "denied" if denied else "failed", f"HTTP {error.status_code}"
                )
            raise
        except Exception as error:
            if not access.recorded:
                await access.refused(caller_of(request), "failed", type(error).__name__)
            raise

    return dependency


def caller_of(request: Request) -> tuple[str, str]:
    """(name, role) of whoever made a refused request, as far as it is known."""
    user: Any = getattr(request.state, "user", None)
    if isinstance(user, User):
        return user.name, user.role.value
    claimed = basic_user_name(request.headers.get("authorization", ""))
    return (claimed, "unverified") if claimed else ("anonymous", "none")


def basic_user_name(header: str) -> str:
    """The user name in HTTP Basic credentials (printable, at most NAME_MAX characters), or ""."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    name = decoded.partition(":")[0]
    return "".join(c for c in name if c.isprintable())[:NAME_MAX]
