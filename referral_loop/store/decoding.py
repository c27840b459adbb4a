"""Decoding the facts the referrals store holds: the same validated Fact, at a fraction of the cost.

A stored event's state is the JSON eventsourcing's JSONTranscoder wrote: the event's attributes
(timestamp, originator topic ...) around `fact`, the fact's contract envelope as plain JSON
(`model_dump(mode="json")`, so no value in it needed a transcoding). The general path rebuilds
the domain event (the JSON parsed with a Python hook called for every object) and validates its
`fact` with contracts. The direct path hands the state's bytes to pydantic-core: one pass in Rust
parses `{"fact": <any fact>, ...}` and validates the fact against the same contracts schema,
every validator included, ignoring the event's other attributes.

`readable_facts` gives, in place of a stored fact that cannot be decoded (it no longer meets its
contract: a value recorded before a range was added), the error it raised, for a follower to set
that fact aside (`store/quarantine.py`); `stored_facts` raises it.

The direct path applies when it reads exactly what the general one would: the mapper's
transcoder is the plain JSONTranscoder (decryption and decompression are applied first, as the
mapper applies them), and the event's class has no upcasting to do (class_version 1).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from contracts import AnyFact, Fact, fact_from_dict
from contracts.forgetting import STORED_CONTEXT
from referral_loop.store.ledger import ReferralLedger
from referral_loop.store.opening import Opened, open_readable
from referral_loop.store.patient_phi import SEALED, sealed_key
from referral_loop.store.quarantine import caused_by_fact
from referral_loop.store.referral import Referral


class _State(TypedDict):
    fact: AnyFact


_STATE = TypeAdapter(_State)
_DIRECT_TOPICS: dict[str, bool] = {}
SEALED_MARK = f'"{SEALED}":{{'.encode()
"""How a state with sealed PHI shows (JSONTranscoder writes no spaces); a free text holding
these bytes merely takes the slower path, which finds no sealed fields and validates as is."""
FORGETTING = ".PatientForgotten"


def stored_facts(ledger: ReferralLedger, stored: Sequence[StoredEvent]) -> list[Opened]:
    """The facts these stored referral events carry, validated by contracts, their PHI opened
    (one key lookup for them all), each with the id of the patient key it was sealed under."""
    readable = readable_facts(ledger, stored)
    for item in readable:
        if isinstance(item, Exception):
            raise item
    return [item for item in readable if not isinstance(item, Exception)]


def readable_facts(ledger: ReferralLedger, stored: Sequence[StoredEvent]) -> list[Opened | Exception]:
    """As `stored_facts`, but a fact that cannot be decoded gives the error it raised, in its
    place; an error of the store or of its keys is raised."""
    if any(s.topic.endswith(FORGETTING) for s in stored):
        ledger.patient_keys.forget_cached()  # a patient was forgotten: no key outlives it here
    decoded = [_decoded(ledger.mapper, s) for s in stored]
    return open_readable(ledger.patient_keys, decoded, owned=True)


def _decoded(mapper: Mapper[UUID], stored: StoredEvent) -> Fact | dict[str, Any] | Exception:
    try:
        return stored_fact(mapper, stored)
    except Exception as error:
        if not caused_by_fact(error):
            raise
        return error


def stored_event_id(mapper: Mapper[UUID], stored: StoredEvent) -> str | None:
    """The event id in a stored fact that cannot be decoded, if its JSON still says it."""
    try:
        state = mapper.cipher.decrypt(stored.state) if mapper.cipher else stored.state
        state = mapper.compressor.decompress(state) if mapper.compressor else state
        return str(json.loads(state)["fact"]["event_id"])
    except Exception:  # anything unreadable: the id is unknown
        return None


def stored_fact(mapper: Mapper[UUID], stored: StoredEvent) -> Fact | dict[str, Any]:
    """The fact a stored referral event carries, validated by contracts; or, if it holds sealed
    PHI, as stored (a dict), for `open_facts` to open."""
    if not direct(mapper, stored.topic):
        return general(mapper, stored)
    state = stored.state
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    if SEALED_MARK in state:
        sealed: dict[str, Any] = json.loads(state)["fact"]
        return sealed
    fact: Fact = _STATE.validate_json(state, context=STORED_CONTEXT)["fact"]
    return fact


def general(mapper: Mapper[UUID], stored: StoredEvent) -> Fact | dict[str, Any]:
    """The domain event as eventsourcing rebuilds it, its fact validated by contracts."""
    event: Any = mapper.to_domain_event(stored)
    return event.fact if sealed_key(event.fact["data"]) else fact_from_dict(event.fact)


@lru_cache
def stored_topics(fact_types: frozenset[str]) -> list[str]:
    """The topics of the stored events that carry facts of these types (sorted)."""
    return sorted(get_topic(getattr(Referral, fact_type)) for fact_type in fact_types)


def direct(mapper: Mapper[UUID], topic: str) -> bool:
    """Whether the state of events of `topic` can go to pydantic as it is stored."""
    if type(mapper.transcoder) is not JSONTranscoder:
        return False
    known = _DIRECT_TOPICS.get(topic)
    if known is None:
        known = _DIRECT_TOPICS[topic] = getattr(resolve_topic(topic), "class_version", 1) == 1
    return known
