"""How long `make bench` took: each stage's seconds as it ends, and at the end the stages
repeat by repeat with the run's total (printed, and kept in bench.json and bench.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.report_table import Results


@contextmanager
def stage(results: Results, name: str) -> Iterator[None]:
    """Prints how long the stage took, and keeps it."""
    started = time.monotonic()
    print(f"  {name} ...", flush=True)
    yield
    took = time.monotonic() - started
    results.extra.setdefault("stage_seconds", []).append({"stage": name, "seconds": round(took, 1)})
    print(f"  {name}: {took:.0f} s", flush=True)


def summary(results: Results) -> list[str]:
    """Markdown lines: each stage's seconds (one figure a repeat) and the run's total."""
    by_stage: dict[str, list[str]] = {}
    for timed in results.extra.get("stage_seconds", []):
        by_stage.setdefault(timed["stage"], []).append(f"{timed['seconds']:.0f}")
    lines = ["| stage | seconds (one figure a repeat) |", "|---|---:|"]
    lines += [f"| {name} | {', '.join(seconds)} |" for name, seconds in by_stage.items()]
    return [*lines, "", f"The run took {results.extra.get('run_seconds', 0):.0f} s."]
