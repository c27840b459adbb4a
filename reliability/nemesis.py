"""The nemesis: SIGKILL a process at a random moment, leave it down a little, restart it.

All randomness comes from the caller's seeded RNG, so a run's schedule can be replayed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

from reliability.stack import KillableStack

DOWN_S = (0.2, 1.5)
"""How long a killed process stays down before it is restarted."""


async def strike(stack: KillableStack, name: str, rng: random.Random, say: Callable[[str], None]) -> None:
    """Kill `name`, wait, restart it and wait until it answers."""
    down = rng.uniform(*DOWN_S)
    say(f"kill -9 {name} (down {down:.1f}s)")
    await asyncio.to_thread(stack.kill, name)
    await asyncio.sleep(down)
    started = time.monotonic()
    await asyncio.to_thread(stack.restart, name)
    say(f"{name} back in {time.monotonic() - started:.1f}s")


async def kill_repeatedly(
    stack: KillableStack,
    names: Sequence[str],
    rng: random.Random,
    gap_s: tuple[float, float],
    until: Callable[[int], bool],
    say: Callable[[str], None] = print,
) -> int:
    """Strike a random one of `names` after a random gap, until `until(kills so far)`; the count."""
    kills = 0
    while not until(kills):
        await asyncio.sleep(rng.uniform(*gap_s))
        await strike(stack, rng.choice(list(names)), rng, say)
        kills += 1
    return kills
