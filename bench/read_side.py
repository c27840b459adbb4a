"""The read side for `make bench`, on two stores seeded once with the same log: the whole store of
--events facts, and a prefix store of its first --rebuild-facts facts (on SQLite a copy of the
whole store taken while it was seeded, when it held them; on PostgreSQL seeded on its own).

Once, before the repeats: the whole store rebuilt into views (the real `referral-loop rebuild`
path, timed and reported once). Each repeat: a whole rebuild of the prefix store into fresh
views, timed (the rebuild's rate); the raw read of the prefix store's log (its ceiling); and the
volume queries on the whole store's views. The rebuild's rate is thus measured on a slice of the
log each repeat, the queries' latency on the views of all of it; a million facts' rebuild each
repeat took a third of the run.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import seed_store
from bench.common import RESULTS_DIR
from bench.rebuild_rate import query_latencies, rebuild_rate
from bench.report_table import Results
from referral_loop.keys import with_local_key
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from services.projections.models import Dimension

CACHE_DIR = RESULTS_DIR / "cache"
SEED_VERSION = 4
"""Bump when bench/lifecycles.py generates different facts or the store is written differently
(3: encrypted at rest; 4: PHI sealed under per-patient keys): cached stores are then reseeded."""
QUERY_RUNS = 300
PAGE = 2000


@dataclass(frozen=True)
class ReadSide:
    """The whole store (its views built once, queried each repeat) and the prefix store (rebuilt
    each repeat), with the figures of the whole store's one rebuild."""

    whole: Settings
    prefix: Settings
    facts: int
    prefix_facts: int
    whole_rebuild: dict[str, float]


