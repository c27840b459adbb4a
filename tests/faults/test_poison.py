"""Poison among good facts: each kind goes to the dead-letter stream with its reason, the good facts
around it keep flowing, and every stream sequence ends up either recorded or dead-lettered, once.

Kinds: bytes that are not JSON, JSON that fails the contract, a fact the lifecycle refuses, a fact
about a referral never received (dead-lettered after its retry budget, 3 deliveries here instead of
8 so the backoff takes 3 s, not 90), and a fact that breaks its batch with an unexpected error
(the batch is recorded one by one and only the culprit is parked).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import nats
import pytest
from nats.aio.client import Client

from contracts import bus
from referral_loop.settings import Settings
from referral_loop.store.config import ledger_env
from referral_loop.store.ledger import UPSTREAM, Positioned, ReferralLedger, Result
from services.store_writer import recording
from tests.support import referrals as make
from tests.support.bus import declare_all, eventually
from tests.support.faults import lifecycle, publish_in_order, store_counts, writer_consumer, writer_task
from tests.support.servers import NatsServer

ATTEMPTS = 3


class BrokenOn(ReferralLedger):
    """A store that fails with an unexpected error whenever a batch holds one given fact."""

    name = ReferralLedger.name
    culprit = ""

    def record_batch(self, batch: Sequence[Positioned]) -> dict[int, Result]:
        if any(str(p.fact.event_id) == self.culprit for p in batch):
            raise RuntimeError("a bug met this fact")
        return super().record_batch(batch)


async def dead_lettered(nc: Client) -> dict[int, tuple[str, str]]:
    """Stream sequence -> (subject, reason) of every dead-lettered message."""
    js = nc.jetstream()
    info = await js.stream_info(bus.DEADLETTER_STREAM)
    letters = {}
    for seq in range(1, info.state.last_seq + 1):
        msg = await js.get_msg(bus.DEADLETTER_STREAM, seq)
        headers = msg.headers or {}
        letters[int(headers["Referral-Loop-Stream-Seq"])] = (str(msg.subject), headers[bus.REASON_HEADER])
    return letters


async def test_poison_is_parked_with_its_reason_while_later_facts_flow(
    nats_server: NatsServer, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "UNKNOWN_REFERRAL_ATTEMPTS", ATTEMPTS)
    settings = store_settings.model_copy(update={"nats_url": nats_server.url})
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await declare_all(js, settings)
    good = [lifecycle() for _ in range(4)]
    cancelled_rid, orphan, culprit = uuid4(), make.accepted(uuid4()), make.received()
    await publish_in_order(js, good[0])
    await js.publish(bus.subject_for("ReferralReceived"), b"\xff not json at all")  # seq 6
    invalid = json.loads(make.received().model_dump_json())
    invalid["data"]["referring_provider"]["npi"] = "1234567890"  # fails the NPI check digit
    await js.publish(bus.subject_for("ReferralReceived"), json.dumps(invalid).encode())  # 7
    await publish_in_order(js, [make.received(cancelled_rid), make.cancelled(cancelled_rid)])  # 8, 9
    await publish_in_order(js, [make.seen(cancelled_rid), orphan, culprit])  # 10, 11, 12
    await publish_in_order(js, [f for facts in good[1:] for f in facts])  # 13 ..

    ledger = await asyncio.to_thread(BrokenOn, ledger_env(settings))
    ledger.culprit = str(culprit.event_id)
    try:
        async with writer_task(js, ledger, batch=10):
            await eventually(lambda: good_recorded(settings, good), 30, "every good fact recorded")
            info = await writer_consumer(js)
            assert info.num_ack_pending, "the later facts went through while the orphan was being retried"
            await until_accounted(nc, ledger)
    finally:
        ledger.close()
    letters = await dead_lettered(nc)
    assert sorted(letters) == [6, 7, 10, 11, 12]
    assert letters[6][1].startswith("undecodable fact: ")
    assert letters[7][1].startswith("undecodable fact: ReferralReceived.data.referring_provider.npi")
    assert "1234567890" not in letters[7][1], "a reason never echoes the input"
    assert letters[10] == (
        "deadletter.referrals.PatientSeen",
        "PatientSeen is not allowed on a referral that is cancelled",
    )
    assert letters[11][1] == f"no referral {orphan.referral_id} in the store yet after {ATTEMPTS} deliveries"
    assert letters[12] == ("deadletter.referrals.ReferralReceived", "could not be recorded: RuntimeError")
    await nc.close()


def good_recorded(settings: Settings, good: list[list[Any]]) -> bool:
    counts = store_counts(settings)
    return all(counts[str(f.event_id)] == 1 for facts in good for f in facts)


async def until_accounted(nc: Client, ledger: ReferralLedger) -> None:
    """Wait until every stream sequence is recorded or dead-lettered, exactly one of the two, and
    the consumer holds nothing unacknowledged: nothing was acked that was not one or the other."""
    js = nc.jetstream()
    last = (await js.stream_info(bus.STREAM)).state.last_seq
    for _ in range(300):
        info = await writer_consumer(js)
        if info.num_ack_pending == 0 and info.num_pending == 0:
            break
        await asyncio.sleep(0.1)
    tracked = ledger.recorder.tracked_positions(UPSTREAM, range(1, last + 1))  # type: ignore[attr-defined]
    parked = set(await dead_lettered(nc))
    assert not tracked & parked
    assert tracked | parked == set(range(1, last + 1))
