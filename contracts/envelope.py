"""The one envelope every referral fact travels in, on the bus and in the store."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

from contracts.fields import EventTime, RecordedTime, ShortText
from contracts.forgetting import STORED_CONTEXT
from contracts.referral import Contract


class ActorKind(StrEnum):
    STAFF = "staff"
    SYSTEM = "system"
    SERVICE = "service"


class Actor(Contract):
    """Who did it: a staff member's user name, a clinical system, or one of our services. Never PHI."""

    kind: ActorKind
    name: ShortText


class Fact(Contract):
    """The envelope: what happened to which referral, when it happened, when we recorded it, who did it.

    `occurred_at` is when it happened in the world (the waiting clock starts at the referral's);
    `recorded_at` is when the practice's system first accepted the fact.
    """

    event_id: UUID
    type: str
    schema_version: int
    referral_id: UUID
    occurred_at: EventTime
    recorded_at: RecordedTime
    actor: Actor
    data: Any

    summary: ClassVar[str] = ""

    @classmethod
    def new(
        cls,
        referral_id: UUID,
        data: Any,
        actor: Actor,
        occurred_at: datetime | None = None,
        event_id: UUID | None = None,
    ) -> Self:
        """A fact recorded now, by `actor`, with a fresh event id unless one is given.

        Its times are checked against the absolute bounds only (`STORED_CONTEXT`): the edge has
        checked what a person gave against the present already, and a service's own clock (a
        test's, moved to next year) is not the edge's."""
        now = datetime.now(UTC)
        fields: dict[str, Any] = {
            "event_id": event_id or uuid4(),
            "referral_id": referral_id,
            "occurred_at": occurred_at or now,
            "recorded_at": now,
            "actor": actor,
            "data": data,
        }
        return cls.model_validate(fields, context=STORED_CONTEXT)
