"""The email for a letter built with the email package: the reference `services.feedback.wire`
is held to (the same headers in the same order, the same bodies), and the messages the mailer's
tests send."""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from services.feedback.letters import Letter, Practice, Rendered
from services.feedback.message import (
    POLICY,
    clean_header_text,
    message_id,
    practice_address,
    recipient_address,
)


def build_message(rendered: Rendered, letter: Letter, practice: Practice) -> EmailMessage:
    """The email for `letter` to letter.to only. Raises BadAddress before building anything."""
    to, sender = recipient_address(letter.to), practice_address(practice.email)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=clean_header_text(practice.name), addr_spec=sender)
    msg["To"] = to
    msg["Reply-To"] = sender
    msg["Subject"] = clean_header_text(rendered.subject)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id(letter.message_key, letter.referral_id, sender)
    msg["X-Referral-Reference"] = clean_header_text(letter.reference)
    msg.set_content(rendered.text)
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html")
    return msg
