"""`make bench`: the whole pipeline against the ceilings of its parts, measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/run_bench.py [--n 10000] [--repeat 3] [--events 1000000]
                                                     [--store sqlite|postgres]

The N referrals go through the whole lifecycle over the run, N/repeat of them in each repeat's
flood, so every quantity is measured --repeat times and the run fits in ten minutes on 2 cores.
Each repeat measures, on fresh servers and stores in temporary directories:
  1. the ceilings: raw JetStream publish+ack, raw store append, raw SMTP sends;
  2. the store stage: facts published in batches, recorded by the store-writer process;
  3. the lifecycle through the real stack (intake, store writer, feedback, projections, NATS,
     a mail sink): a flood of N/repeat referrals, then N/20 referrals at 100/s whose
     PatientSeen then come at 100/s (100 reports/s);
     and intake alone: referrals posted as fast as it answers;
  4. projection lag with facts recorded at a steady 1,000/s (store writer and projections);
  5. the read side: a store seeded once with --events facts, rebuilt whole into the views, then
     volume queries timed on them.
Each stage prints how long it took.
Medians with min-max go to bench/results/bench.json and bench/results/bench.md, with each
stage's ratio to its ceiling and each target met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench import ceilings, read_side
from bench.common import RESULTS_DIR, ledger_append_rate, outgoing, received_facts
from bench.intake_rate import intake_rate
from bench.lag_stage import lag_run
from bench.lifecycle_bench import Phase, measure
from bench.report_table import Results, markdown
from bench.store_stage import stage_rate
from referral_loop.settings import Settings

WRITER_BATCH = 250
CEILING_MESSAGES = 4000
SMTP_LETTERS = 1000
STORE_STAGE_FACTS = 10_000
LAG_FACTS = 8000
INTAKE_REFERRALS = 3000


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"  {name} ...", flush=True)
    yield
    print(f"  {name}: {time.monotonic() - started:.0f} s", flush=True)


def ceiling_samples(results: Results, store: str) -> None:
    facts = received_facts(CEILING_MESSAGES)
    msgs = outgoing(facts)
    results.add(
        "ceiling: JetStream publish+ack, publish_async",
        "msgs/s",
        asyncio.run(ceilings.publish_rate(ceilings.publish_async, msgs)),
    )
    results.add(
        "ceiling: JetStream publish+ack, gathered x100",
        "msgs/s",
        asyncio.run(ceilings.publish_rate(ceilings.gathered_100, msgs)),
    )
    results.add(
        f"ceiling: store append ({store}), batches of {WRITER_BATCH}",
        "facts/s",
        ledger_append_rate(facts, WRITER_BATCH, store),
    )
    results.add("ceiling: SMTP send, 1 connection", "msgs/s", ceilings.smtp_rate(SMTP_LETTERS, 1))
    results.add("ceiling: SMTP send, 4 connections", "msgs/s", ceilings.smtp_rate(SMTP_LETTERS, 4))
    results.add(
        f"store stage: publish_many -> store writer -> {store}",
        "facts/s",
        stage_rate(received_facts(STORE_STAGE_FACTS), store),
    )


def lifecycle_samples(results: Results, flood: int, paced: int, store: str) -> None:
    phases = [Phase("flood", flood, None), Phase("100 reports/s", paced, 100.0)]
    found = measure(phases, store)
    flood, paced = (found["phases"][p.name] for p in phases)
    results.add("lifecycle flood: facts recorded", "facts/s", flood["recorded_facts_per_s"])
    results.add("lifecycle flood: referrals accepted over HTTP", "referrals/s", flood["http_referrals_per_s"])
    results.add("lifecycle flood: emails accepted by SMTP", "emails/s", flood["emails_per_s"])
    results.add("lifecycle flood: projection lag p99", "ms", flood["projection_lag_ms"]["p99"])
    for q in ("p50", "p95", "p99"):
        results.add(f"POST -> recorded {q}, at 100 referrals/s", "ms", paced["post_to_recorded_ms"][q])
    for q in ("p50", "p95", "p99"):
        results.add(f"PatientSeen -> SMTP accepted {q}, at 100 reports/s", "ms", paced["seen_to_smtp_ms"][q])
    results.add("achieved report rate", "reports/s", paced["reports_per_s"])
    for process, rss in found["rss"].items():
        results.add(f"RSS peak: {process}", "MiB", rss["peak_mib"])
        results.add(f"RSS growth, quarter to end: {process}", "MiB", rss["end_mib"] - rss["quarter_mib"])
    results.extra.setdefault("lifecycle_runs", []).append(found)


def lag_samples(results: Results, store: str) -> None:
    found = lag_run(LAG_FACTS, 1000.0, store)
    results.add("projection lag p99, at 1,000 facts/s", "ms", found["projection_lag_ms"]["p99"])
    results.add("projection lag p50, at 1,000 facts/s", "ms", found["projection_lag_ms"]["p50"])
    results.add("achieved rate of the lag stage", "facts/s", found["recorded_facts_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=10_000, help="referrals through the lifecycle, over all repeats"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000, help="facts seeded for the read side")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    results = Results()
    started = time.monotonic()
    with stage(f"read side: a store of {args.events:,} facts"):
        seeded = read_side.seeded_store(args.events, args.store)
    for run in range(1, args.repeat + 1):
        print(f"repeat {run}/{args.repeat}", flush=True)
        one_repeat(results, args, seeded)
    print(f"the run took {(time.monotonic() - started) / 60:.1f} minutes", flush=True)
    write(results, args)


def one_repeat(results: Results, args: argparse.Namespace, seeded: Settings) -> None:
    flood = math.ceil(args.n / args.repeat)
    with stage("ceilings and the store stage"):
        ceiling_samples(results, args.store)
    with stage(f"lifecycle: {flood:,} referrals flooded, then {max(200, args.n // 20):,} at 100/s"):
        lifecycle_samples(results, flood, max(200, args.n // 20), args.store)
    with stage("projection lag at 1,000 facts/s"):
        lag_samples(results, args.store)
    with stage("HTTP intake alone"):
        results.add("HTTP intake alone: referrals accepted", "referrals/s", intake_rate(INTAKE_REFERRALS))
    with stage("read side: rebuild and volume queries"):
        read_side.samples(results, seeded)


def write(results: Results, args: argparse.Namespace) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    table = markdown(results)
    document: dict[str, Any] = {
        "bench": "pipeline",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": _cpus()},
        "args": vars(args),
        "results": results.summaries(),
        "ratios": results.ratios(),
        "targets": results.targets(),
        **results.extra,
    }
    (RESULTS_DIR / "bench.json").write_text(json.dumps(document, indent=2) + "\n")
    (RESULTS_DIR / "bench.md").write_text(table + "\n")
    print("\n" + table)
    print(f"\nwritten to {RESULTS_DIR / 'bench.json'} and {RESULTS_DIR / 'bench.md'}")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
