"""The scale-out topology under load: three clustered nats-servers (streams at replicas 3),
PostgreSQL, two replicas of the store writer, feedback and projections. kill -9 the stream's
leader node, a store writer, and the leading replica of feedback and of projections, one after
another, none restarted: the standbys take over and the checker passes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from reliability.checker import Class, Verdict, check, summary_table
from reliability.client import IntakeClient
from reliability.cluster import Cluster, running_cluster
from reliability.history import History, Outcome
from reliability.load import Load
from reliability.progress import StoreProgress
from reliability.settle import Views, caught_up, settle
from reliability.truth import Truth

ROLES = ("nats", "store-writer", "feedback", "projections")


def victim(cluster: Cluster, role: str, rng: random.Random) -> str:
    """Whom to kill for `role`: the stream leader, a writer at random, the leading replica."""
    if role == "nats":
        return cluster.stream_leader().server_name
    if role == "store-writer":
        return rng.choice(["store-writer-1", "store-writer-2"])
    return cluster.leading_replica(role)


async def kill_each_role(
    cluster: Cluster, history: History, rng: random.Random, say: Callable[[str], None]
) -> list[str]:
    killed = []
    for role in ROLES:
        await asyncio.sleep(rng.uniform(2.0, 4.0))
        name = await asyncio.to_thread(victim, cluster, role, rng)
        say(f"kill -9 {name}")
        await asyncio.to_thread(cluster.kill, name)
        history.killed(role)
        killed.append(name)
    await asyncio.sleep(2.0)
    return killed


async def under_load(cluster: Cluster, seed: int) -> tuple[Verdict, Truth, Views, History, list[str]]:
    settings, history = cluster.settings, History()
    progress, client = StoreProgress(settings), IntakeClient(settings.base_url, cluster.password)
    load = Load(client, progress, history, run_id=f"cluster{seed}", pause_s=0.1)
    stopping = asyncio.Event()
    loading = asyncio.create_task(load.run(3, stopping))
    try:
        killed = await kill_each_role(cluster, history, random.Random(seed), print)
    finally:
        stopping.set()
        await loading
        await client.close()
        progress.close()
    truth, views = await settle(settings, history, 120.0)
    return check(history, truth, settings.practice_email.rpartition("@")[2]), truth, views, history, killed


@pytest.mark.slow
def test_killing_the_stream_leader_and_a_replica_of_each_service_loses_nothing(
    tmp_path: Path, fault_seed: int
) -> None:
    with running_cluster(tmp_path) as cluster:
        verdict, truth, views, history, killed = asyncio.run(under_load(cluster, fault_seed))
        table = summary_table(verdict)
        print(table)
        why = f"seed {fault_seed}, killed {killed}, logs in {tmp_path / 'logs'}\n{table}"
        cluster.check()  # every replica not killed still runs
        assert {cluster.leading_replica(r) for r in ("feedback", "projections")}.isdisjoint(killed), why
    assert verdict.valid, why
    seen = [s for s in history.seen.values() if s.outcome is Outcome.ACKNOWLEDGED]
    assert len(seen) >= 10, why
    reports = verdict.counts["report"]
    assert reports[Class.OK] + reports[Class.DUPLICATED] == len(seen), why
    assert caught_up(views, truth), f"{views} behind {truth.last_position}"
