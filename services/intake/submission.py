"""Submitting facts: publish, answer 202 with where to look, or 503 when JetStream cannot take it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fastapi import HTTPException, status
from pydantic import BaseModel

from contracts import Fact
from contracts.events import ReferralReceived
from contracts.referral import Referral
from referral_loop.publisher import BusUnavailable, FactPublisher
from referral_loop.users import User
from services.intake.commands import build_fact
from services.intake.reader import ReferralReader


class Accepted(BaseModel):
    referral_id: UUID
    event_id: UUID
    status_url: str


@dataclass
class Intake:
    """What the endpoints need: where facts go and where referrals are read from."""

    publisher: FactPublisher | None
    reader: ReferralReader
    base_url: str

    def status_url(self, referral_id: UUID) -> str:
        return f"{self.base_url}/api/referrals/{referral_id}"


async def submit_fact(intake: Intake, fact: Fact) -> Accepted:
    if intake.publisher is None:
        raise _unavailable("not connected to NATS yet")
    try:
        await intake.publisher.publish(fact)
    except BusUnavailable as error:
        raise _unavailable(str(error)) from error
    return accepted(intake, fact)


def accepted(intake: Intake, fact: Fact) -> Accepted:
    return Accepted(
        referral_id=fact.referral_id, event_id=fact.event_id, status_url=intake.status_url(fact.referral_id)
    )


async def submit_referral(
    intake: Intake,
    referral: Referral,
    referral_id: UUID,
    user: User,
    key: str | None,
    received_at: datetime | None,
) -> Accepted:
    """Publish ReferralReceived; a retry with the same Idempotency-Key answers as the first time did."""
    fact = build_fact(ReferralReceived, referral_id, referral, user, key, received_at)
    if key:
        existing = await intake.reader.get(referral_id)
        if existing is not None and existing.received.data != referral:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "this Idempotency-Key was already used for a different referral",
            )
        if existing is not None:
            return Accepted(
                referral_id=referral_id,
                event_id=existing.received.event_id,
                status_url=intake.status_url(referral_id),
            )
    return await submit_fact(intake, fact)


def _unavailable(reason: str) -> HTTPException:
    detail = f"the referral bus is unavailable ({reason}); nothing was accepted, retry with the same Idempotency-Key"
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "2"})
