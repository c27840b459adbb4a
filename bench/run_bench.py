"""`make bench`: the whole pipeline against the ceilings of its parts, measured in the same run.

    PYTHONPATH=. .venv/bin/python bench/run_bench.py [--n 10000] [--repeat 3] [--events 1000000]
                                                     [--store sqlite|postgres]

Each repeat measures, on fresh servers and stores in temporary directories:
  1. the ceilings: raw JetStream publish+ack, raw store append, raw SMTP sends;
  2. the store stage: facts published in batches, recorded by the store-writer process;
  3. the lifecycle through the real stack (intake, store writer, feedback, projections, NATS,
     a mail sink): a flood of N referrals, then N/5 referrals at 100/s whose PatientSeen then
     come at 100/s (100 reports/s);
     and intake alone: N referrals posted as fast as it answers;
  4. projection lag with facts recorded at a steady 1,000/s (store writer and projections);
  5. the read side: a store seeded with --events facts, rebuilt into the views, then volume
     queries timed on them.
Medians with min-max go to bench/results/bench.json and bench/results/bench.md, with each
stage's ratio to its ceiling and each target met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
from datetime import UTC, datetime
from typing import Any

from bench import ceilings, read_side
from bench.common import RESULTS_DIR, ledger_append_rate, outgoing, received_facts
from bench.intake_rate import intake_rate
from bench.lag_stage import lag_run
from bench.lifecycle_bench import Phase, measure
from bench.report_table import Results, markdown
from bench.store_stage import stage_rate

WRITER_BATCH = 250


def ceiling_samples(results: Results, n: int, store: str) -> None:
    facts = received_facts(n)
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
    results.add("ceiling: SMTP send, 1 connection", "msgs/s", ceilings.smtp_rate(min(n, 2000), 1))
    results.add("ceiling: SMTP send, 4 connections", "msgs/s", ceilings.smtp_rate(min(n, 2000), 4))
    results.add(
        f"store stage: publish_many -> store writer -> {store}",
        "facts/s",
        stage_rate(received_facts(2 * n), store),
    )


def lifecycle_samples(results: Results, n: int, store: str) -> None:
    phases = [Phase("flood", n, None), Phase("100 reports/s", max(500, n // 5), 100.0)]
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


def lag_samples(results: Results, n: int, store: str) -> None:
    found = lag_run(min(2 * n, 20_000), 1000.0, store)
    results.add("projection lag p99, at 1,000 facts/s", "ms", found["projection_lag_ms"]["p99"])
    results.add("projection lag p50, at 1,000 facts/s", "ms", found["projection_lag_ms"]["p50"])
    results.add("achieved rate of the lag stage", "facts/s", found["recorded_facts_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="referrals in the lifecycle flood")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000, help="facts seeded for the read side")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    results = Results()
    seeded = read_side.seeded_store(args.events, args.store)
    for run in range(1, args.repeat + 1):
        print(f"repeat {run}/{args.repeat}", flush=True)
        ceiling_samples(results, args.n, args.store)
        lifecycle_samples(results, args.n, args.store)
        lag_samples(results, args.n, args.store)
        results.add("HTTP intake alone: referrals accepted", "referrals/s", intake_rate(args.n))
        read_side.samples(results, seeded)
    write(results, args)


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
