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


def test_the_aggregate_has_one_event_class_per_fact_type_and_no_other() -> None:
    """The event classes are written out in referral_loop/store/referral.py (their qualnames are the
    stored topics); the contracts' one list of fact types decides which there must be."""
    base = {Referral.Event, Referral.Created}
    events = {
        name: value
        for name, value in vars(Referral).items()
        if isinstance(value, type) and issubclass(value, Referral.Event) and value not in base
    }
    assert sorted(events) == sorted(FACT_TYPES)
    for name, cls in events.items():
        assert cls.__qualname__ == f"Referral.{name}"
        assert cls.__module__ == STORED_MODULE
