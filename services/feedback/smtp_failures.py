"""What an SMTP (or socket) error means for the message being sent: permanent or transient, with
a short reason (the SMTP stage, code and server text; never message content). See `mailer.py`."""

from __future__ import annotations

import ssl

import aiosmtplib
from aiosmtplib import SMTPDataError, SMTPException, SMTPRecipientsRefused, SMTPResponseException

from services.feedback.message import (
    BadAddress,
    MailFailure,
    PermanentFailure,
    TlsUnavailable,
    TransientFailure,
    clean_header_text,
)

REASON_MAX = 160


def _short(text: str) -> str:
    return clean_header_text(text)[:REASON_MAX]


def classify(exc: Exception) -> MailFailure:
    """The failure an aiosmtplib (or socket) error means for this message."""
    if isinstance(exc, MailFailure):
        return exc
    if isinstance(exc, SMTPRecipientsRefused) and exc.recipients:
        return _by_code("RCPT", exc.recipients[0])
    if isinstance(exc, SMTPDataError):
        return _by_code("DATA", exc)
    if isinstance(exc, ValueError):
        return BadAddress("an envelope address was refused before sending")
    if isinstance(exc, aiosmtplib.SMTPConnectError) and isinstance(exc.__cause__, ssl.SSLError):
        return TlsUnavailable(f"TLS handshake failed: {describe(exc.__cause__)}")
    return TransientFailure(describe(exc))


def describe(exc: BaseException) -> str:
    """A short reason: the error's kind, the SMTP code and the server's text. No message content."""
    if isinstance(exc, SMTPResponseException):
        return f"{type(exc).__name__} {exc.code} {_short(exc.message)}"
    return f"{type(exc).__name__}: {_short(str(exc))}"


def _by_code(stage: str, exc: SMTPResponseException) -> MailFailure:
    reason = f"{stage} {exc.code} {_short(exc.message)}"
    return PermanentFailure(reason) if 500 <= exc.code < 600 else TransientFailure(reason)


SMTP_ERRORS = (SMTPException, OSError, ValueError)
"""What a send can fail with (OSError covers ssl.SSLError and timeouts; ValueError bad addresses)."""
