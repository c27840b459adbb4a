"""One micro-batch of JetStream messages, from decoding to ack: what to record, retry or dead-letter."""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.aio.msg import Msg
from pydantic import ValidationError

from contracts import parse_fact
from referral_loop.store.ledger import Outcome, Positioned, Result

UNKNOWN_REFERRAL_ATTEMPTS = 8
"""Deliveries of a fact about a referral the store does not have, before it is dead-lettered."""


@dataclass
class Batch:
    """Messages sorted into those to record and those that can never be (with their reason)."""

    facts: list[tuple[Msg, Positioned]] = field(default_factory=list)
    poison: list[tuple[Msg, str]] = field(default_factory=list)
    decoded: bool = False

    @classmethod
    def of(cls, msgs: list[Msg]) -> Batch:
        batch = cls()
        batch.decode(msgs)
        return batch

    def decode(self, msgs: list[Msg]) -> None:
        """Sort the messages into facts and poison, once (a retried batch is not decoded again)."""
        if self.decoded:
            return
        for msg in msgs:
            try:
                fact = parse_fact(msg.data)
            except ValidationError as error:
                self.poison.append((msg, describe(error)))
                continue
            self.facts.append((msg, Positioned(msg.metadata.sequence.stream, fact)))
        self.decoded = True

    def positioned(self) -> list[Positioned]:
        return [p for _, p in self.facts]


def describe(error: ValidationError) -> str:
    """Why a message is not a valid fact: field paths and messages, never the (PHI) input values."""
    problems = [f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in error.errors()[:5]]
    return "undecodable fact: " + "; ".join(problems)


def retry_delay(num_delivered: int) -> float:
    """Backoff for a fact that cannot be recorded yet: 1, 2, 4 ... seconds, at most 30."""
    return float(min(30, 2 ** max(0, num_delivered - 1)))


def verdict(msg: Msg, result: Result) -> tuple[str, str]:
    """What to do with a message after its batch was recorded: ack, retry, or deadletter (+ reason)."""
    if result.outcome in (Outcome.RECORDED, Outcome.DUPLICATE):
        return "ack", ""
    if result.outcome is Outcome.REJECTED:
        return "deadletter", result.reason
    if msg.metadata.num_delivered >= UNKNOWN_REFERRAL_ATTEMPTS:
        return "deadletter", f"{result.reason} after {msg.metadata.num_delivered} deliveries"
    return "retry", ""
