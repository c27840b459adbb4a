"""Driving referrals through the whole lifecycle over intake's HTTP API, as staff would.

Each referral: POST /api/referrals (ReferralReceived, with a return visit in three weeks); once
the store has it, POST .../appointment and POST .../seen. Feedback then sends the acknowledgement,
the consult report and the thank-you and records AcknowledgementSent, ReportSent, ThankYouSent:
six facts per referral. `rate=None` floods (as fast as intake answers, `concurrency` requests
in flight); a rate starts a referral every 1/rate seconds.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.http_load import Pool
from bench.observe import StoreWatch
from bench.practice import offices, referral
from bench.stack import Stack

FACTS_PER_REFERRAL = 6
SUMMARY = json.dumps(
    {
        "specialist": "Dr. Ada Byron",
        "findings": "Normal echocardiogram.",
        "assessment": "Stable angina.",
        "plan": "Start a beta blocker.",
        "recommendations": "Recheck blood pressure in 4 weeks.",
    }
).encode()


def bodies(n: int, seed: int = 7) -> list[bytes]:
    """n referral bodies from 300 offices (those with a report address), as JSON."""
    rng = random.Random(seed)
    found, _ = offices(rng, 300)
    with_address = [o for o in found if o.report_email]
    return_visit = (datetime.now(UTC) + timedelta(days=21)).date().isoformat()
    out = []
    for _ in range(n):
        body = referral(rng, rng.choice(with_address)).model_dump(mode="json", exclude_none=True)
        out.append(json.dumps({**body, "return_visit_on": return_visit}).encode())
    return out


@dataclass
class Driven:
    """What the driver saw: when each referral was posted and accepted, and any refusals."""

    posted: dict[str, float] = field(default_factory=dict)
    accepted: list[float] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    settled: float = 0.0
    complete: bool = False


class Driver:
    def __init__(self, stack: Stack, watch: StoreWatch, concurrency: int) -> None:
        self.stack, self.watch, self.concurrency = stack, watch, concurrency
        self.driven = Driven()

    async def run(self, payloads: list[bytes], rate: float | None) -> Driven:
        s = self.stack.settings
        async with Pool("127.0.0.1", s.intake_port, "intake", self.stack.password, self.concurrency) as pool:
            self.driven.started = time.time()
            tasks = []
            for i, payload in enumerate(payloads):
                if rate is not None:
                    await asyncio.sleep(max(0.0, self.driven.started + i / rate - time.time()))
                tasks.append(asyncio.create_task(self.lifecycle(pool, payload)))
            await asyncio.gather(*tasks)
        return self.driven

    async def lifecycle(self, pool: Pool, payload: bytes) -> None:
        posted = time.time()
        answer = await pool.post("/api/referrals", payload)
        if answer.status != 202:
            self.refuse(answer.status)
            return
        self.driven.accepted.append(time.time())
        rid = answer.json()["referral_id"]
        self.driven.posted[rid] = posted
        await self.watch.recorded((rid, "ReferralReceived"))
        at = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        for path, body in (("appointment", json.dumps({"appointment_at": at}).encode()), ("seen", SUMMARY)):
            answer = await pool.post(f"/api/referrals/{rid}/{path}", body)
            if answer.status != 202:
                self.refuse(answer.status)
                return

    def refuse(self, status: int) -> None:
        self.driven.refused[status] = self.driven.refused.get(status, 0) + 1


async def until_settled(watch: StoreWatch, expected: int, stack: Stack, timeout_s: float) -> bool:
    """Wait until the store holds `expected` facts (or nothing moved for `timeout_s`)."""
    last, moved = -1, time.monotonic()
    while len(watch.positions) < expected:
        stack.check()
        if len(watch.positions) != last:
            last, moved = len(watch.positions), time.monotonic()
        elif time.monotonic() - moved > timeout_s:
            return False
        await asyncio.sleep(0.05)
    return True
