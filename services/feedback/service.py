"""The feedback service's loops: follow the store, send what is due, announce, watch deadlines.

Every decision is recorded in feedback's store before anything is sent; a send is recorded
right after the SMTP server accepts it, so a crash in between sends it at most once more.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from contracts import fact_from_dict
from referral_loop.publisher import BusUnavailable, FactPublisher
from referral_loop.store.follower import StoreFollower
from referral_loop.store.ledger import ReferralLedger
from services.feedback import commands
from services.feedback.case import FeedbackCase
from services.feedback.clock import Clock
from services.feedback.drafting import NoAddress, letter_for
from services.feedback.ledger import FeedbackLedger
from services.feedback.letters import Letter, Practice, reference
from services.feedback.mailer import SmtpMailer
from services.feedback.message import BadAddress, PermanentFailure, TransientFailure, build_message
from services.feedback.outbox import Item, Outbox
from services.feedback.rendering import Renderer

log = logging.getLogger(__name__)


@dataclass
class Parts:
    referrals: ReferralLedger
    ledger: FeedbackLedger
    mailer: SmtpMailer
    renderer: Renderer
    publisher: FactPublisher
    practice: Practice
    clock: Clock


class FeedbackService:
    def __init__(self, parts: Parts, batch: int = 50, tick_s: float = 0.05) -> None:
        self.parts, self.batch, self.tick_s = parts, batch, tick_s
        self.outbox = Outbox()
        self.follower = StoreFollower(parts.referrals, parts.ledger.process, parts.ledger.position)
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        for case in await asyncio.to_thread(self.parts.ledger.open_cases):
            self.outbox.track(case, self.parts.clock.now())
        follow = asyncio.create_task(self.follower.run(self.track))
        try:
            while not self.stopping.is_set():
                await self.tick()
                await asyncio.sleep(self.tick_s)
        finally:
            self.follower.stopping.set()
            await follow

    def track(self, cases: list[FeedbackCase]) -> None:
        now = self.parts.clock.now()
        for case in cases:
            self.outbox.track(case, now)

    async def tick(self) -> None:
        await self.watch_deadlines()
        await self.send_due()
        await self.announce_due()

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

    async def send_due(self) -> None:
        items = self.outbox.due_sends(self.parts.clock.now(), self.batch)
        if not items:
            return
        for item, draft in await asyncio.to_thread(self.draft, items):
            command = await self.send(item, draft)
            if command is not None:
                self.track(await asyncio.to_thread(self.parts.ledger.change, [(item[0], command)]))

    def draft(self, items: list[Item]) -> list[tuple[Item, Letter | str]]:
        """Letters for these sends, read from the store in one thread hop (a str: why there is none)."""
        drafts: list[tuple[Item, Letter | str]] = []
        for rid, key in items:
            case = self.parts.ledger.case(rid)
            if case is None or key not in case.pending:
                continue
            try:
                drafts.append(((rid, key), letter_for(case, key, self.parts.practice)))
            except NoAddress as error:
                drafts.append(((rid, key), str(error)))
        return drafts

    async def send(self, item: Item, draft: Letter | str) -> commands.Command | None:
        """Send one letter; the command that records the outcome (recorded at once, so a crash
        after the server accepted it resends only this one)."""
        now = self.parts.clock.now()
        if isinstance(draft, str):
            return commands.failed(item[1], draft, now)
        try:
            message = build_message(self.parts.renderer.render(draft), draft, self.parts.practice)
            await self.parts.mailer.send(message)
        except TransientFailure as error:
            log.warning("send of %s for %s failed, will retry: %s", item[1], reference(item[0]), error)
            self.outbox.send_failed(item, now)
            return None
        except (PermanentFailure, BadAddress) as error:
            log.warning("send of %s for %s failed for good: %s", item[1], reference(item[0]), error)
            return commands.failed(item[1], str(error), now)
        return commands.sent(item[1], str(message["Message-ID"]), now)

    async def announce_due(self) -> None:
        now = self.parts.clock.now()
        for item, fact in self.outbox.due_announcements(now, self.batch):
            try:
                await self.parts.publisher.publish(fact_from_dict(fact))
            except BusUnavailable:
                self.outbox.announced(item, now, ok=False)
                continue
            self.outbox.announced(item, now, ok=True)
