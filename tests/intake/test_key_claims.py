"""The claims of Idempotency-Keys on SQLite and PostgreSQL: the first claim stands for every
intake (two KeyClaims here, as two processes would hold), old claims go as new ones come."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from unittest import mock
from uuid import uuid4

from referral_loop.settings import Settings
from services.intake.key_claims import KEEP_S, Claim, KeyClaims

AT = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


async def test_the_first_claim_stands_for_every_intake(store_settings: Settings) -> None:
    one, other = KeyClaims(store_settings), KeyClaims(store_settings)
    try:
        event_id = uuid4()
        first = await one.claim(event_id, "digest-a", AT)
        assert first == Claim("digest-a", AT)
        assert await other.claim(event_id, "digest-b", AT + timedelta(hours=1)) == first
        assert first.matches("digest-a", None) and first.matches("digest-a", AT.astimezone())
        assert not first.matches("digest-b", None) and not first.matches(
            "digest-a", AT + timedelta(minutes=1)
        )
    finally:
        one.close()
        other.close()


def test_claims_made_at_once_agree_on_one_body(store_settings: Settings) -> None:
    intakes = [KeyClaims(store_settings) for _ in range(4)]
    event_id, found = uuid4(), []
    threads = [
        threading.Thread(target=lambda k=k, i=i: found.append(k._claim(event_id, f"digest-{i}", AT)))
        for i, k in enumerate(intakes * 3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for claims in intakes:
        claims.close()
    assert len(found) == 12 and len(set(found)) == 1


def test_claims_older_than_the_keep_time_are_removed(store_settings: Settings) -> None:
    claims, old = KeyClaims(store_settings), uuid4()
    try:
        with mock.patch("services.intake.key_claims.time.time", return_value=1_000_000.0):
            claims._claim(old, "digest-old", AT)
        with mock.patch("services.intake.key_claims.time.time", return_value=1_000_001.0 + KEEP_S):
            claims._claim(uuid4(), "digest-new", AT)
        assert claims._claim(old, "digest-again", AT).digest == "digest-again"
    finally:
        claims.close()
