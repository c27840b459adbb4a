"""Turning a request into a fact: ids, times, the caller, and a check against the store when it knows the referral."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, create_model

from contracts import Actor, ActorKind, Fact
from contracts.fields import EventTime
from referral_loop.domain.lifecycle import ALLOWED_FROM, Status
from referral_loop.web.users import User
from services.intake.idempotency import event_id_for

CLOCK_SKEW = timedelta(minutes=5)


class FactRejected(Exception):
    """The fact is not allowed now (e.g. a cancelled referral cannot be seen)."""


def with_occurred_at(model: type[BaseModel]) -> type[BaseModel]:
    """The request body for a fact: its data plus an optional `occurred_at` (default: now)."""
    return create_model(
        f"{model.__name__}Request",
        __base__=model,
        occurred_at=(EventTime | None, None),
    )


def split_occurred_at(body: BaseModel, data_model: type[BaseModel]) -> tuple[Any, datetime | None]:
    fields = body.model_dump(exclude={"occurred_at"})
    occurred_at: datetime | None = getattr(body, "occurred_at", None)
    return data_model.model_validate(fields), occurred_at


def actor_of(user: User) -> Actor:
    return Actor(kind=ActorKind.STAFF, name=user.name)


def build_fact(
    fact_class: type[Fact],
    referral_id: UUID,
    data: Any,
    user: User,
    key: str | None,
    occurred_at: datetime | None,
) -> Fact:
    event_id = event_id_for(referral_id, fact_class.model_fields["type"].default, user.name, key)
    return fact_class.new(referral_id, data, actor_of(user), occurred_at=occurred_at, event_id=event_id)


def check_allowed(fact_type: str, status: Status | None) -> None:
    """Refuse at once what the store writer would dead-letter; an unknown referral is left to it."""
    if status is not None and status not in ALLOWED_FROM[fact_type]:
        raise FactRejected(f"{fact_type} is not allowed on a referral that is {status.value}")
