"""What a fact must pass before intake publishes it: a referral the store knows (404 otherwise),
one body per Idempotency-Key (422 otherwise), a step the referral's lifecycle allows (409 otherwise).

A referral just accepted (202) may not be recorded by the store writer yet (usually a few
milliseconds), so a fact for a referral the store does not know is answered 404 only after
waiting up to UNKNOWN_WAIT_S for it, the store polled with a growing pause. Nothing is published
for an unknown referral: no fact waits in the stream, nor in the dead-letter stream, for a
referral that never comes.

A keyed fact the store has recorded is compared with the recorded one: the same body is answered
as the first time was (nothing published again), another body is refused. A keyed fact not
recorded yet is claimed in `key_claims.py` (shared by every intake process), so two bodies sent
with one key inside JetStream's duplicate window cannot both be answered 202.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from uuid import UUID

from fastapi import HTTPException, status

from contracts import Fact
from referral_loop.domain.lifecycle import Status
from services.intake.commands import check_allowed
from services.intake.idempotency import body_digest
from services.intake.key_claims import KeyClaims
from services.intake.reader import ReferralReader

UNKNOWN_WAIT_S = 2.0
FIRST_PAUSE_S, LONGEST_PAUSE_S = 0.02, 0.25


async def standing_of(
    reader: ReferralReader, referral_id: UUID, wait_s: float
) -> tuple[Status, frozenset[str]]:
    """The referral's status and recorded event ids, once the store knows it; 404 if it does not
    within `wait_s`."""
    deadline, pause = time.monotonic() + wait_s, FIRST_PAUSE_S
    while True:
        state, recorded = await reader.standing(referral_id)
        if state is not None:
            return state, recorded
        left = deadline - time.monotonic()
        if left <= 0:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no referral with this id has been recorded")
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE_S)


async def is_retry(
    reader: ReferralReader,
    keys: KeyClaims,
    fact: Fact,
    given_at: datetime | None,
    key: str | None,
    wait_s: float,
) -> bool:
    """True for a retry of a fact already recorded (answer as the first time, publish nothing).
    Raises 404 (unknown referral), 422 (the key used with another body) or FactRejected (409)."""
    state, recorded = await standing_of(reader, fact.referral_id, wait_s)
    if key and str(fact.event_id) in recorded:
        earlier = await recorded_fact(reader, fact.referral_id, fact.event_id)
        if earlier is None or not same_body(earlier, fact.data, given_at):
            raise key_reused(fact.type)
        return True
    check_allowed(fact.type, state)
    if key:
        await claim(keys, fact, given_at)
    return False


async def claim(keys: KeyClaims, fact: Fact, given_at: datetime | None) -> None:
    """Claim the fact's key for its body before publishing; 422 if it was claimed for another."""
    digest = body_digest(fact.event_id, fact.data)
    first = await keys.claim(fact.event_id, digest, fact.occurred_at)
    if not first.matches(digest, given_at):
        raise key_reused(fact.type)


async def recorded_fact(reader: ReferralReader, referral_id: UUID, event_id: UUID) -> Fact | None:
    view = await reader.get(referral_id)
    return next((f for f in view.timeline if f.event_id == event_id), None) if view else None


def same_body(earlier: Fact, data: object, given_at: datetime | None) -> bool:
    """The same data, and the same time when the request gives one (else it defaults to now)."""
    return bool(earlier.data == data) and given_at in (None, earlier.occurred_at)


def key_reused(fact_type: str) -> HTTPException:
    what = "referral" if fact_type == "ReferralReceived" else f"{fact_type} fact"
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, f"this Idempotency-Key was already used for a different {what}"
    )
