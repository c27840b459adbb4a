"""Wiring the feedback service from Settings: stores, mailer, renderer, publisher, practice, clock."""

from __future__ import annotations

from nats.aio.client import Client

from referral_loop.deadlines import deadline_policy
from referral_loop.publisher import FactPublisher
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger, opening, store_env
from services.feedback.clock import Clock, SystemClock
from services.feedback.ledger import FeedbackLedger
from services.feedback.letters import Practice
from services.feedback.mailer import SmtpMailer
from services.feedback.rendering import Renderer
from services.feedback.service import Parts


def practice(settings: Settings) -> Practice:
    return Practice(
        name=settings.practice_name,
        address=settings.practice_address,
        phone=settings.practice_phone,
        email=settings.practice_email,
        ops_email=settings.ops_email,
    )


def open_feedback_ledger(settings: Settings) -> FeedbackLedger:
    env = store_env(settings, FeedbackLedger.name, settings.feedback_sqlite_file)
    return opening(lambda: FeedbackLedger(env, deadline_policy(settings), settings.acknowledge_referrals))


def parts(settings: Settings, nc: Client, clock: Clock | None = None) -> Parts:
    """Everything the service needs (opening the stores blocks: call it off the event loop)."""
    return Parts(
        referrals=open_ledger(settings),
        ledger=open_feedback_ledger(settings),
        mailer=SmtpMailer(settings),
        renderer=Renderer(settings.templates_dir),
        publisher=FactPublisher(nc),
        practice=practice(settings),
        clock=clock or SystemClock(),
    )
