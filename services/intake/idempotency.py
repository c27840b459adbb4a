"""The Idempotency-Key header: the same key from the same caller names the same referral and fact.

Ids are derived (uuid5) from the caller and the key, so a retry publishes the same event id:
JetStream drops it inside its duplicate window and the store recognises it after.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "https://referral-loop.invalid/idempotency")
MAX_KEY_LENGTH = 200


def referral_id_for(caller: str, key: str | None) -> UUID:
    return uuid5(NAMESPACE, f"referral:{caller}:{key}") if key else uuid4()


def event_id_for(referral_id: UUID, fact_type: str, caller: str, key: str | None) -> UUID:
    if not key:
        return uuid4()
    if fact_type == "ReferralReceived":
        return uuid5(referral_id, fact_type)
    return uuid5(referral_id, f"{fact_type}:{caller}:{key}")
