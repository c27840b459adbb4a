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
from referral_loop.messaging.publisher import BusUnavailable, FactPublisher
from referral_loop.web.users import User
from services.intake.commands import build_fact
from services.intake.key_claims import KeyClaims
from services.intake.lifecycle import UNKNOWN_WAIT_S, claim, key_reused, same_body
from services.intake.reader import ReferralReader


class Accepted(BaseModel):
    referral_id: UUID
    event_id: UUID
    status_url: str


@dataclass
class Intake:
    """What the endpoints need: where facts go, where referrals are read from, the bodies keys
    were first used with, and how long a fact waits for its referral to be recorded."""

    publisher: FactPublisher | None
    reader: ReferralReader
    base_url: str
    keys: KeyClaims
    unknown_wait_s: float = UNKNOWN_WAIT_S

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
    """Publish ReferralReceived; a retry with the same Idempotency-Key answers as the first time did,
    the same key with another referral is refused (422), recorded or not yet."""
    fact = build_fact(ReferralReceived, referral_id, referral, user, key, received_at)
    if key:
        existing = await intake.reader.get(referral_id)
        if existing is not None and not same_body(existing.received, referral, received_at):
            raise key_reused(fact.type)
        if existing is not None:
            return accepted(intake, existing.received)
        await claim(intake.keys, fact, received_at)
    return await submit_fact(intake, fact)


def _unavailable(reason: str) -> HTTPException:
    detail = f"the referral bus is unavailable ({reason}); nothing was accepted, retry with the same Idempotency-Key"
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "2"})
