"""The audit log's query endpoint, for admins only: who accessed PHI, which referrals, the outcome.

`GET /api/audit?who=&referral=&what=&outcome=&since=&until=&limit=` answers the entries, newest
first; `since` and `until` must fall in the years 1990 to 2100 (`params.py`). Reading the audit
log is itself recorded (`search` on `audit`), refusals included.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from referral_loop.web.audit import AuditQuery, Outcome
from referral_loop.web.audited import Access, audited
from referral_loop.web.auth import api
from referral_loop.web.users import Role, User
from services.projections.params import Moment

router = APIRouter(prefix="/api", tags=["audit"])
Admin = Annotated[User, Depends(api(frozenset({Role.ADMIN})))]


@router.get("/audit")
async def get_audit(
    request: Request,
    access: Annotated[Access, Depends(audited("search", "audit"))],
    user: Admin,
    who: Annotated[str | None, Query(max_length=100)] = None,
    referral: UUID | None = None,
    what: Annotated[str | None, Query(max_length=50)] = None,
    outcome: Outcome | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Audit entries matching every filter given (times in ISO 8601), newest first."""
    query = AuditQuery(who, referral, what, outcome, since, until, limit)
    found = await asyncio.to_thread(request.app.state.audit.query, query)
    await access.allowed(user, [referral] if referral else [])
    return [asdict(event) for event in found]
