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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.http_load import Answer, Pool
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


def appointment_at(days: int) -> bytes:
    return json.dumps({"appointment_at": (datetime.now(UTC) + timedelta(days=days)).isoformat()}).encode()


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
    """Posts over a pool of keep-alive connections; `rate=None` floods, else paces the starts."""

    def __init__(self, stack: Stack, watch: StoreWatch, concurrency: int) -> None:
        self.stack, self.watch, self.concurrency = stack, watch, concurrency
        self.driven = Driven()

    async def run(self, payloads: list[bytes], rate: float | None, seen: bool = True) -> Driven:
        """Each referral: POST it, wait until recorded, POST its appointment (and seen)."""
        return await self.paced([lambda p, b=b: self.lifecycle(p, b, seen) for b in payloads], rate)

    async def see(self, rids: list[str], rate: float | None) -> Driven:
        """POST seen for referrals already recorded (their reports' clock starts here)."""
        return await self.paced(
            [lambda p, r=r: self.post(p, f"/api/referrals/{r}/seen", SUMMARY) for r in rids], rate
        )

    async def paced(self, starts: list[Callable[[Pool], Awaitable[object]]], rate: float | None) -> Driven:
        s = self.stack.settings
        async with Pool("127.0.0.1", s.intake_port, "intake", self.stack.password, self.concurrency) as pool:
            self.driven.started = self.driven.started or time.time()
            tasks, began = [], time.time()
            for i, start in enumerate(starts):
                if rate is not None:
                    await asyncio.sleep(max(0.0, began + i / rate - time.time()))
                tasks.append(asyncio.create_task(start(pool)))
            await asyncio.gather(*tasks)
        return self.driven

    async def lifecycle(self, pool: Pool, payload: bytes, seen: bool) -> None:
        posted = time.time()
        answer = await self.post(pool, "/api/referrals", payload)
        if answer is None:
            return
        self.driven.accepted.append(time.time())
        rid = answer.json()["referral_id"]
        self.driven.posted[rid] = posted
        await self.watch.recorded((rid, "ReferralReceived"))
        booked = await self.post(pool, f"/api/referrals/{rid}/appointment", appointment_at(3))
        if booked is not None and seen:
            await self.post(pool, f"/api/referrals/{rid}/seen", SUMMARY)

    async def post(self, pool: Pool, path: str, body: bytes) -> Answer | None:
        answer = await pool.post(path, body)
        if answer.status == 202:
            return answer
        self.driven.refused[answer.status] = self.driven.refused.get(answer.status, 0) + 1
        return None


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
