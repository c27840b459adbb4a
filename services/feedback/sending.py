"""Sending due letters a batch at a time: drafted, rendered and built in a worker thread, sent at
once over the pool's connections, and the batch's outcomes recorded together in one transaction.

Every send was decided (recorded) before it goes; its outcome is recorded as soon as its batch is
done, so a crash between a server's acceptance and that record resends at most the letters of
that one batch, each once more (with the same Message-ID). Nothing recorded as sent goes again.

Letters are drafted from the cases' PHI opened with the patients' data keys (one lookup per
batch built, in the worker thread); a key found destroyed means the patient was forgotten: no
letter, and the case is recorded as forgotten instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from copy import deepcopy
from uuid import UUID

from services.feedback import commands
from services.feedback.case import FeedbackCase
from services.feedback.drafting import NoAddress, letter_for
from services.feedback.letters import reference
from services.feedback.message import BadAddress, PermanentFailure, TransientFailure
from services.feedback.outbox import Item, Outbox
from services.feedback.parts import Parts
from services.feedback.sealing import Phi, open_phi
from services.feedback.wire import Outgoing, outgoing

log = logging.getLogger(__name__)


class Forgotten:
    """No letter: the patient's data key was destroyed (they were forgotten)."""


FORGOTTEN = Forgotten()
Draft = Outgoing | str | Forgotten
"""The message to send, or why there can be none."""
CHUNK = 8
"""Letters built per thread hop: the first ones go out while the rest are being built."""
Result = commands.Command | None | BaseException
"""What one send gave: the command recording its outcome, nothing (retry later), or an error."""


class Sender:
    def __init__(self, parts: Parts, outbox: Outbox, track: Callable[[list[FeedbackCase]], None]) -> None:
        self.parts, self.outbox, self.track = parts, outbox, track

    async def send_due(self, limit: int) -> int:
        """Send up to `limit` due letters at once and record how each went; how many were due.

        Letters are built a few at a time (reports first), each few sent as soon as built while the
        next are built; the outcomes are recorded once the whole batch is done."""
        items = self.outbox.due_sends(self.parts.clock.now(), limit)
        self.outbox.taken(items)  # no deadline of these reports fires until their outcome is known
        sending: list[tuple[Item, asyncio.Task[commands.Command | None]]] = []
        try:
            for start in range(0, len(items), CHUNK):
                drafts, stale = await asyncio.to_thread(self.prepare, items[start : start + CHUNK])
                self.track(stale)
                sending += [(item, asyncio.create_task(self.send(item, draft))) for item, draft in drafts]
        finally:
            results = await asyncio.gather(*(task for _, task in sending), return_exceptions=True)
            try:
                await self.record([item for item, _ in sending], results)
            finally:
                self.outbox.settled(items)
        return len(items)

    def prepare(self, items: list[Item]) -> tuple[list[tuple[Item, Draft]], list[FeedbackCase]]:
        """The messages for these sends, built from the cases as recorded (in a worker thread);
        and copies of the cases whose sends were done or failed since the outbox last heard."""
        return self.parts.ledger.with_cases(
            {rid for rid, _ in items}, lambda cases: self.drafts(items, cases)
        )

    def drafts(
        self, items: list[Item], cases: dict[UUID, FeedbackCase]
    ) -> tuple[list[tuple[Item, Draft]], list[FeedbackCase]]:
        due = [(rid, key) for rid, key in items if rid in cases and key in cases[rid].pending]
        stale = {rid: deepcopy(cases[rid]) for rid, key in items if rid in cases and (rid, key) not in due}
        phi = open_phi(self.parts.ledger.patient_keys, {rid: cases[rid] for rid, _ in due}.values())
        drafts = [((rid, key), self.build(cases[rid], key, phi[rid])) for rid, key in due]
        return drafts, list(stale.values())

    def build(self, case: FeedbackCase, key: str, phi: Phi | None) -> Draft:
        if phi is None:
            return FORGOTTEN
        practice = self.parts.practice
        try:
            letter = letter_for(case, key, practice, phi)
            return outgoing(self.parts.renderer.render(letter), letter, practice)
        except (NoAddress, BadAddress) as error:
            return str(error)

    async def send(self, item: Item, draft: Draft) -> commands.Command | None:
        """Send one letter; the command recording its outcome (None: it will be retried)."""
        now = self.parts.clock.now()
        if isinstance(draft, Forgotten):
            log.info("%s for %s not sent: the patient was forgotten", item[1], reference(item[0]))
            return commands.forgotten(now)
        if isinstance(draft, str):
            log.warning("%s for %s cannot be sent: %s", item[1], reference(item[0]), draft)
            return commands.failed(item[1], draft, now)
        try:
            await self.parts.mailer.send(draft)
        except TransientFailure as error:
            log.warning("send of %s for %s failed, will retry: %s", item[1], reference(item[0]), error)
            self.outbox.send_failed(item, now)
            return None
        except PermanentFailure as error:
            log.warning("send of %s for %s failed for good: %s", item[1], reference(item[0]), error)
            return commands.failed(item[1], str(error), now)
        return commands.sent(item[1], draft.message_id, now)

    async def record(self, items: Sequence[Item], results: Sequence[Result]) -> None:
        """Record every outcome of the batch in one transaction, then raise what broke a send."""
        done: list[tuple[UUID, commands.Command]] = []
        errors: list[BaseException] = []
        for (rid, _), result in zip(items, results, strict=True):
            if isinstance(result, BaseException):
                errors.append(result)
            elif result is not None:
                done.append((rid, result))
        if done:
            self.track(await asyncio.to_thread(self.parts.ledger.change, done))
        if errors:
            raise errors[0]
