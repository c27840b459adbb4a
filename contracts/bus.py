"""NATS JetStream layout: subjects, the streams and the store writer's durable consumer.

Declared here, once, so intake, the store writer, feedback and the tests agree; they are
applied explicitly at start-up because a durable consumer's changed config is not applied
on its own.
"""

from __future__ import annotations

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from contracts.envelope import Fact

STREAM = "REFERRALS"
SUBJECT_PREFIX = "referrals"
DEADLETTER_STREAM = "REFERRALS_DEADLETTER"
DEADLETTER_PREFIX = "deadletter.referrals"
STORE_WRITER = "store-writer"

DUPLICATE_WINDOW_S = 600.0
"""How long JetStream remembers a Nats-Msg-Id; past it the store's own dedupe takes over."""
ACK_WAIT_S = 10.0
MAX_DELIVER = 100
"""A server-side backstop only: the store writer dead-letters a fact it cannot record long before."""

DEADLETTER_MAX_AGE_S = 30 * 24 * 3600.0
"""How long a dead letter is kept by default: long enough for ops to look, not for ever (PHI)."""

REASON_HEADER = "Referral-Loop-Reason"
"""On a dead-lettered message: why it could not be recorded."""


def subject_for(fact_type: str) -> str:
    """The subject a fact of this type is published on, e.g. referrals.ReferralReceived."""
    return f"{SUBJECT_PREFIX}.{fact_type}"


def fact_subject(fact: Fact) -> str:
    return subject_for(fact.type)


def deadletter_subject(subject: str) -> str:
    return f"{DEADLETTER_PREFIX}.{subject.removeprefix(SUBJECT_PREFIX + '.')}"


def referrals_stream(replicas: int = 1) -> StreamConfig:
    """Facts in: kept until the store has them and beyond (the store is the record, this is the way in)."""
    return StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=90 * 24 * 3600.0,
        duplicate_window=DUPLICATE_WINDOW_S,
        num_replicas=replicas,
    )


def deadletter_stream(replicas: int = 1, max_age_s: float = DEADLETTER_MAX_AGE_S) -> StreamConfig:
    """Facts that could never be recorded, each with its reason in a header; they hold PHI, so
    they are kept `max_age_s` (an existing stream is brought to it when it is declared)."""
    return StreamConfig(
        name=DEADLETTER_STREAM,
        subjects=[f"{DEADLETTER_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age_s,
        num_replicas=replicas,
    )


def store_writer_consumer() -> ConsumerConfig:
    """The store writer's durable pull consumer: explicit acks, bounded redelivery."""
    return ConsumerConfig(
        durable_name=STORE_WRITER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT_S,
        max_deliver=MAX_DELIVER,
        max_ack_pending=20_000,
        filter_subject=f"{SUBJECT_PREFIX}.>",
    )
