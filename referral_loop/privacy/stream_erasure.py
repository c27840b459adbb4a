"""Erasing a patient's facts from the JetStream streams, which keep them in clear on the NATS
server's disk: REFERRALS for 90 days, REFERRALS_DEADLETTER until deleted.

A stream is read once, in order, by an ordered consumer (ephemeral, in memory, no acks); of each
message only whether it is about one of the patient's referrals is decided: a cheap search for
the referral ids' bytes, then the fact's `referral_id` read from the JSON (a message that does
not parse, dead-lettered for it, but names one of the ids counts as theirs). PatientForgotten
facts stay: they hold no PHI and are what the store writer records.

Each message found is deleted with `no_erase: false`: nats-server overwrites it with random
bytes in its file before removing it (a delete with `no_erase: true` only marks it deleted;
nats-py's `delete_msg` sends no `no_erase`, so the server's default, erase, applies: said here
explicitly). In a cluster each replica erases its copy. Deleting messages is the operator's:
every service user is denied `$JS.API.STREAM.MSG.DELETE.>`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from uuid import UUID

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from contracts import bus

SUBJECTS = {bus.STREAM: f"{bus.SUBJECT_PREFIX}.>", bus.DEADLETTER_STREAM: f"{bus.DEADLETTER_PREFIX}.>"}
KEPT = "PatientForgotten"
IDLE_S = 10.0
"""A scan that receives nothing for this long fails."""
PROGRESS_S = 2.0
REQUEST_S = 5.0
Progress = Callable[[str, int, int], None]
"""Told (stream, messages scanned, messages in the stream) every few seconds of a long scan."""


class EraseRefused(Exception):
    """nats-server did not erase a message: not the operator's identity, or it failed."""


@dataclass(frozen=True)
class Found:
    """A scan's result: the sequences of the patient's messages, and how many were scanned."""

    sequences: list[int]
    scanned: int


def about(data: bytes, referral_ids: Collection[str]) -> bool:
    """Whether a message's payload is a fact about one of these referrals (not PatientForgotten)."""
    if not any(rid.encode() in data for rid in referral_ids):
        return False
    try:
        fact = json.loads(data)
    except ValueError:
        return True
    if not isinstance(fact, dict):
        return True
    return fact.get("referral_id") in referral_ids and fact.get("type") != KEPT


async def scan(nc: Client, stream: str, referral_ids: Collection[UUID], progress: Progress) -> Found:
    """The sequences of the messages in `stream` about these referrals, up to its last now."""
    js = nc.jetstream()
    state = (await js.stream_info(stream)).state
    if state.messages == 0:
        return Found([], 0)
    reading = _Reading(stream, {str(rid) for rid in referral_ids}, state.last_seq, state.messages, progress)
    sub = await js.subscribe(
        SUBJECTS[stream],
        stream=stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        cb=reading.take,
    )
    try:
        await reading.finished()
    finally:
        await sub.unsubscribe()
    return Found(reading.found, reading.scanned)


@dataclass
class _Reading:
    """One scan's state, fed message by message (a callback: much faster than `next_msg`)."""

    stream: str
    ids: set[str]
    last_seq: int
    total: int
    progress: Progress
    found: list[int] = field(default_factory=list)
    scanned: int = 0
    told: float = field(default_factory=time.monotonic)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def take(self, msg: Msg) -> None:
        metadata = msg.metadata
        self.scanned += 1
        if about(msg.data, self.ids):
            self.found.append(metadata.sequence.stream)
        if metadata.sequence.stream >= self.last_seq or metadata.num_pending == 0:
            self.done.set()
        if time.monotonic() - self.told > PROGRESS_S:
            self.progress(self.stream, self.scanned, self.total)
            self.told = time.monotonic()

    async def finished(self) -> None:
        """When the last message is read; TimeoutError if none comes for IDLE_S."""
        while not self.done.is_set():
            before = self.scanned
            try:
                await asyncio.wait_for(self.done.wait(), IDLE_S)
            except TimeoutError:
                if self.scanned == before:
                    raise TimeoutError(f"nothing read from {self.stream} for {IDLE_S:g} s") from None


async def erase(nc: Client, stream: str, seq: int) -> bool:
    """Erase one message (overwritten, then removed); False if it was already gone."""
    request = json.dumps({"seq": seq, "no_erase": False}).encode()
    try:
        reply: Msg = await nc.request(f"$JS.API.STREAM.MSG.DELETE.{stream}", request, timeout=REQUEST_S)
    except TimeoutError as error:  # nats-py's TimeoutError is one too; a refused request gets no reply
        raise EraseRefused(f"no answer to erasing {stream} #{seq}: not the operator's nkey?") from error
    failure = json.loads(reply.data).get("error")
    if failure is None:
        return True
    if failure.get("err_code") == 10057:  # JSStreamMsgDeleteFailedF: no message at that sequence
        return False
    raise EraseRefused(f"erasing {stream} #{seq}: {failure.get('description')}")
