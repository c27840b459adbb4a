"""HTTP intake alone: POST /api/referrals as fast as intake answers, on the whole running stack.

Referrals are only posted (no appointment or visit follows), over 32 keep-alive connections;
the rate is referrals accepted (202, i.e. after JetStream's PubAck) per second.

    PYTHONPATH=. .venv/bin/python bench/intake_rate.py [--n 10000] [--repeat 3]
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
from bench.stack import Stack, running_stack

CONNECTIONS = 32


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


def intake_rate(n: int) -> float:
    """Referrals/s accepted by a fresh stack's intake."""
    payloads = bodies(n)
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp, running_stack(Path(tmp)) as stack:
        return asyncio.run(post_all(stack, payloads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    a = parser.parse_args()
    rates = []
    for run in range(1, a.repeat + 1):
        rates.append(intake_rate(a.n))
        print(f"  run {run}/{a.repeat}: {rates[-1]:,.0f} referrals/s", flush=True)
    print(
        f"HTTP intake: median {statistics.median(rates):,.0f} (min {min(rates):,.0f}, max {max(rates):,.0f})"
    )


if __name__ == "__main__":
    main()