def prepared(events: int, prefix_facts: int, store: str) -> ReadSide:
    """The two stores seeded (or, for SQLite, copied from bench/results/cache/), then the whole
    store's views built by one rebuild."""
    root = Path(tempfile.mkdtemp(prefix="bench-read-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    step = seed_store.BATCH * seed_store.BATCHES_PER_TRANSACTION
    prefix_facts = min(events, max(step, prefix_facts - prefix_facts % step))
    whole, prefix = stores(root, store)
    prefix = prefix if prefix_facts < events else whole
    if not (store == "sqlite" and copied(whole, prefix, events, prefix_facts)):
        seeded(whole, prefix, events, prefix_facts)
    views = whole.model_copy(update={"views_sqlite_path": root / "views-whole.sqlite"})
    rate, per_cpu_second = rebuild_rate(views)
    print(f"  the whole store's views: rebuilt at {rate:,.0f} facts/s", flush=True)
    found = {"facts_per_s": rate, "facts_per_cpu_s": per_cpu_second, "seconds": events / rate}
    return ReadSide(views, prefix, events, prefix_facts, found)


def stores(root: Path, store: str) -> tuple[Settings, Settings]:
    """Settings of the whole and the prefix store, both encrypted with one key made under `root`:
    SQLite files in `root`, or two databases of an embedded PostgreSQL server kept to the end."""
    if store == "postgres":
        return postgres_stores(root)
    whole = with_local_key(seed_store.store_settings(root, "sqlite"))
    return whole, whole.model_copy(update={"sqlite_path": root / "store" / "prefix.sqlite"})


def postgres_stores(root: Path) -> tuple[Settings, Settings]:
    from tests.support.servers import EmbeddedPostgres  # only --store postgres needs the server

    server = EmbeddedPostgres(root / "postgres").start()
    atexit.register(server.stop)  # registered after the rmtree of `root`: runs before it
    whole, prefix = (
        with_local_key(Settings(data_dir=root, **server.create_database(name).settings_update()))
        for name in ("whole", "prefix")
    )
    return whole, prefix


def cached(events: int, prefix_facts: int) -> tuple[Path, Path, Path]:
    """The cached whole store, prefix store and their key."""
    whole = CACHE_DIR / f"referrals-{events}-v{SEED_VERSION}.sqlite"
    return (
        whole,
        CACHE_DIR / f"prefix-{prefix_facts}-of-{events}-v{SEED_VERSION}.sqlite",
        whole.with_suffix(".key"),
    )


def copied(whole: Settings, prefix: Settings, events: int, prefix_facts: int) -> bool:
    """Whether both SQLite stores and their key could be copied from the cache."""
    sources = cached(events, prefix_facts)
    if not all(path.exists() for path in sources):
        return False
    assert whole.store_key_file is not None, "with_local_key keeps the key in a file"
    for source, target in zip(
        sources, (whole.sqlite_file, prefix.sqlite_file, whole.store_key_file), strict=True
    ):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    print(f"stores of {events:,} and {prefix_facts:,} facts copied from {CACHE_DIR}", flush=True)
    return True


def seeded(whole: Settings, prefix: Settings, events: int, prefix_facts: int) -> None:
    """Seed both stores: on SQLite in one pass (the prefix copied when the whole store holds its
    facts), then cached; on PostgreSQL one after the other."""
    print(f"seeding a store with {events:,} facts, and one with the first {prefix_facts:,}", flush=True)
    sqlite, split = whole.store == "sqlite", prefix is not whole
    copy = (
        {prefix_facts: lambda: copy_sqlite(whole.sqlite_file, prefix.sqlite_file)} if sqlite and split else {}
    )
    seconds = seed_store.seed(whole, events, after=copy)
    if split and not sqlite:
        seconds += seed_store.seed(prefix, prefix_facts, of=events)
    print(f"  seeded in {seconds:.0f} s", flush=True)
    if sqlite:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        assert whole.store_key_file is not None, "with_local_key keeps the key in a file"
        sources = (whole.sqlite_file, prefix.sqlite_file, whole.store_key_file)
        for source, target in zip(sources, cached(events, prefix_facts), strict=True):
            shutil.copyfile(source, target)


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included), with SQLite's backup."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as reading, closing(sqlite3.connect(target)) as writing:
        reading.backup(writing)


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


def samples(results: Results, side: ReadSide) -> None:
    """One repeat: the prefix store read raw and rebuilt, then the volume queries on the whole."""
    views = side.prefix.data_dir / f"views-{time.monotonic_ns()}.sqlite"
    fresh = side.prefix.model_copy(update={"views_sqlite_path": views})
    size = f"{side.prefix_facts:,} facts"
    results.add(
        f"ceiling: store read of {size}, pages of 2,000, nothing decoded", "facts/s", raw_read_rate(fresh)
    )
    rate, per_cpu_second = rebuild_rate(fresh)
    results.add(f"rebuild: facts into the views, {size}", "facts/s", rate)
    results.add(f"rebuild: facts per CPU second of its processes, {size}", "facts/s", per_cpu_second)
    for leftover in views.parent.glob(f"{views.name}*"):
        leftover.unlink()
    query_samples(results, side)


def query_samples(results: Results, side: ReadSide) -> None:
    found = query_latencies(side.whole, QUERY_RUNS)
    size = f"{side.facts:,} facts"
    results.add(f"volume query p95, by clinic, {size}", "ms", found[Dimension.CLINIC][1])
    for dimension, (_, p95, _) in found.items():
        if dimension is not Dimension.CLINIC:
            results.add(f"volume p95, by {dimension.value}, {size}", "ms", p95)


def extra(side: ReadSide) -> dict[str, Any]:
    """For bench.json: the read side's sizes, the rebuild's processes and the whole store's one rebuild."""
    return {
        "facts": side.facts,
        "prefix_facts": side.prefix_facts,
        "rebuild_workers": side.whole.rebuild_workers,
        "whole_rebuild": side.whole_rebuild,
    }


def note(found: dict[str, Any]) -> str:
    """The whole store's one rebuild, in a sentence for bench.md."""
    rebuilt = found["whole_rebuild"]
    return (
        f"The read side's whole store of {found['facts']:,} facts, rebuilt once for the volume queries: "
        f"{rebuilt['facts_per_s']:,.0f} facts/s ({rebuilt['facts_per_cpu_s']:,.0f} per CPU second), "
        f"{rebuilt['seconds']:.0f} s. Every rebuild ran in {found['rebuild_workers']} processes (REBUILD_WORKERS)."
    )
