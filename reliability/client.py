"""Intake's JSON API as a Jepsen client sees it: every POST is acknowledged, refused or unknown.

Each request carries an Idempotency-Key, so a retry names the same referral and the same fact
(intake derives both ids from the key): JetStream drops the copy inside its duplicate window and
the store recognises the event id after it. A retry therefore cannot duplicate anything.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from reliability.history import Outcome
from services.intake.idempotency import referral_id_for

USER = "intake"
TIMEOUT_S = 8.0
"""Longer than intake's own wait for a PubAck (3 s): a timeout here is a lost answer."""


def referral_id_of(marker: str) -> UUID:
    """The referral id intake gives a referral submitted with Idempotency-Key = marker."""
    return referral_id_for(USER, marker)


class IntakeClient:
    def __init__(self, base_url: str, password: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, auth=(USER, password), timeout=TIMEOUT_S)

    async def post(self, path: str, body: dict[str, Any], key: str) -> Outcome:
        """2xx: acknowledged. 503 or no answer: unknown (it may have got in). Other 4xx: refused."""
        try:
            answer = await self.http.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError:
            return Outcome.UNKNOWN
        if answer.is_success:
            return Outcome.ACKNOWLEDGED
        return Outcome.UNKNOWN if answer.status_code >= 500 else Outcome.REFUSED

    async def close(self) -> None:
        await self.http.aclose()
