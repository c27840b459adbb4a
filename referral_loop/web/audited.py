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
credentials (unverified for a 401), else "anonymous". Such unauthenticated refusals are recorded
one by one only up to a bound per minute, then counted (audit_anonymous.py, in `AuditLog.arecord`).
An entry's `referral_ids` are exactly the
referrals shown or written; a refusal, or a failure before anything was shown, has none, and its
detail names the referral the path asked for (`HTTP 403 (referral <id>)`), if any.

A route that lets the caller in but shows nothing (a 404 page, an invalid form) records
`access.failed(user, "HTTP 404")`. Writes record `allowed` before publishing (no audit, no
write); if the write then fails (the bus is down: 503), a second entry, `failed` with the same
ids, says so: raised through the dependency, or `access.undone(detail)` by a route that answers
the failure itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import HTTPException, Request

from referral_loop.web.audit import AuditEvent, AuditLog, Outcome
from referral_loop.web.audit_anonymous import ANONYMOUS
from referral_loop.web.auth import SignInRequired
from referral_loop.web.users import User

NAME_MAX = 100
DENIALS = frozenset({401, 403, 429})
"""Answers that refuse the caller (no or wrong credentials, a role that may not, too many tries)."""


@dataclass
class Access:
    """One request's access to PHI: one entry, and a second only if what was allowed then failed."""

    log: AuditLog
    action: str
    what: str
    asked: str = ""
    """' (referral <id>)' when the route's path names one: added to the detail of a refusal."""
    last: AuditEvent | None = None

    @property
    def recorded(self) -> bool:
        return self.last is not None

    async def allowed(
        self, user: User, referral_ids: Iterable[UUID | str], action: str | None = None
    ) -> None:
        """The user was shown (or wrote) these referrals: record it (raises if it cannot be)."""
        ids = tuple(dict.fromkeys(str(i) for i in referral_ids))
        await self._record(
            AuditEvent(user.name, user.role.value, action or self.action, self.what, "allowed", ids)
        )

    async def failed(self, user: User, detail: str) -> None:
        """The user was let in but shown (or wrote) nothing: a 404, an invalid form."""
        who = (user.name, user.role.value)
        await self._record(AuditEvent(*who, self.action, self.what, "failed", (), detail + self.asked))

    async def refused(self, who: tuple[str, str], outcome: Outcome, detail: str) -> None:
        await self._record(AuditEvent(*who, self.action, self.what, outcome, (), detail + self.asked))

    async def undone(self, detail: str) -> None:
        """What was recorded as allowed did not happen after all: `failed`, the same ids."""
        if self.last is not None and self.last.outcome == "allowed":
            now = datetime.now(UTC)
            await self._record(replace(self.last, outcome="failed", detail=detail, at=now))

    async def _record(self, event: AuditEvent) -> None:
        await self.log.arecord(event)
        self.last = event


def audited(action: str, what: str) -> Callable[[Request], AsyncIterator[Access]]:
    """The dependency recording one kind of access (`action` on `what`) for the route."""

    async def dependency(request: Request) -> AsyncIterator[Access]:
        access = Access(request.app.state.audit, action, what, asked_for(request))
        try:
            yield access
        except SignInRequired:
            await settle(access, request, "denied", "no session")
            raise
        except HTTPException as error:
            outcome: Outcome = "denied" if error.status_code in DENIALS else "failed"
            await settle(access, request, outcome, f"HTTP {error.status_code}")
            raise
        except Exception as error:
            await settle(access, request, "failed", type(error).__name__)
            raise

    return dependency


async def settle(access: Access, request: Request, outcome: Outcome, detail: str) -> None:
    """A request that raised: refused before anything was recorded, or undone after `allowed`."""
    if access.recorded:
        await access.undone(detail)
    else:
        await access.refused(caller_of(request), outcome, detail)


def asked_for(request: Request) -> str:
    """' (referral <id>)' for a route whose path names a referral (printable, at most NAME_MAX)."""
    asked = str(request.path_params.get("referral_id", ""))
    shown = "".join(c for c in asked if c.isprintable())[:NAME_MAX]
    return f" (referral {shown})" if shown else ""


def caller_of(request: Request) -> tuple[str, str]:
    """(name, role) of whoever made a refused request, as far as it is known."""
    user: Any = getattr(request.state, "user", None)
    if isinstance(user, User):
        return user.name, user.role.value
    claimed = basic_user_name(request.headers.get("authorization", ""))
    return (claimed, "unverified") if claimed else ANONYMOUS


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
