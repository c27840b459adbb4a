"""Volume-query latency on a read model built from N events (a first slice of issue 5's bench).

Builds the views from synthetic referral facts through the real projector (no store or bus:
this measures the query, not the pipeline), then times the dashboard's and the API's volume
queries. Prints p50/p95/p99 per query and the build rate.

    .venv/bin/python bench/volume_query.py --events 1000000 [--store postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from contracts import Fact
from referral_loop.domain.deadlines import deadline_policy
from referral_loop.settings import Settings
from referral_loop.store.follower import Recorded
from services.projections.db import Database
from services.projections.models import Dimension, VolumeFilter
from services.projections.projector import Projector
from services.projections.queries.volume import volume
from tests.support import referrals as make

START = datetime(2024, 1, 1, tzinfo=UTC)


def facts_for(n_events: int, clinics: int, seed: int = 7) -> list[Fact]:
    """About four facts per referral: received, scheduled, seen, and a report for most."""
    rng, facts = random.Random(seed), []
    template = make.received()
    for _ in range(n_events // 4):
        rid = UUID(int=rng.getrandbits(128))
        when = START + timedelta(minutes=rng.randrange(0, 3 * 365 * 24 * 60))
        clinic = rng.randrange(clinics)
        data = template.data.model_copy(
            update={
                "referring_clinic": template.data.referring_clinic.model_copy(
                    update={"name": f"Clinic {clinic}", "report_email": f"reports@clinic{clinic}.example"}
                ),
                "requested_specialty": rng.choice(["cardiology", "dermatology", "neurology", "oncology"]),
            }
        )
        received = template.model_copy(
            update={
                "referral_id": rid,
                "event_id": rid,
                "occurred_at": when,
                "recorded_at": when,
                "data": data,
            }
        )
        facts += [received, make.scheduled(rid), make.seen(rid), make.accepted(rid)]
    return facts


def build(db: Database, settings: Settings, facts: list[Fact], page: int = 2000) -> float:
    projector, started = Projector(db, deadline_policy(settings)), time.perf_counter()
    for start in range(0, len(facts), page):
        projector.process([Recorded(start + i + 1, f) for i, f in enumerate(facts[start : start + page])])
    return len(facts) / (time.perf_counter() - started)


def timed(db: Database, dimension: Dimension, window: VolumeFilter, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        volume(db, dimension, window, top=10)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


QUERIED = (Dimension.CLINIC, Dimension.SPECIALTY, Dimension.TOTAL)
WINDOW = VolumeFilter(first_month="2025-01", last_month="2025-12")


def latencies(
    db: Database, runs: int, window: VolumeFilter = WINDOW
) -> dict[Dimension, tuple[float, float, float]]:
    """p50, p95 and p99 in ms of `runs` volume queries (top 10 over `window`) per dimension, on `db`'s views."""
    found = {}
    for dimension in QUERIED:
        ms = sorted(timed(db, dimension, window, runs))
        found[dimension] = (statistics.median(ms), percentile(ms, 0.95), percentile(ms, 0.99))
    return found


def print_latencies(found: dict[Dimension, tuple[float, float, float]]) -> None:
    for dimension, (p50, p95, p99) in found.items():
        print(f"volume by {dimension.value:9}: p50 {p50:.2f} ms  p95 {p95:.2f} ms  p99 {p99:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clinics", type=int, default=300)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), views_sqlite_path=Path(tmp) / "views.sqlite")
        db = Database(settings)
        rate = build(db, settings, facts_for(args.events, args.clinics))
        print(f"built views from {args.events:,} events at {rate:,.0f} events/s")
        print_latencies(latencies(db, args.runs))
        db.close()


if __name__ == "__main__":
    main()
