"""The read side for `make bench`: a store seeded once with --events facts, then per repeat a
whole rebuild of the views (the real `referral-loop rebuild` path), the volume queries on the
rebuilt views, and the raw read of the store's log (the rebuild's ceiling)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

from bench import seed_store
from bench.common import RESULTS_DIR
from bench.rebuild_rate import query_latencies, rebuild_rate
from bench.report_table import Results
from referral_loop.keys import with_local_key
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from services.projections.models import Dimension

CACHE_DIR = RESULTS_DIR / "cache"
SEED_VERSION = 3
"""Bump when bench/lifecycles.py generates different facts or the store is written differently
(3: encrypted at rest): cached stores are then reseeded."""
QUERY_RUNS = 300
PAGE = 2000


def seeded_store(events: int, store: str) -> Settings:
    """Settings of a fresh store (SQLite in a temp dir; PostgreSQL from REFERRAL_LOOP_POSTGRES_*)
    seeded with `events` facts of realistic referral lifecycles, encrypted as under `make run`. A
    SQLite store seeded once is kept, with its key, in bench/results/cache/ and copied for later
    runs (seeding a million facts takes minutes)."""
    root = Path(tempfile.mkdtemp(prefix="bench-read-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    cached = CACHE_DIR / f"referrals-{events}-v{SEED_VERSION}.sqlite"
    key = root / "secrets" / "store.key"
    if store == "sqlite" and cached.exists():
        key.parent.mkdir(parents=True)
        shutil.copyfile(cached.with_suffix(".key"), key)
    settings = with_local_key(
        seed_store.store_settings(root, "postgres" if store == "postgres" else "sqlite")
    )
    if store == "sqlite" and cached.exists():
        settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, settings.sqlite_file)
        print(f"store of {events:,} facts copied from {cached}", flush=True)
        return settings
    print(f"seeding the store with {events:,} facts", flush=True)
    seconds = seed_store.seed(settings, events)
    print(f"  seeded in {seconds:.0f} s", flush=True)
    if store == "sqlite":
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(settings.sqlite_file, cached)
        shutil.copyfile(key, cached.with_suffix(".key"))
    return settings


def raw_read_rate(settings: Settings) -> float:
    """Facts/s of reading the whole notification log in pages, nothing decoded: the ceiling."""
    ledger = open_ledger(settings)
    try:
        started, after, count = time.perf_counter(), 0, 0
        while page := ledger.recorder.select_notifications(after + 1, limit=PAGE):
            count, after = count + len(page), page[-1].id
        return count / (time.perf_counter() - started)
    finally:
        ledger.close()


def samples(results: Results, settings: Settings) -> None:
    views = settings.data_dir / f"views-{time.monotonic_ns()}.sqlite"
    fresh = settings.model_copy(update={"views_sqlite_path": views})
    results.add("ceiling: store read, pages of 2,000, nothing decoded", "facts/s", raw_read_rate(settings))
    rate, per_cpu_second = rebuild_rate(fresh)
    results.add("rebuild: facts into the views", "facts/s", rate)
    results.add("rebuild: facts per CPU second of the rebuild process", "facts/s", per_cpu_second)
    found = query_latencies(fresh, QUERY_RUNS)
    results.add("volume query p95, by clinic", "ms", found[Dimension.CLINIC][1])
    for dimension, (_, p95, _) in found.items():
        if dimension is not Dimension.CLINIC:
            results.add(f"volume p95, by {dimension.value}", "ms", p95)
    for leftover in settings.data_dir.glob(f"{views.name}*"):
        leftover.unlink()
