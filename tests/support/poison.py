"""Poison written straight into a referral store, as a store from before the contracts' ranges holds
it: contracts are bypassed, the stored fact's JSON says whatever the test wants.

`return_visit` records a ReturnVisitScheduled whose stored `return_visit_on` is the given text
(by default "0001-01-01", what the review posted and intake accepted); `unvalidated` builds a fact
with no validation at all (`model_construct`), for a follower's arithmetic to choke on once decoded.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from contracts.events import ReturnVisit, ReturnVisitScheduled
from referral_loop.store.ledger import ReferralLedger
from referral_loop.store.referral import Referral, as_stored
from tests.support import referrals as make

YEAR_ONE = "0001-01-01"


def visit(referral_id: UUID, on: date = date(2027, 3, 1)) -> ReturnVisitScheduled:
    return ReturnVisitScheduled.new(referral_id, ReturnVisit(return_visit_on=on), make.STAFF)


def return_visit(ledger: ReferralLedger, referral_id: UUID, on: str = YEAR_ONE) -> UUID:
    """Record, bypassing contracts, a return visit on `on` for a referral the store has; its event id."""
    fact = visit(referral_id)
    stored = as_stored(fact)
    stored["data"]["return_visit_on"] = on
    write(ledger, referral_id, fact.type, stored)
    return fact.event_id


def received(ledger: ReferralLedger, **envelope: Any) -> UUID:
    """Record, bypassing contracts, a new referral whose stored envelope has these values
    (e.g. occurred_at="9999-12-31T00:00:00Z"); its referral id."""
    referral_id = uuid4()
    stored = {**as_stored(make.received(referral_id)), **envelope}
    referral = Referral(fact=stored)
    ledger.save(referral)
    return referral_id


def write(ledger: ReferralLedger, referral_id: UUID, fact_type: str, stored: dict[str, Any]) -> None:
    referral: Referral = ledger.repository.get(referral_id)
    referral.trigger_event(getattr(Referral, fact_type), fact=stored)
    ledger.save(referral)


def unvalidated(referral_id: UUID, on: date) -> ReturnVisitScheduled:
    """A return visit on `on`, never validated: what a follower would get if a range were missing."""
    fact = visit(referral_id)
    data = ReturnVisit.model_construct(return_visit_on=on)
    return fact.model_copy(update={"data": data})
