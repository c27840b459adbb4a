"""`make soak`: the whole stack under a steady load of referral lifecycles for N minutes while a
random process is killed (SIGKILL) at random moments and restarted; then the system settles and
the checker judges the run. Prints the checker's table and each process's RSS over time; the exit
code is 1 when the checker fails or the projections did not catch up.

    PYTHONPATH=. .venv/bin/python -m reliability.soak --minutes 10 [--seed N] [--store postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from reliability.checker import summary_table
from reliability.rss import RssSampler
from reliability.run import Plan, Result, run
from reliability.settle import caught_up
from reliability.stack import KILLABLE, killable_stack

GAP_S = (5.0, 30.0)
"""Between a restart and the next kill."""
SETTLE_S = 300.0


def arguments() -> argparse.Namespace:
    found = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    found.add_argument("--minutes", type=float, default=10.0, help="how long the load and the kills go on")
    found.add_argument("--seed", type=int, default=None, help="the fault schedule's seed (default: random)")
    found.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    found.add_argument("--workers", type=int, default=3, help="referral lifecycles in flight")
    found.add_argument("--dir", type=Path, default=None, help="keep the run's data and logs here")
    return found.parse_args()


def soak(root: Path, args: argparse.Namespace, seed: int) -> tuple[Result, RssSampler]:
    began = time.monotonic()
    end = began + args.minutes * 60

    def say(text: str) -> None:
        print(f"[{time.monotonic() - began:7.1f}s] {text}", flush=True)

    until = lambda _: time.monotonic() > end  # noqa: E731
    plan = Plan(seed, KILLABLE, until, gap_s=GAP_S, workers=args.workers, settle_timeout_s=SETTLE_S)
    with killable_stack(root, args.store) as stack:
        say(f"stack up in {root} ({args.store}); pids {stack.pids()}")
        rss = RssSampler(stack.pids)
        rss.start()
        try:
            result = asyncio.run(run(stack, plan, say))
        finally:
            rss.stop()
    return result, rss


def report(result: Result, rss: RssSampler, seed: int) -> bool:
    """Print the checker's table, the projections' position and the RSS table; passed?"""
    views, truth = result.views, result.truth
    ok = result.verdict.valid and caught_up(views, truth)
    print(f"\n{result.kills} kills; {truth.facts} facts in the store\n")
    print(summary_table(result.verdict))
    state = "caught up" if caught_up(views, truth) else "BEHIND"
    print(f"projections: position {views.position} of {truth.last_position}, {state}")
    print(f"\n{rss.table()}\n\nseed {seed}: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    args = arguments()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    print(f"soak: {args.minutes:g} min, store {args.store}, seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        result, rss = soak(args.dir or Path(scratch), args, seed)
    ok = report(result, rss, seed)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
