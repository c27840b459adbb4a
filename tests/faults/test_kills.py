"""kill -9 of each process under load, at random moments, twice, each restarted:
afterwards nothing acknowledged is lost or duplicated, every acknowledged seen referral has
its consult report and thank-you delivered (twice at most, and only if feedback was the one
killed), and the projections have caught up with the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reliability.checker import Class, summary_table
from reliability.history import Outcome
from reliability.run import Plan, run
from reliability.settle import caught_up
from reliability.stack import KILLABLE, killable_stack

KILLS = 2
"""Per test: two kills at random moments fit CI; `make soak` kills for ten minutes."""


@pytest.mark.slow
@pytest.mark.parametrize("victim", KILLABLE)
def test_kill_9_under_load_loses_and_duplicates_nothing(victim: str, tmp_path: Path, fault_seed: int) -> None:
    plan = Plan(seed=fault_seed, victims=[victim], until=lambda kills: kills >= KILLS)
    with killable_stack(tmp_path) as stack:
        result = asyncio.run(run(stack, plan))
        history = stack.history
    table = summary_table(result.verdict)
    print(table)
    why = f"seed {fault_seed}, logs in {tmp_path / 'logs'}\n{table}"
    assert result.kills == KILLS and [k.process for k in history.kills] == [victim] * KILLS
    assert result.verdict.valid, why
    assert result.verdict.count("thank_you", Class.LOST) == 0, why
    seen = [s for s in history.seen.values() if s.outcome is Outcome.ACKNOWLEDGED]
    assert len(seen) >= 10, why
    reports = result.verdict.counts["report"]
    assert reports[Class.OK] + reports[Class.DUPLICATED] == len(seen), why
    assert caught_up(result.views, result.truth), f"{result.views} behind {result.truth.last_position}"
