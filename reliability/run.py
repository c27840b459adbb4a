"""One run: the load going, the nemesis killing, then the settle and the checker's verdict."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reliability.checker import Verdict, check
from reliability.client import IntakeClient
from reliability.load import Load
from reliability.nemesis import kill_repeatedly
from reliability.progress import StoreProgress
from reliability.settle import Views, settle
from reliability.stack import KillableStack
from reliability.truth import Truth


@dataclass(frozen=True)
class Plan:
    seed: int
    victims: Sequence[str]
    until: Callable[[int], bool]
    """Given the kills so far: stop killing now?"""
    gap_s: tuple[float, float] = (2.0, 5.0)
    """Between one restart and the next kill."""
    workers: int = 3
    pause_s: float = 0.1
    cooldown_s: float = 1.0
    """Load after the last restart, before the load stops."""
    settle_timeout_s: float = 90.0


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    truth: Truth
    views: Views
    kills: int


async def run(stack: KillableStack, plan: Plan, say: Callable[[str], None] = print) -> Result:
    rng = random.Random(plan.seed)  # noqa: S311 (a fault schedule, not a secret)
    settings = stack.settings
    progress = StoreProgress(settings)
    client = IntakeClient(settings.base_url, stack.stack.password)
    load = Load(client, progress, stack.history, run_id=f"run{plan.seed}", pause_s=plan.pause_s)
    stopping = asyncio.Event()
    loading = asyncio.create_task(load.run(plan.workers, stopping))
    try:
        kills = await kill_repeatedly(stack, plan.victims, rng, plan.gap_s, plan.until, say)
        await asyncio.sleep(plan.cooldown_s)
    finally:
        stopping.set()
        await loading
        await client.close()
        progress.close()
    history = stack.history
    say(f"load stopped: {len(history.referrals)} referrals, {history.unanswered()} unanswered attempts")
    truth, views = await settle(settings, history, plan.settle_timeout_s)
    stack.check()  # every process killed came back and is still running
    domain = settings.practice_email.rpartition("@")[2]
    return Result(check(history, truth, domain), truth, views, kills)
