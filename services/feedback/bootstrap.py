"""Wiring the feedback service from Settings: stores, mailer pool, renderer, publisher, practice, clock."""

from __future__ import annotations

from nats.aio.client import Client

from referral_loop.domain.deadlines import deadline_policy
from referral_loop.messaging.publisher import FactPublisher
from referral_loop.ops.metrics import Metrics
from referral_loop.settings import Settings
from referral_loop.store.at_rest import check_key_fits
from referral_loop.store.config import open_ledger, opening, store_env
from referral_loop.store.ledger import ReferralLedger
from services.feedback.clock import Clock, SystemClock
from services.feedback.ledger import FeedbackLedger
from services.feedback.letters import Practice
from services.feedback.message import PermanentFailure, TransientFailure
from services.feedback.parts import Parts
from services.feedback.pool import MailerPool
from services.feedback.rendering import Renderer
from services.feedback.wire import Outgoing


def practice(settings: Settings) -> Practice:
    return Practice(
        name=settings.practice_name,
        address=settings.practice_address,
        phone=settings.practice_phone,
        email=settings.practice_email,
        ops_email=settings.ops_email,
    )


CASE_CACHE = "1000"
"""Recently used cases kept in memory (feedback is its store's only writer, so the cache needs no
fast-forwarding): a case is read several times within seconds (decide, draft, record, confirm)."""


def open_feedback_ledger(settings: Settings, referrals: ReferralLedger | None = None) -> FeedbackLedger:
    """Feedback's store, sealing cases' PHI under the data keys of `referrals` (the referral
    store it follows); without it, the referral store is opened for its keys and closed with it."""
    own = referrals is None
    upstream = open_ledger(settings) if referrals is None else referrals
    try:
        ledger = check_key_fits(opening(lambda: _feedback_ledger(settings, upstream)))
    except BaseException:
        if own:
            upstream.close()
        raise
    if own:
        ledger.on_close.append(upstream.close)
    return ledger


def _feedback_ledger(settings: Settings, referrals: ReferralLedger) -> FeedbackLedger:
    cache = {
        "AGGREGATE_CACHE_MAXSIZE": CASE_CACHE,
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",  # see FeedbackLedger.uncached_on_error
    }
    env = store_env(settings, FeedbackLedger.name, settings.feedback_sqlite_file, **cache)
    policy = deadline_policy(settings)
    return FeedbackLedger(env, policy, settings.acknowledge_referrals, referrals.patient_keys)


class CountingMailerPool(MailerPool):
    """The pool, counting each send by outcome: sent, retry (transient failure), failed (for good)."""

    def count_in(self, metrics: Metrics) -> CountingMailerPool:
        self.sends = metrics.counter(
            "referral_loop_emails", "Emails handed to SMTP, by outcome.", ["outcome"]
        )
        return self

    async def send(self, out: Outgoing) -> None:
        try:
            await super().send(out)
        except PermanentFailure:
            self.sends.labels("failed").inc()
            raise
        except TransientFailure:
            self.sends.labels("retry").inc()
            raise
        self.sends.labels("sent").inc()


def parts(
    settings: Settings, nc: Client, clock: Clock | None = None, metrics: Metrics | None = None
) -> Parts:
    """Everything the service needs (opening the stores blocks: call it off the event loop);
    with `metrics`, the mailer pool counts its sends there."""
    mailer = (
        MailerPool.from_settings(settings)
        if metrics is None
        else CountingMailerPool(MailerPool.from_settings(settings).mailers).count_in(metrics)
    )
    referrals = open_ledger(settings)
    return Parts(
        referrals=referrals,
        ledger=open_feedback_ledger(settings, referrals),
        mailer=mailer,
        renderer=Renderer.from_settings(settings),
        publisher=FactPublisher(nc),
        practice=practice(settings),
        clock=clock or SystemClock(),
    )
