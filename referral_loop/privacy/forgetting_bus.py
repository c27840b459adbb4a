"""forget-patient on NATS: the PatientForgotten facts in, the patient's facts out of the streams.

Each PatientForgotten's event id is derived from its referral, so running the command again
publishes the same facts, which JetStream (within its duplicate window) or the store drops.
Messages in REFERRALS are erased only up to the store writer's ack floor: a fact of the patient
that the writer has not settled yet is still needed by the store (its counted parts); it is
reported as left, for the next run. Dead letters were settled when they were parked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID, uuid5

from nats.aio.client import Client
from nats.js.errors import NotFoundError

from contracts import bus
from contracts.envelope import Actor
from contracts.events import Forgetting, PatientForgotten
from referral_loop.messaging.publisher import BusUnavailable, FactPublisher
from referral_loop.privacy.stream_erasure import EraseRefused, Progress, erase, scan

PUBLISH_TIMEOUT_S = 10.0


@dataclass
class BusErasure:
    """What happened on NATS."""

    settled_up_to: int = 0
    erased: dict[str, int] = field(default_factory=dict)
    scanned: int = 0
    left: int = 0
    problems: list[str] = field(default_factory=list)


def forgotten_fact(referral_id: UUID, requested_on: UUID, actor: Actor) -> PatientForgotten:
    """The PatientForgotten of one referral; the same event id every time for that referral."""
    event_id = uuid5(referral_id, "forget-patient:PatientForgotten")
    return PatientForgotten.new(referral_id, Forgetting(requested_on=requested_on), actor, event_id=event_id)


async def publish(nc: Client, facts: Sequence[PatientForgotten], outcome: BusErasure) -> int | None:
    """Publish the facts; the stream sequence of the last, or None if any was not acknowledged."""
    acks = await FactPublisher(nc, timeout_s=PUBLISH_TIMEOUT_S).publish_many(facts)
    done = [ack for ack in acks if not isinstance(ack, BusUnavailable)]
    if len(done) < len(facts):
        outcome.problems.append(f"{len(facts) - len(done)} PatientForgotten facts not acknowledged by NATS")
        return None
    return max((ack.seq for ack in done), default=0)


async def writer_settled(nc: Client, seq: int, wait_s: float) -> int:
    """The store writer's ack floor once it reaches `seq` (everything up to it settled), or
    wherever it is after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        floor = await _ack_floor(nc)
        if floor >= seq or time.monotonic() >= deadline:
            return floor
        await asyncio.sleep(0.1)


async def _ack_floor(nc: Client) -> int:
    try:
        info = await nc.jetstream().consumer_info(bus.STREAM, bus.STORE_WRITER)
    except NotFoundError:
        return 0
    return info.ack_floor.stream_seq if info.ack_floor else 0


async def erase_patient(
    nc: Client, referrals: Sequence[UUID], outcome: BusErasure, progress: Progress
) -> None:
    """Erase the patient's facts from both streams (REFERRALS up to `outcome.settled_up_to`)."""
    await _erase_in(nc, bus.STREAM, referrals, outcome, progress, outcome.settled_up_to)
    await _erase_in(nc, bus.DEADLETTER_STREAM, referrals, outcome, progress, None)
    if outcome.left:
        outcome.problems.append(f"{outcome.left} of their messages not yet settled by the store writer: kept")


async def _erase_in(
    nc: Client,
    stream: str,
    referrals: Sequence[UUID],
    outcome: BusErasure,
    progress: Progress,
    limit: int | None,
) -> None:
    try:
        found = await scan(nc, stream, referrals, progress)
    except NotFoundError:  # no such stream (yet): nothing kept there
        return
    except TimeoutError as error:
        outcome.problems.append(str(error))
        return
    settled = [seq for seq in found.sequences if limit is None or seq <= limit]
    outcome.scanned += found.scanned
    outcome.left += len(found.sequences) - len(settled)
    outcome.erased[stream] = 0
    try:
        for seq in settled:
            outcome.erased[stream] += await erase(nc, stream, seq)
    except EraseRefused as refused:
        outcome.problems.append(str(refused))


async def on_the_bus(
    nc: Client, facts: Sequence[PatientForgotten], wait_s: float, progress: Progress
) -> BusErasure:
    """Publish the facts, give the store writer `wait_s` to record them, erase the patient's
    messages it has settled."""
    outcome = BusErasure()
    last = await publish(nc, facts, outcome)
    outcome.settled_up_to = await writer_settled(nc, last or 0, wait_s)  # not published: as it is
    if last is not None and outcome.settled_up_to < last:
        outcome.problems.append(f"the store writer had not recorded the facts within {wait_s:g} s")
    await erase_patient(nc, [fact.referral_id for fact in facts], outcome, progress)
    return outcome
