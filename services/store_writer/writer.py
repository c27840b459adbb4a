"""The store writer: a durable JetStream pull consumer that records facts in the event store.

Each fetch is one micro-batch and one store transaction (events plus a tracking row per
stream sequence), done off the event loop in a single thread hop. Only then are the
messages acked, so a crash at any point leads to redelivery, and redelivery to no change.
"""

from __future__ import annotations

import asyncio
import logging

from eventsourcing.persistence import PersistenceError
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from contracts import bus
from referral_loop.store.ledger import ReferralLedger, Result
from services.store_writer.recording import Batch, retry_delay, verdict

log = logging.getLogger(__name__)
STORE_RETRY_MAX_S = 10.0


class StoreWriter:
    def __init__(self, js: JetStreamContext, ledger: ReferralLedger, batch_size: int, fetch_wait_s: float):
        self.js, self.ledger = js, ledger
        self.batch_size, self.fetch_wait_s = batch_size, fetch_wait_s
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        sub = await self.js.pull_subscribe_bind(durable=bus.STORE_WRITER, stream=bus.STREAM)
        while not self.stopping.is_set():
            try:
                msgs = await sub.fetch(self.batch_size, timeout=self.fetch_wait_s)
            except TimeoutError:
                continue
            except NatsError as error:
                log.warning("fetch failed (%s); NATS may be restarting", type(error).__name__)
                await asyncio.sleep(0.5)
                continue
            await self.handle(msgs)

    async def handle(self, msgs: list[Msg]) -> None:
        batch = Batch.of(msgs)
        for msg, reason in batch.poison:
            await self.dead_letter(msg, reason)
        if not batch.facts:
            return
        try:
            results = await self.record(batch)
        except Exception as error:
            await self.isolate(batch, error)
            return
        if results is not None:
            await asyncio.gather(*(self.settle(msg, results[p.position]) for msg, p in batch.facts))

    async def isolate(self, batch: Batch, error: Exception) -> None:
        """A fact broke the batch with an unexpected error: record one by one, park the culprit."""
        if len(batch.facts) > 1:
            for msg, _ in batch.facts:
                await self.handle([msg])
            return
        log.exception("fact could not be recorded", exc_info=error)
        await self.dead_letter(batch.facts[0][0], f"could not be recorded: {type(error).__name__}")

    async def record(self, batch: Batch) -> dict[int, Result] | None:
        """Record the batch; while the store fails, keep the messages ours and try again."""
        delay = 0.2
        while not self.stopping.is_set():
            try:
                return await asyncio.to_thread(self.ledger.record_batch, batch.positioned())
            except PersistenceError as error:
                log.warning("store unavailable (%s); %d facts wait", type(error).__name__, len(batch.facts))
                await asyncio.gather(*(msg.in_progress() for msg, _ in batch.facts))
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
        return None

    async def settle(self, msg: Msg, result: Result) -> None:
        action, reason = verdict(msg, result)
        if action == "ack":
            await msg.ack()
        elif action == "retry":
            await msg.nak(delay=retry_delay(msg.metadata.num_delivered))
        else:
            await self.dead_letter(msg, reason)

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        """Park a fact that can never be recorded, with its reason; later facts keep flowing."""
        seq = msg.metadata.sequence.stream
        headers = {
            bus.REASON_HEADER: reason,
            "Nats-Msg-Id": f"deadletter-{seq}",
            "Referral-Loop-Stream-Seq": str(seq),
        }
        await self.js.publish(bus.deadletter_subject(msg.subject), msg.data, headers=headers)
        await msg.ack()
        log.warning("dead-lettered stream sequence %d: %s", seq, reason)
