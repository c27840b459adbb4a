"""HTTP intake: POST /api/referrals as fast as intake answers, on the whole running stack or
(`--alone`) with only what intake stands on.

Referrals are only posted (no appointment or visit follows), over 64 keep-alive connections
(32 left intake's event loop a third idle: the rate then measured the client's concurrency, not
intake); the rate is referrals accepted (202, i.e. after JetStream's PubAck) per second.

    PYTHONPATH=. .venv/bin/python bench/intake_rate.py [--n 10000] [--repeat 3] [--alone]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.http_load import Pool
from bench.pipeline import bodies
from bench.stack import SERVICES, Stack, running_stack

CONNECTIONS = 64


async def post_all(stack: Stack, payloads: list[bytes]) -> float:
    port, password = stack.settings.intake_port, stack.password
    async with Pool("127.0.0.1", port, "intake", password, CONNECTIONS) as pool:
        started = time.perf_counter()
        answers = await asyncio.gather(*(pool.post("/api/referrals", p) for p in payloads))
        elapsed = time.perf_counter() - started
    refused = [a.status for a in answers if a.status != 202]
    if refused:
        raise RuntimeError(f"{len(refused)} referrals refused, e.g. {refused[0]}")
    return len(payloads) / elapsed


ON_ITS_OWN = ("store-writer", "intake")
"""Intake with what it stands on: nats-server (a 202 waits for JetStream's ack) and the store
writer (intake is ready once the referral store it reads is there); feedback, projections and
the mail sink, which act on the referrals afterwards, take no core from it while it is measured."""


def intake_rate(n: int, services: tuple[str, ...] = SERVICES, workers: int = 1) -> float:
    """Referrals/s accepted by a fresh stack's intake: the whole stack (acknowledging them as
    they come), or `ON_ITS_OWN`."""
    payloads = bodies(n)
    with (
        tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp,
        running_stack(Path(tmp), services=services, intake_workers=workers) as stack,
    ):
        return asyncio.run(post_all(stack, payloads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--alone", action="store_true", help="intake, nats-server and the store writer only")
    parser.add_argument("--workers", type=int, default=1, help="intake processes (INTAKE_WORKERS)")
    a = parser.parse_args()
    rates = []
    for run in range(1, a.repeat + 1):
        rates.append(intake_rate(a.n, ON_ITS_OWN if a.alone else SERVICES, a.workers))
        print(f"  run {run}/{a.repeat}: {rates[-1]:,.0f} referrals/s", flush=True)
    print(
        f"HTTP intake: median {statistics.median(rates):,.0f} (min {min(rates):,.0f}, max {max(rates):,.0f})"
    )


if __name__ == "__main__":
    main()
