"""Is the SMTP server reachable? Connect (TLS as configured), EHLO, NOOP, QUIT; the answer is
remembered for a few seconds so readiness probes do not hammer the server."""

from __future__ import annotations

import asyncio
import ssl
import time

import aiosmtplib

from referral_loop.ops.checks import Check, Failing
from referral_loop.settings import Settings


class SmtpReachability:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.checked_at = -1e9
        self.failure: str | None = None
        self._lock = asyncio.Lock()

    def check(self) -> Check:
        return Check("smtp", self.probe, timeout_s=self.settings.smtp_timeout_s + 1)

    async def probe(self) -> None:
        async with self._lock:  # probes at once share one connection attempt
            if time.monotonic() - self.checked_at >= self.settings.smtp_check_s:
                self.failure = await self.ask()
                self.checked_at = time.monotonic()
        if self.failure is not None:
            raise Failing(self.failure)

    async def ask(self) -> str | None:
        """None when the server answered; else why not (error type and SMTP code, no content)."""
        s = self.settings
        implicit = s.smtp_tls == "tls"
        context = ssl.create_default_context(cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None)
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=implicit,
            start_tls=False,
            tls_context=context if implicit else None,
            timeout=s.smtp_timeout_s,
        )
        try:
            await smtp.connect()
            if s.smtp_tls == "starttls":
                await smtp.starttls(tls_context=context)
            await smtp.ehlo()
            await smtp.noop()
            await smtp.quit()
        except aiosmtplib.SMTPResponseException as error:
            return f"SMTP {s.smtp_host}:{s.smtp_port} answered {error.code}"
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as error:
            return f"SMTP {s.smtp_host}:{s.smtp_port} unreachable: {type(error).__name__}"
        finally:
            smtp.close()
        return None
