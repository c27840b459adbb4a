"""One measured run of the whole stack: referrals through the lifecycle, watched from outside.

    PYTHONPATH=. .venv/bin/python bench/lifecycle_bench.py --n 2000 [--rate 100] [--store postgres]

Prints the run's figures as JSON: recorded facts/s, HTTP referrals accepted/s, latency
percentiles (POST -> recorded, PatientSeen recorded -> report accepted by SMTP), projection lag,
and each process's RSS (peak, and at a quarter and at the end of the run, to show growth).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.observe import MailWatch, RssWatch, StoreWatch, ViewsWatch
from bench.pipeline import FACTS_PER_REFERRAL, Driven, Driver, bodies, until_settled
from bench.stack import Stack, running_stack
from referral_loop.ops.heap import freeze_startup_objects

SETTLE_TIMEOUT_S = 30.0


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """p50, p95, p99 and max, in ms by default; NaN-free (empty -> zeros)."""
    if len(values) < 2:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "count": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": cuts[49] * scale,
        "p95": cuts[94] * scale,
        "p99": cuts[98] * scale,
        "max": max(values) * scale,
        "count": len(values),
    }


def by_second(seen_sent: list[tuple[float, float]]) -> list[dict[str, float]]:
    """PatientSeen -> SMTP per second of the run (by when PatientSeen was recorded): how many,
    their mean and max in ms. A queue building and draining shows here, not in percentiles."""
    if not seen_sent:
        return []
    start, seconds = min(seen for seen, _ in seen_sent), defaultdict(list)
    for seen, sent in seen_sent:
        seconds[int(seen - start)].append((sent - seen) * 1000.0)
    return [
        {"second": s, "reports": len(v), "mean_ms": round(sum(v) / len(v), 1), "max_ms": round(max(v), 1)}
        for s, v in sorted(seconds.items())
    ]


def rate_of(times: list[float]) -> float:
    return (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else 0.0


def rss_report(watch: RssWatch) -> dict[str, dict[str, float]]:
    found = {}
    for name, samples in watch.samples.items():
        if not samples:
            continue
        quarter = samples[len(samples) // 4][1]
        found[name] = {
            "peak_mib": watch.peak.get(name, 0.0),
            "quarter_mib": quarter,
            "end_mib": samples[-1][1],
        }
    return found


@dataclass(frozen=True)
class Phase:
    name: str
    n: int
    rate: float | None  # referrals per second; None floods


def figures(
    stack: Stack, driven: Driven, watches: tuple[StoreWatch, ViewsWatch, MailWatch]
) -> dict[str, Any]:
    """The figures of one phase: its referrals, and the store positions recorded during it."""
    store, views, mail = watches
    domain = stack.settings.practice_email.rpartition("@")[2]
    window = [(p, t) for p, t in store.positions if driven.started <= t <= driven.settled]
    seen_sent = [
        (store.seen[(rid, "PatientSeen")], mail.accepted[f"<report.{rid}@{domain}>"])
        for rid in driven.posted
        if (rid, "PatientSeen") in store.seen and f"<report.{rid}@{domain}>" in mail.accepted
    ]
    to_smtp = [sent - seen for seen, sent in seen_sent]
    return {
        "referrals_accepted": len(driven.accepted),
        "refused": driven.refused,
        "facts_recorded": len(window),
        "reports_sent": len(to_smtp),
        "emails_per_s": rate_of([t for t in mail.accepted.values() if driven.started <= t <= driven.settled]),
        "recorded_facts_per_s": rate_of([t for _, t in window]),
        "http_referrals_per_s": len(driven.accepted) / (max(driven.accepted) - driven.started),
        "reports_per_s": rate_of([store.seen[(rid, "PatientSeen")] for rid in driven.posted]),
        "post_to_recorded_ms": percentiles(
            [store.seen[(rid, "ReferralReceived")] - t for rid, t in driven.posted.items()]
        ),
        "seen_to_smtp_ms": percentiles(to_smtp),
        "seen_to_smtp_by_second": by_second(seen_sent),
        "projection_lag_ms": percentiles(views.lags(window)),
    }


async def run_phase(stack: Stack, phase: Phase, store: StoreWatch, concurrency: int) -> Driven:
    """A flood runs whole lifecycles at once. A paced phase posts referrals (and appointments) at
    `rate`, lets feedback acknowledge them, then posts PatientSeen for them at `rate`: the
    reports then go out at that rate, with nothing else competing."""
    base, payloads = len(store.positions), bodies(phase.n, seed=zlib.crc32(phase.name.encode()))
    driver = Driver(stack, store, concurrency)
    if phase.rate is None:
        driven = await driver.run(payloads, None)
    else:
        driven = await driver.run(payloads, phase.rate, seen=False)
        await until_settled(store, base + phase.n * 3, stack, SETTLE_TIMEOUT_S)
        await driver.see(list(driven.posted), phase.rate)
    driven.complete = await until_settled(store, base + phase.n * FACTS_PER_REFERRAL, stack, SETTLE_TIMEOUT_S)
    driven.settled = time.time()
    print(f"  {phase.name}: {phase.n:,} referrals in {driven.settled - driven.started:.1f}s", flush=True)
    return driven


async def drive(stack: Stack, phases: list[Phase], concurrency: int) -> dict[str, Any]:
    store, views = StoreWatch(stack.settings), ViewsWatch(stack.settings)
    mail, rss = MailWatch(stack.settings.mail_dir), RssWatch(stack.pids())
    watches = (store, views, mail)
    for w in (*watches, rss):
        w.thread.start()
    try:
        runs = [(phase, await run_phase(stack, phase, store, concurrency)) for phase in phases]
        await asyncio.sleep(0.2)  # let the projector and the mail watch catch the last facts
    finally:
        for w in (*watches, rss):
            w.thread.stop()
        store.close()
        views.close()
    found = {
        p.name: {"n": p.n, "rate": p.rate, "complete": d.complete, **figures(stack, d, watches)}
        for p, d in runs
    }
    return {"phases": found, "rss": rss_report(rss)}


def measure(phases: list[Phase], store: str = "sqlite", concurrency: int = 32) -> dict[str, Any]:
    """A fresh stack in a temporary directory, the phases one after another, their figures."""
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp, running_stack(Path(tmp), store) as stack:
        freeze_startup_objects()  # as the services do: the watches see no collector pauses of ours
        result = asyncio.run(drive(stack, phases, concurrency))
    return {"store": store, "concurrency": concurrency, **result}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--n", type=int, default=2000, help="referrals")
    args.add_argument("--rate", type=float, default=None, help="referrals per second (default: flood)")
    args.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args.add_argument("--concurrency", type=int, default=32, help="HTTP requests in flight")
    a = args.parse_args()
    print(json.dumps(measure([Phase("run", a.n, a.rate)], a.store, a.concurrency), indent=2))


if __name__ == "__main__":
    main()
