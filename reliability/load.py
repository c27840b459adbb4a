"""The load: referrals through their lifecycle over HTTP, as intake staff would drive them.

Each lifecycle: submit the referral (ReferralReceived), book an appointment, record the visit
(PatientSeen); each step waits until the store has recorded the one before (so no fact arrives
before the one it follows). Feedback then emails the acknowledgement, the consult report and
the thank-you note. A step without an answer is retried with the same Idempotency-Key for a
while (intake or NATS may be down); every attempt goes into the history.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from reliability.client import IntakeClient, referral_id_of
from reliability.history import History, Outcome
from reliability.progress import StoreProgress
from tests.support.referrals import referral_body

RETRY_S = 0.5
SUMMARY = {
    "specialist": "Dr. Ada Byron",
    "findings": "Normal echocardiogram.",
    "assessment": "Stable angina.",
    "plan": "Start a beta blocker.",
    "recommendations": "Recheck blood pressure in 4 weeks.",
}


def referral_of(marker: str) -> dict[str, Any]:
    """A referral carrying its marker, the patient's return visit three weeks ahead."""
    back = (datetime.now(UTC) + timedelta(days=21)).date().isoformat()
    return referral_body(external_reference=marker, return_visit_on=back)


def appointment() -> dict[str, Any]:
    return {"appointment_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}


@dataclass
class Load:
    client: IntakeClient
    progress: StoreProgress
    history: History
    run_id: str
    retry_for_s: float = 30.0
    record_timeout_s: float = 90.0
    pause_s: float = 0.0
    """Each worker's rest between two lifecycles: paces the load."""
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def run(self, workers: int, stopping: asyncio.Event) -> None:
        """`workers` lifecycles at a time until `stopping` is set; the last ones are finished."""
        await asyncio.gather(*(self._worker(stopping) for _ in range(workers)))

    async def _worker(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.lifecycle(f"{self.run_id}-{next(self.numbers):06d}")
            await asyncio.sleep(self.pause_s)

    async def lifecycle(self, marker: str) -> None:
        rid = referral_id_of(marker)
        steps: list[tuple[str, dict[str, Any], str, Callable[[Outcome], None]]] = [
            ("", referral_of(marker), "ReferralReceived", lambda o: self.history.referral(marker, o, rid)),
            ("/appointment", appointment(), "AppointmentScheduled", lambda o: None),
            ("/seen", SUMMARY, "PatientSeen", lambda o: self.history.patient_seen(marker, o, rid)),
        ]
        for suffix, body, fact_type, note in steps:
            path = f"/api/referrals/{rid}{suffix}" if suffix else "/api/referrals"
            if await self.submit(path, body, f"{marker}{suffix}", note) is not Outcome.ACKNOWLEDGED:
                return
            if not await self.progress.wait_for(rid, fact_type, self.record_timeout_s):
                return

    async def submit(
        self, path: str, body: dict[str, Any], key: str, note: Callable[[Outcome], None]
    ) -> Outcome:
        """POST until acknowledged or refused, retrying unanswered attempts for `retry_for_s`."""
        deadline = time.monotonic() + self.retry_for_s
        while True:
            outcome = await self.client.post(path, body, key)
            note(outcome)
            if outcome is not Outcome.UNKNOWN or time.monotonic() > deadline:
                return outcome
            await asyncio.sleep(RETRY_S)


def referral_ids(history: History) -> list[UUID]:
    return [s.referral_id for s in history.referrals.values() if s.referral_id is not None]
