"""A few SMTP connections used at once, each a `SmtpMailer` (TLS required, reused, failures
classified exactly as there). A send takes an idle connection, the most recently used first, so
light traffic keeps to one connection and only a burst opens the others."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from referral_loop.settings import Settings
from services.feedback.mailer import SmtpMailer
from services.feedback.wire import Outgoing


class MailerPool:
    def __init__(self, mailers: Sequence[SmtpMailer]) -> None:
        if not mailers:
            raise ValueError("a mailer pool needs at least one mailer")
        self.mailers = list(mailers)
        self._idle: asyncio.LifoQueue[SmtpMailer] = asyncio.LifoQueue()
        for mailer in reversed(self.mailers):
            self._idle.put_nowait(mailer)

    @classmethod
    def from_settings(cls, settings: Settings) -> MailerPool:
        return cls([SmtpMailer(settings) for _ in range(settings.smtp_connections)])

    @property
    def connects(self) -> int:
        """How many connections the pool's mailers have opened, all told."""
        return sum(mailer.connects for mailer in self.mailers)

    async def send(self, out: Outgoing) -> None:
        """Send over an idle connection (waiting for one if all are busy); SmtpMailer's failures."""
        mailer = await self._idle.get()
        try:
            await mailer.deliver(out)
        finally:
            self._idle.put_nowait(mailer)

    async def close(self) -> None:
        await asyncio.gather(*(mailer.close() for mailer in self.mailers))
