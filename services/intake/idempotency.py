"""The Idempotency-Key header: the same key from the same caller names the same referral and fact.

Ids are derived (uuid5) from the caller and the key, so a retry publishes the same event id:
JetStream drops it inside its duplicate window and the store recognises it after, whatever the
body. So the body a key was first used with is remembered by its digest (`key_claims.py`) and
compared with the store's copy once recorded (`lifecycle.py`): the same key with another body is
refused (422), never answered 202 and lost.
"""

from __future__ import annotations

import hashlib
import json
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from pydantic import BaseModel

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


def body_digest(event_id: UUID, data: BaseModel) -> str:
    """A SHA-256 of the fact's data as JSON (keys sorted), salted with its event id: what tells two
    bodies sent with one key apart without keeping the body (it holds PHI)."""
    text = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{event_id}\n{text}".encode()).hexdigest()
