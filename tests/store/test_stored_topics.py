"""Every store already written names its events by topic (`module:Class.Event`): those names must
keep resolving to the Referral aggregate's event classes, whatever moves around them."""

from __future__ import annotations

from eventsourcing.utils import resolve_topic

from contracts.events import FACT_TYPES
from referral_loop.store.referral import Referral

STORED_MODULE = "referral_loop.store.referral"


def test_the_topics_stores_hold_resolve_to_the_aggregates_events() -> None:
    assert resolve_topic(f"{STORED_MODULE}:Referral") is Referral
    for fact_type in FACT_TYPES:
        stored = f"{STORED_MODULE}:Referral.{fact_type}"
        assert resolve_topic(stored) is getattr(Referral, fact_type), stored
