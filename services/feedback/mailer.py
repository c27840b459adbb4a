"""Sending letters by SMTP over one reused connection (messages are built in `wire.py`,
or `message.py`; what an error means is decided in `smtp_failures.py`).

Failures, each with a `reason` of SMTP stage, code and short server text (never content):
- `PermanentFailure`: a 5xx answer to RCPT or DATA; `BadAddress` (a subclass) for an address
  that is not exactly one valid address, raised before anything is sent.
- `TransientFailure`: everything worth retrying: connection errors, timeouts, 4xx answers, a
  reply lost after DATA (the message may have been delivered: the same Message-ID marks the
  resend), 5xx answers outside RCPT/DATA (EHLO, MAIL FROM: our configuration, not the letter).
  `TlsUnavailable` (STARTTLS not offered, TLS handshake or certificate verification failed) and
  `AuthRejected` (credentials refused) are transient subclasses: configuration or server
  problems, so letters are retried and escalated, never dropped as undeliverable. Nothing is
  sent before TLS (unless smtp_tls is "none") and authentication have succeeded.

Transport security: "starttls" (STARTTLS required: a server that does not offer it gets nothing,
not even MAIL FROM) or "tls" (implicit TLS), the certificate verified against the system CAs or
smtp_ca_file and the host name checked; "none" only to a loopback host (`InsecureTransport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from email.message import EmailMessage
from types import TracebackType
from typing import Self

import aiosmtplib
from aiosmtplib import SMTPException, SMTPRecipientsRefused, SMTPResponseException

from referral_loop.settings import Settings, check_smtp_transport
from services.feedback.message import AuthRejected, MailFailure, TlsUnavailable, envelope
from services.feedback.smtp_failures import SMTP_ERRORS, classify, describe
from services.feedback.wire import Outgoing

IDLE_CHECK_S = 30.0


class InsecureTransport(ValueError):
    """Settings that would send PHI in clear across a network: the mailer refuses to start."""


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificate and host name verification on, TLS 1.2 at least; smtp_ca_file, if set, is the
    trust store (instead of the system CAs). aiosmtplib uses this context as given (its own
    validate_certs applies only to contexts it builds) and checks the name against smtp_host."""
    cafile = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        raise InsecureTransport("the SMTP TLS context must verify certificates and host names")
    return context


def require_secure_transport(settings: Settings) -> None:
    """Refuse smtp_tls 'none' to anything but this machine (Settings checks it too, but a copy made
    with model_copy is not validated again)."""
    try:
        check_smtp_transport(settings.smtp_host, settings.smtp_tls, settings.smtp_plaintext_hosts)
    except ValueError as exc:
        raise InsecureTransport(str(exc)) from None


class SmtpMailer:
    """Sends over one SMTP connection, opened on first use, kept open and reopened when lost.

    Sends are serialised (one mail transaction at a time on the connection). A connection idle
    for more than `idle_check_s` is checked with NOOP before reuse.
    """

    def __init__(self, settings: Settings, *, idle_check_s: float = IDLE_CHECK_S) -> None:
        require_secure_transport(settings)
        self.settings = settings
        self.idle_check_s = idle_check_s
        self.connects = 0
        """How many connections this mailer has opened (one, as long as nothing fails)."""
        self._tls = tls_context(settings) if settings.smtp_tls != "none" else None
        self._smtp: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()

    async def send(self, msg: EmailMessage) -> None:
        """Deliver `msg` to its one To address; MailFailure subclasses on failure."""
        sender, recipient = envelope(msg)
        await self.deliver(Outgoing(sender, recipient, str(msg["Message-ID"]), msg.as_bytes()))

    async def deliver(self, out: Outgoing) -> None:
        """Send an email already built (`wire.outgoing`); MailFailure subclasses on failure."""
        async with self._lock:
            smtp = await self._connection()
            try:
                await smtp.sendmail(out.sender, [out.recipient], out.data)
            except SMTP_ERRORS as exc:
                if not isinstance(exc, SMTPResponseException | SMTPRecipientsRefused):
                    await self._drop()  # the connection's state is unknown: start afresh next time
                raise classify(exc) from exc
            except asyncio.CancelledError:
                smtp.close()  # cancelled mid-transaction: the connection's state is unknown
                raise
            self._last_used = time.monotonic()

    async def _connection(self) -> aiosmtplib.SMTP:
        smtp = self._smtp
        if smtp is not None and smtp.is_connected and await self._alive(smtp):
            return smtp
        await self._drop()
        self._smtp = await self._connect()
        return self._smtp

    async def _alive(self, smtp: aiosmtplib.SMTP) -> bool:
        if time.monotonic() - self._last_used < self.idle_check_s:
            return True
        try:
            await smtp.noop()
        except SMTP_ERRORS:
            return False
        return True

    def _client(self) -> aiosmtplib.SMTP:
        implicit = self.settings.smtp_tls == "tls"
        return aiosmtplib.SMTP(
            hostname=self.settings.smtp_host,
            port=self.settings.smtp_port,
            use_tls=implicit,
            start_tls=False,  # done by _secure, so that its failure is told apart
            tls_context=self._tls if implicit else None,
            timeout=self.settings.smtp_timeout_s,
        )

    async def _connect(self) -> aiosmtplib.SMTP:
        smtp = self._client()
        try:
            await smtp.connect()
            await self._secure(smtp)
            await self._login(smtp)
        except MailFailure:  # TLS or AUTH failed: nothing was sent on this connection
            await self._drop(smtp)
            raise
        except SMTP_ERRORS as exc:
            await self._drop(smtp)
            raise classify(exc) from exc
        self.connects += 1
        self._last_used = time.monotonic()
        return smtp

    async def _secure(self, smtp: aiosmtplib.SMTP) -> None:
        if self.settings.smtp_tls != "starttls":
            return
        try:
            await smtp.starttls(tls_context=self._tls)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            raise
        except (SMTPException, ssl.SSLError) as exc:
            raise TlsUnavailable(f"STARTTLS failed: {describe(exc)}") from exc

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        user = self.settings.smtp_username
        if not user:
            return
        try:
            await smtp.login(user, self.settings.smtp_password.get_secret_value())
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            raise
        except SMTPException as exc:
            raise AuthRejected(f"AUTH failed: {describe(exc)}") from exc

    async def _drop(self, smtp: aiosmtplib.SMTP | None = None) -> None:
        """Close `smtp` (default: the kept connection), letting the loop close its socket."""
        if smtp is None:
            smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()
            await asyncio.sleep(0)  # the transport closes its socket on the next loop iteration

    async def close(self) -> None:
        """QUIT (best effort) and close the connection; the next send opens a new one."""
        async with self._lock:
            smtp = self._smtp
            if smtp is not None and smtp.is_connected:
                with contextlib.suppress(*SMTP_ERRORS):
                    await smtp.quit()
            await self._drop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
