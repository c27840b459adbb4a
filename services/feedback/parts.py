"""What the feedback service is made of: stores, the mailer pool, renderer, publisher, practice, clock."""

from __future__ import annotations

from dataclasses import dataclass

from referral_loop.messaging.publisher import FactPublisher
from referral_loop.store.ledger import ReferralLedger
from services.feedback.clock import Clock
from services.feedback.ledger import FeedbackLedger
from services.feedback.letters import Practice
from services.feedback.pool import MailerPool
from services.feedback.rendering import Renderer


@dataclass
class Parts:
    referrals: ReferralLedger
    ledger: FeedbackLedger
    mailer: MailerPool
    renderer: Renderer
    publisher: FactPublisher
    practice: Practice
    clock: Clock
