"""Loading many aggregates in one query: a batch pays one round trip to the store, not one per id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any
from uuid import UUID

from eventsourcing.application import Application


def load_many(app: Application[UUID], aggregate_ids: Iterable[UUID]) -> dict[UUID, Any]:
    """The stored aggregates among these ids (absent ids are left out), from the store's events
    read in one query (the recorders' `select_events_of`), never from the repository's cache."""
    stored = app.recorder.select_events_of(aggregate_ids)  # type: ignore[attr-defined]
    events: Iterator[Any] = (app.mapper.to_domain_event(s) for s in stored)
    loaded: dict[UUID, Any] = {}
    for aggregate_id, group in groupby(events, key=lambda e: e.originator_id):
        aggregate = None
        for domain_event in group:  # eventsourcing's project_aggregate, without its per-event
            aggregate = domain_event.mutate(aggregate)  # Protocol check (slow on Python 3.11)
        if aggregate is not None:
            loaded[aggregate_id] = aggregate
    return loaded
