"""The email for a letter's rules: no PHI in any header, and the addresses checked. (The sender
writes the message's bytes directly with `wire.py`; tests/support/mail.py builds the same message
with the email package, the reference it is held to.)

From is the practice, To is the referring clinic's report address alone (no display name), the
Subject is the renderer's (cleaned of control characters and encoded words), the Message-ID is
`<letter key.referral_id@practice domain>` so that a resend is recognisable. The failure
classes live here too: building refuses a bad address before anything is sent.
"""

from __future__ import annotations

import unicodedata
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import getaddresses, parseaddr
from uuid import UUID

from email_validator import EmailNotValidError, validate_email

POLICY = SMTP_POLICY.clone(cte_type="7bit")
"""CRLF line ends, and 7-bit output (quoted-printable bodies), whatever the server's extensions."""


class MailFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientFailure(MailFailure):
    """Worth retrying later: the server, the network or our configuration may recover."""


class PermanentFailure(MailFailure):
    """This message to this recipient will never be accepted: resending it is pointless."""


class TlsUnavailable(TransientFailure):
    """TLS was required but the server does not offer it, or the handshake/certificate failed."""


class AuthRejected(TransientFailure):
    """The server refused our credentials (or offers no AUTH): a configuration problem."""


class BadAddress(PermanentFailure):
    """An address is not exactly one valid mailbox."""


def clean_header_text(text: str) -> str:
    """One line of plain text: control/format/separator characters become spaces, runs of
    whitespace one space, and `=?` (the start of an RFC 2047 encoded word) is broken up."""
    spaced = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(spaced.split()).replace("=?", "= ?")


def recipient_address(value: str) -> str:
    """`value` as one valid ASCII address, no display name; else BadAddress (no address in it)."""
    if parseaddr(value) != ("", value):
        raise BadAddress("recipient is not a single bare address")
    try:
        valid = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise BadAddress("recipient is not a valid address") from None
    if valid.ascii_email is None:
        raise BadAddress("recipient address needs SMTPUTF8, which is not supported")
    return valid.ascii_email


def practice_address(value: str) -> str:
    """The practice's configured address; special-use domains (.invalid, .test) are allowed."""
    local, _, domain = value.rpartition("@")
    labels = domain.split(".")
    if parseaddr(value) != ("", value) or not local or not all(_ascii_label(label) for label in labels):
        raise BadAddress("the practice's email address is not a valid address")
    return value


def _ascii_label(label: str) -> bool:
    return bool(label) and label.isascii() and all(ch.isalnum() or ch == "-" for ch in label)


def message_id(key: str, referral_id: UUID, sender: str) -> str:
    """Deterministic per (referral, letter): a resend carries the same Message-ID."""
    return f"<{key}.{referral_id}@{sender.rpartition('@')[2]}>"


def envelope(msg: EmailMessage) -> tuple[str, str]:
    """(sender, recipient) from From and To: exactly one of each; Cc and Bcc are refused."""
    senders = getaddresses(msg.get_all("From", []))
    recipients = getaddresses(msg.get_all("To", []))
    if len(senders) != 1 or len(recipients) != 1 or "Cc" in msg or "Bcc" in msg:
        raise BadAddress("a message goes from one address to one address, no Cc or Bcc")
    return practice_address(senders[0][1]), recipient_address(recipients[0][1])
