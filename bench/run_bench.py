"""`make bench`: the whole pipeline against the ceilings of its parts, measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/run_bench.py [--n 10000] [--repeat 3] [--events 1000000]
                                                     [--rebuild-facts 300000] [--store sqlite|postgres]

The N referrals go through the whole lifecycle over the run, N/repeat of them in each repeat's
flood, so every quantity is measured --repeat times and the run fits in ten minutes on 2 cores.
First the read side's stores: one seeded with --events facts and, in the same pass, one with the
first --rebuild-facts of them (SQLite's are cached in bench/results/cache/ for later runs); the
whole store is rebuilt once into the views the volume queries read.
Each repeat measures, on fresh servers and stores in temporary directories:
  1. the ceilings: raw JetStream publish+ack, raw store append, raw SMTP sends;
  2. the store stage: facts published in batches, recorded by the store-writer process;
  3. the lifecycle through the real stack (intake, store writer, feedback, projections, NATS,
     a mail sink): a flood of N/repeat referrals, then N/20 referrals at 100/s whose
     PatientSeen then come at 100/s (100 reports/s);
     and intake: referrals posted as fast as it answers, with only NATS and the store writer
     running (one intake process, then two), then on the whole stack;
  4. projection lag with facts recorded at a steady 1,000/s (store writer and projections);
  5. the read side: the prefix store rebuilt whole into fresh views (the rebuild's rate) and its
     log read raw (the rebuild's ceiling); volume queries timed on the whole store's views.
Each stage prints how long it took, and the run its total; both go to bench.json too.
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
from datetime import UTC, datetime
from functools import cache
from typing import Any

from bench import ceilings, read_side, timings
from bench.common import RESULTS_DIR, ledger_append_rate, outgoing, received_facts
from bench.intake_rate import ON_ITS_OWN, intake_rate
from bench.lag_stage import lag_run
from bench.lifecycle_bench import Phase, measure
from bench.read_side import ReadSide
from bench.report_table import Results, markdown
from bench.store_stage import stage_rate
from contracts.events import ReferralReceived

WRITER_BATCH = 250
CEILING_MESSAGES = 4000
SMTP_LETTERS = 1000
STORE_STAGE_FACTS = 30_000
"""Long enough that the writer's first batches (caches cold) weigh little in the sustained rate:
10,000 facts measured 12-18% below 30,000, back to back."""
LAG_FACTS = 8000
INTAKE_REFERRALS = 3000


@cache
def facts_of(n: int) -> list[ReferralReceived]:
    """Facts made once for every repeat (each repeat's servers and stores are fresh)."""
    return received_facts(n)


def ceiling_samples(results: Results, store: str) -> None:
    facts = facts_of(CEILING_MESSAGES)
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
        stage_rate(facts_of(STORE_STAGE_FACTS), store),
    )


def lifecycle_samples(results: Results, flood: int, paced: int, store: str) -> None:
    phases = [Phase("flood", flood, None), Phase("100 reports/s", paced, 100.0)]
    found = measure(phases, store)
    flooded, at_100 = (found["phases"][p.name] for p in phases)
    results.add("lifecycle flood: facts recorded", "facts/s", flooded["recorded_facts_per_s"])
    results.add(
        "lifecycle flood: referrals accepted over HTTP", "referrals/s", flooded["http_referrals_per_s"]
    )
    results.add("lifecycle flood: emails accepted by SMTP", "emails/s", flooded["emails_per_s"])
    results.add("lifecycle flood: projection lag p99", "ms", flooded["projection_lag_ms"]["p99"])
    for q in ("p50", "p95", "p99"):
        results.add(f"POST -> recorded {q}, at 100 referrals/s", "ms", at_100["post_to_recorded_ms"][q])
    for q in ("p50", "p95", "p99"):
        results.add(f"PatientSeen -> SMTP accepted {q}, at 100 reports/s", "ms", at_100["seen_to_smtp_ms"][q])
    results.add("achieved report rate", "reports/s", at_100["reports_per_s"])
    for process, rss in found["rss"].items():
        results.add(f"RSS peak: {process}", "MiB", rss["peak_mib"])
        results.add(f"RSS growth, quarter to end: {process}", "MiB", rss["end_mib"] - rss["quarter_mib"])
    results.extra.setdefault("lifecycle_runs", []).append(found)


def lag_samples(results: Results, store: str) -> None:
    found = lag_run(LAG_FACTS, 1000.0, store)
    results.add("projection lag p99, at 1,000 facts/s", "ms", found["projection_lag_ms"]["p99"])
    results.add("projection lag p50, at 1,000 facts/s", "ms", found["projection_lag_ms"]["p50"])
    results.add("achieved rate of the lag stage", "facts/s", found["recorded_facts_per_s"])


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=10_000, help="referrals through the lifecycle, over all repeats"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000, help="facts seeded for the read side")
    parser.add_argument(
        "--rebuild-facts", type=int, default=300_000, help="the first facts of those, rebuilt each repeat"
    )
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    return parser.parse_args()


def main() -> None:
    args, results = arguments(), Results()
    started = time.monotonic()
    stores = f"read side: stores of {args.events:,} facts and of the first {args.rebuild_facts:,}"
    with timings.stage(results, stores):
        side = read_side.prepared(args.events, args.rebuild_facts, args.store)
    results.extra["read_side"] = read_side.extra(side)
    for run in range(1, args.repeat + 1):
        print(f"repeat {run}/{args.repeat}", flush=True)
        one_repeat(results, args, side)
    results.extra["run_seconds"] = round(time.monotonic() - started, 1)
    write(results, args)


def one_repeat(results: Results, args: argparse.Namespace, side: ReadSide) -> None:
    flood, paced = math.ceil(args.n / args.repeat), max(200, args.n // 20)
    with timings.stage(results, "ceilings and the store stage"):
        ceiling_samples(results, args.store)
    with timings.stage(results, f"lifecycle: {flood:,} referrals flooded, then {paced:,} at 100/s"):
        lifecycle_samples(results, flood, paced, args.store)
    with timings.stage(results, "projection lag at 1,000 facts/s"):
        lag_samples(results, args.store)
    with timings.stage(results, "HTTP intake, on its own and in the whole stack"):
        alone = intake_rate(INTAKE_REFERRALS, ON_ITS_OWN)
        results.add("HTTP intake alone (NATS, store writer): referrals accepted", "referrals/s", alone)
        two = intake_rate(INTAKE_REFERRALS, ON_ITS_OWN, workers=2)
        results.add("HTTP intake alone, INTAKE_WORKERS=2: referrals accepted", "referrals/s", two)
        whole = intake_rate(INTAKE_REFERRALS)
        results.add("HTTP intake in the whole stack: referrals accepted", "referrals/s", whole)
    with timings.stage(results, f"read side: rebuild of {side.prefix_facts:,} facts, volume queries"):
        read_side.samples(results, side)


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
    table += "\n\n" + "\n".join([read_side.note(results.extra["read_side"]), "", *timings.summary(results)])
    (RESULTS_DIR / "bench.json").write_text(json.dumps(document, indent=2) + "\n")
    (RESULTS_DIR / "bench.md").write_text(table + "\n")
    print("\n" + table)
    print(f"\nwritten to {RESULTS_DIR / 'bench.json'} and {RESULTS_DIR / 'bench.md'}")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
