"""Rebuild rate: replay a seeded referrals store into fresh read models through the real code path.

Each run is a whole `referral-loop rebuild` (services/projections/rebuild.py: read_page + the
Projector into fresh tables, then the swap), into a fresh views database, timed end to end.
After each run the volume queries are timed on the rebuilt views (bench/volume_query.py).

    PYTHONPATH=. .venv/bin/python bench/rebuild_rate.py --n 1000000 --repeat 3
    PYTHONPATH=. .venv/bin/python bench/rebuild_rate.py --data-dir /tmp/seeded --repeat 3
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import time
from pathlib import Path

from bench import seed_store
from bench.common import Summary, parser, repeated, report
from bench.volume_query import latencies, print_latencies
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from services.projections.db import Database
from services.projections.models import Dimension
from services.projections.rebuild import rebuild


def store_size(settings: Settings) -> int:
    """How many facts the referrals store holds."""
    ledger = open_ledger(settings)
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


def rebuild_rate(settings: Settings) -> tuple[float, float]:
    """Facts per second and per CPU second of one whole rebuild (replay, swap, indexes) from the
    store of `settings`: the CPU of this process and of the worker processes the rebuild started
    and waited for (`REBUILD_WORKERS`)."""
    started, cpu = time.perf_counter(), cpu_seconds()
    replayed = rebuild(settings, io.StringIO())
    return replayed / (time.perf_counter() - started), replayed / (cpu_seconds() - cpu)


def cpu_seconds() -> float:
    """CPU seconds of this process and of its child processes that ended and were waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(settings: Settings, repeat: int, runs: int, views_dir: Path) -> list[Summary]:
    """`repeat` rebuilds, each into a fresh views file (SQLite), then the volume queries' p95 on it."""
    p95s: dict[Dimension, list[float]] = {}
    per_cpu: list[float] = []

    def once() -> float:
        views = views_dir / f"views-{time.monotonic_ns()}.sqlite"
        fresh = settings.model_copy(update={"views_sqlite_path": views})
        rate, cpu_rate = rebuild_rate(fresh)
        per_cpu.append(cpu_rate)
        found = query_latencies(fresh, runs)
        for dimension, (_, p95, _) in found.items():
            p95s.setdefault(dimension, []).append(p95)
        for leftover in views_dir.glob(f"{views.name}*"):
            leftover.unlink()
        return rate

    rates = repeated("rebuild of the read models", "facts/s", repeat, once)
    queries = [Summary(f"volume by {d.value}, p95", "ms", samples) for d, samples in p95s.items()]
    cpu = Summary("rebuild, per CPU second of the rebuilding processes", "facts/CPU s", per_cpu)
    return [rates, cpu, *queries]


def query_latencies(settings: Settings, runs: int) -> dict[Dimension, tuple[float, float, float]]:
    db = Database(settings)
    try:
        found = latencies(db, runs)
    finally:
        db.close()
    print_latencies(found)
    return found


def arguments() -> argparse.Namespace:
    found = parser("Rebuild of the read models from a seeded referrals store", n_default=200_000)
    found.add_argument("--data-dir", type=Path, help="an already seeded store (default: seed --n facts)")
    found.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    found.add_argument("--runs", type=int, default=300, help="volume queries per dimension")
    return found.parse_args()


def main() -> None:
    args = arguments()
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        extra: dict[str, float] = {}
        settings = seed_store.store_settings(args.data_dir or Path(tmp), args.store)
        if args.data_dir is None:
            extra["seed_seconds"] = seed_store.seed(settings, args.n)
        args.n, args.data_dir = store_size(settings), str(args.data_dir or "")
        summaries = measure(settings, args.repeat, args.runs, Path(tmp))
        report("rebuild_rate", args, summaries, **extra)


if __name__ == "__main__":
    main()
