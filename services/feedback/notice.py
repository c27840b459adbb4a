"""Telling ops, once, about the facts feedback set aside: one email per batch, then recorded.

The email goes to the practice's ops address (where escalations go), from the practice's address,
and names each fact by its store position, type, referral reference and reason: no patient
details. Its Message-ID is derived from the batch's positions, so a resend after a crash (between
the server's acceptance and the record) is recognisable. A transient failure is retried with
backoff; a permanent one is recorded as the outcome and not retried (ops see the entries on
/readyz and /metrics, and in the store, all the same).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID

from services.feedback.letters import Practice, reference
from services.feedback.message import (
    POLICY,
    PermanentFailure,
    TransientFailure,
    clean_header_text,
    message_id,
    practice_address,
    recipient_address,
)
from services.feedback.parts import Parts
from services.feedback.quarantine import QUARANTINE, Quarantine, QuarantinedFact
from services.feedback.wire import Outgoing

log = logging.getLogger(__name__)
MOST = 200
"""Entries named in one email (the rest go in the next)."""


async def tell_ops(parts: Parts, quarantine: Quarantine) -> bool:
    """Email ops about the entries not told yet and record the outcome; whether more are due."""
    now = parts.clock.now()
    entries = quarantine.due(now)[:MOST]
    if not entries:
        return False
    try:
        out = notice(entries, parts.practice)
        await parts.mailer.send(out)
        outcome = out.message_id
    except TransientFailure as error:
        log.warning("telling ops about %d facts set aside failed, will retry: %s", len(entries), error)
        quarantine.later(now)
        return False
    except PermanentFailure as error:
        log.warning("ops cannot be told about %d facts set aside: %s", len(entries), error)
        outcome = f"not sent: {error}"[:200]
    await asyncio.to_thread(parts.ledger.told, [e.id for e in entries], outcome)
    quarantine.told(entries)
    return bool(quarantine.due(now))


def notice(entries: list[QuarantinedFact], practice: Practice) -> Outgoing:
    """The email naming these entries; BadAddress (permanent) if an address is not valid."""
    to, sender = recipient_address(practice.ops_email), practice_address(practice.email)
    first, last = entries[0].position, entries[-1].position
    mid = message_id(f"quarantine-{first}-{last}", QUARANTINE, sender)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=clean_header_text(practice.name), addr_spec=sender)
    msg["To"] = to
    msg["Subject"] = f"Referral Loop: {len(entries)} fact(s) set aside by feedback"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = mid
    msg.set_content(text(entries))
    return Outgoing(sender, to, mid, msg.as_bytes())


def text(entries: list[QuarantinedFact]) -> str:
    lines = [
        "Feedback could not decide on these facts of the referral store and moved past them.",
        "No acknowledgement, report, thank-you or deadline follows from them: check each referral",
        "by hand. The entries stay in feedback's store (see docs/reliability.md, quarantined facts).",
        "",
    ]
    lines += [
        f"- store position {e.position}, {e.fact_type}, {ref(e.referral_id)}: {e.reason}" for e in entries
    ]
    return "\n".join(lines) + "\n"


def ref(referral_id: str | None) -> str:
    """The referral's short reference (no PHI), if the entry names one."""
    try:
        return reference(UUID(referral_id)) if referral_id else "unknown referral"
    except ValueError:
        return "unknown referral"
