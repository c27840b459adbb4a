"""The store writer: a durable JetStream pull consumer that records facts in the event store.

Each fetch is one micro-batch and one store transaction (events plus a tracking row per
stream sequence), done off the event loop in a single thread hop. Only then are the
messages acked, so a crash at any point leads to redelivery, and redelivery to no change.
Replicas share the durable consumer and take turns by a lease (`lease.py`): facts keep stream order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from eventsourcing.persistence import PersistenceError
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from contracts import bus
from referral_loop.store.lease import Lease
from referral_loop.store.ledger import Outcome, ReferralLedger, Result
from services.store_writer.lease import holding, writer_lease
from services.store_writer.recording import Batch, retry_delay, verdict

log = logging.getLogger(__name__)
STORE_RETRY_MAX_S = 10.0
ACKED = frozenset({Outcome.RECORDED, Outcome.DUPLICATE})


class StoreWriter:
    def __init__(
        self,
        js: JetStreamContext,
        ledger: ReferralLedger,
        batch_size: int,
        fetch_wait_s: float,
        lease: Lease | None = None,
    ):
        self.js, self.ledger = js, ledger
        self.batch_size, self.fetch_wait_s = batch_size, fetch_wait_s
        self.lease = lease
        """One writer records at a time (`lease.py`); by default the lease of the ledger's store."""
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        """Record while holding the lease; give it back whenever there is nothing to record."""
        sub = await self.js.pull_subscribe_bind(durable=bus.STORE_WRITER, stream=bus.STREAM)
        lease = self.lease if self.lease is not None else await asyncio.to_thread(writer_lease, self.ledger)
        orphans_checked = False
        try:
            while not self.stopping.is_set():
                async with holding(lease, self.stopping) as held:
                    if held and not orphans_checked:
                        orphans_checked = await self.let_orphans_return()
                    if held:
                        await self.drain(sub)
        finally:
            if self.lease is None:
                await asyncio.to_thread(lease.close)

    async def let_orphans_return(self) -> bool:
        """Facts a killed writer fetched and never settled come back only after the ack wait, and
        a later fact about the same referral must not be recorded before them (it could be
        refused, and lost to the dead letters: a booking recorded before its acceptance). So
        when this writer first leads and finds facts held elsewhere, it waits the ack wait out;
        JetStream then hands those back first, in stream order."""
        try:
            info = await self.js.consumer_info(bus.STREAM, bus.STORE_WRITER)
            held, ack_wait = info.num_ack_pending, info.config.ack_wait or bus.ACK_WAIT_S
        except (NatsError, TimeoutError):  # cannot tell: assume some are held
            held, ack_wait = -1, bus.ACK_WAIT_S
        if held:
            log.warning("facts held by a writer gone (%d); waiting %.1f s for them", held, ack_wait + 0.5)
            wait_s = ack_wait + 0.5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), wait_s)
        return True

    async def drain(self, sub: JetStreamContext.PullSubscription) -> None:
        """Fetch the next batch while this one is decoded and recorded (ordered: one at a time),
        until a fetch comes back empty: then every message fetched has been settled."""
        upcoming = asyncio.create_task(self.fetch(sub))
        try:
            while not self.stopping.is_set():
                msgs = await upcoming
                if not msgs:
                    return
                upcoming = asyncio.create_task(self.fetch(sub))
                await self.handle(msgs)
        finally:
            await self.hand_back(upcoming)

    async def fetch(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await sub.fetch(self.batch_size, timeout=self.fetch_wait_s)
        except TimeoutError:
            return []
        except NatsError as error:
            log.warning("fetch failed (%s); NATS may be restarting", type(error).__name__)
            await asyncio.sleep(0.5)
            return []

    @classmethod
    async def hand_back(cls, upcoming: asyncio.Task[list[Msg]]) -> None:
        """On stop, give a prefetched batch straight back to JetStream (not after the ack wait)."""
        await cls.hand_back_now(await upcoming)

    @staticmethod
    async def hand_back_now(msgs: list[Msg]) -> None:
        with contextlib.suppress(NatsError):
            await asyncio.gather(*(msg.nak() for msg in msgs))

    async def handle(self, msgs: list[Msg]) -> None:
        try:
            batch, results = await self.record(msgs)
        except Exception as error:
            await self.isolate(msgs, error)
            return
        for msg, reason in batch.poison:
            await self.dead_letter(msg, reason)
        if results is None:  # stopped before the batch could be recorded: hand it back at once
            await self.hand_back_now([msg for msg, _ in batch.facts] if batch.decoded else msgs)
            return
        await self.settle_all([(msg, results[p.position]) for msg, p in batch.facts])

    async def isolate(self, msgs: list[Msg], error: Exception) -> None:
        """A fact broke the batch with an unexpected error: record one by one, park the culprit."""
        if len(msgs) > 1:
            for msg in msgs:
                await self.handle([msg])
            return
        log.exception("fact could not be recorded", exc_info=error)
        await self.dead_letter(msgs[0], f"could not be recorded: {type(error).__name__}")

    async def record(self, msgs: list[Msg]) -> tuple[Batch, dict[int, Result] | None]:
        """Decode and record in one thread hop; while the store fails, keep the messages ours and retry."""
        batch, delay = Batch(), 0.2
        while not self.stopping.is_set():
            try:
                return batch, await asyncio.to_thread(self._decode_and_record, msgs, batch)
            except PersistenceError as error:
                log.warning("store unavailable (%s); %d facts wait", type(error).__name__, len(msgs))
                await asyncio.gather(*(msg.in_progress() for msg in msgs))
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
        return batch, None

    def _decode_and_record(self, msgs: list[Msg], batch: Batch) -> dict[int, Result]:
        """Blocking: decode (pydantic) off the event loop, then one store transaction."""
        batch.decode(msgs)
        return self.ledger.record_batch(batch.positioned()) if batch.facts else {}

    async def settle_all(self, settled: list[tuple[Msg, Result]]) -> None:
        """Ack what was recorded one after another (an ack is a buffered publish: no task per
        message); retries and dead letters, which may wait for answers, concurrently."""
        for msg, result in settled:
            if result.outcome in ACKED:
                await self.settle(msg, result)
        await asyncio.gather(*(self.settle(msg, r) for msg, r in settled if r.outcome not in ACKED))

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
