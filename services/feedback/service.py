"""The feedback service's loops: follow the store, send what is due, announce, watch deadlines.

Every decision is recorded in feedback's store before anything is sent; the outcomes of a batch
of sends are recorded right after the batch, so a crash in between resends at most that batch's
letters, each once more. Sending and announcing are loops of their own, each woken at once by new
work; their tick (`tick_s`) is for retries and deadlines. A fact the follower cannot decide on is
set aside (`quarantine.py`) and ops are told once by email (`notice.py`), by a loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from contracts import fact_from_dict
from referral_loop.messaging.publisher import BusUnavailable
from referral_loop.store.follower import Recorded, StoreFollower
from referral_loop.store.quarantine import SetAside
from services.feedback import commands, notice
from services.feedback.case import FeedbackCase
from services.feedback.outbox import Outbox
from services.feedback.parts import Parts
from services.feedback.quarantine import Quarantine, QuarantinedFact
from services.feedback.sending import Sender

__all__ = ["FeedbackService", "Parts"]
BATCH = 50
"""Most sends at once (and announcements published together); a crash resends at most these."""
Decided = tuple[list[FeedbackCase], list[QuarantinedFact]]
"""What a page gave: the cases it changed, and the facts it set aside (copies of the entries)."""


class FeedbackService:
    def __init__(self, parts: Parts, batch: int = BATCH, tick_s: float = 0.05, poll_s: float = 0.01) -> None:
        self.parts, self.batch, self.tick_s = parts, batch, tick_s
        self.outbox, self.quarantine = Outbox(), Quarantine()
        self.follower = StoreFollower(parts.referrals, self.decide, parts.ledger.position, idle_s=poll_s)
        self.sender = Sender(parts, self.outbox, self.track)
        self.stopping = asyncio.Event()
        self.sends_due, self.facts_due, self.ops_due = asyncio.Event(), asyncio.Event(), asyncio.Event()
        """Set when cases with sends (or announcements, or facts set aside) are tracked: that loop
        goes on at once."""
        self.next_watch = 0.0

    async def run(self) -> None:
        for case in await asyncio.to_thread(self.parts.ledger.open_cases):
            self.outbox.track(case, self.parts.clock.now())
        self.quarantine.add(await asyncio.to_thread(self.parts.ledger.quarantined))
        loops = [
            asyncio.create_task(self.follower.run(self.decided)),
            asyncio.create_task(self.keep(self.sends_due, self.send_due)),
            asyncio.create_task(self.keep(self.facts_due, self.announce_and_watch)),
            asyncio.create_task(self.keep(self.ops_due, self.tell_ops)),
        ]
        stop = asyncio.create_task(self.stopping.wait())
        try:
            done, _ = await asyncio.wait([stop, *loops], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a loop that ended with an error ends the service with it
        finally:
            wakes = (self.follower.stopping, self.sends_due, self.facts_due, self.ops_due)
            for event in (self.stopping, *wakes):
                event.set()  # the loops see `stopping` once woken
            await asyncio.gather(stop, *loops, return_exceptions=True)

    async def keep(self, wake: asyncio.Event, work: Callable[[], Awaitable[bool]]) -> None:
        """Do `work` until stopped: again at once if it had more to do or was woken, else after a tick."""
        while not self.stopping.is_set():
            wake.clear()
            if not await work():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.tick_s)

    def decide(self, page: Sequence[Recorded], set_aside: Sequence[SetAside]) -> Decided:
        """Decide on a page (in a worker thread): the follower's `process`."""
        cases = self.parts.ledger.process(page, set_aside)
        return cases, [QuarantinedFact.of(entry) for entry in set_aside]

    def decided(self, result: Decided) -> None:
        cases, aside = result
        self.track(cases)
        if aside:
            self.quarantine.add(aside)
            self.ops_due.set()

    async def tell_ops(self) -> bool:
        """Email ops about facts set aside and not told yet; whether more are due at once."""
        return await notice.tell_ops(self.parts, self.quarantine)

    def track(self, cases: list[FeedbackCase]) -> None:
        now = self.parts.clock.now()
        for case in cases:
            self.outbox.track(case, now)
            if case.pending:
                self.sends_due.set()
            if case.announcing:
                self.facts_due.set()

    async def send_due(self) -> bool:
        """One batch of due sends; whether it was full (more may be due)."""
        return await self.sender.send_due(self.batch) >= self.batch

    async def announce_and_watch(self) -> bool:
        """Report deadlines (at most once a tick), then due announcements; whether a full batch."""
        if time.monotonic() >= self.next_watch:
            self.next_watch = time.monotonic() + self.tick_s
            await self.watch_deadlines()
        return await self.announce_due() >= self.batch

    async def watch_deadlines(self) -> None:
        now, policy = self.parts.clock.now(), self.parts.ledger.deadlines
        due = [
            (rid, commands.deadline(name, now))
            for rid, watch in self.outbox.deadlines.items()
            for name in policy.reached(watch.due_at, now)
            if name not in watch.reached
        ]
        if due:
            self.track(await asyncio.to_thread(self.parts.ledger.change, due))

    async def announce_due(self) -> int:
        """Publish due announcements together, each retried on its own if not taken; how many."""
        now = self.parts.clock.now()
        due = self.outbox.due_announcements(now, self.batch)
        if due:
            results = await self.parts.publisher.publish_many([fact_from_dict(fact) for _, fact in due])
            for (item, _), result in zip(due, results, strict=True):
                self.outbox.announced(item, now, ok=not isinstance(result, BusUnavailable))
        return len(due)
