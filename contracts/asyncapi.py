"""The AsyncAPI document of the referral bus, generated from code with FastStream.

A FastStream NatsBroker is declared here only as a description of who publishes and who
subscribes on which subject, with which fact class as the message schema: each fact goes on
`referrals.<Type>`, published by whom `contracts.events.PUBLISHED_BY` says (intake, feedback or
the operator's forget-patient command; the NATS permissions derive from the same list), the
store writer reads `referrals.>` through its durable consumer, and a fact it can never record
goes to `deadletter.referrals.<Type>`. The broker is never connected; `asyncapi_document()`
renders it with FastStream's AsyncAPI generator.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated, Any

from faststream.nats import JStream, NatsBroker, PullSub
from faststream.specification import AsyncAPI
from pydantic import Field

from contracts import bus
from contracts.envelope import Fact
from contracts.events import FACT_TYPES, PUBLISHED_BY, AnyFact, Publisher, type_name

TITLE = "Referral Loop"
PACKAGE = "referral-loop"
ASYNCAPI_VERSION = "3.0.0"
SERVER_URL = "nats://127.0.0.1:4222"
"""The default of REFERRAL_LOOP_NATS_URL; the document names it only as an example server."""

DESCRIPTION = (
    "Closes the loop between a specialist practice and the offices that refer patients to it. "
    "Every referral fact travels once on NATS JetStream, on its own subject, in one envelope; "
    "the store writer records it in the event store, the record of truth."
)


def _stream(name: str) -> JStream:
    """A stream reference for the document only: streams are declared by contracts.bus."""
    return JStream(name, declare=False)


def _fact_description(fact_type: type[Fact], role: str) -> str:
    """A channel description: who sends the fact there, then the fact class's own docstring."""
    return f"{role} {(fact_type.__doc__ or '').strip()}".strip()


PUBLISHER_NAMES: dict[Publisher, str] = {
    Publisher.INTAKE: "Intake",
    Publisher.FEEDBACK: "Feedback",
    Publisher.FORGET_PATIENT: "The operator's forget-patient command",
}
"""How the document names each publisher of `contracts.events.PUBLISHED_BY`."""


def _declare_publishers(broker: NatsBroker) -> None:
    """Each fact on referrals.<Type>, into the REFERRALS stream, by the publisher the list names."""
    for fact_class, publisher in PUBLISHED_BY.items():
        name = type_name(fact_class)
        broker.publisher(
            bus.subject_for(name),
            stream=_stream(bus.STREAM),
            title=bus.subject_for(name),
            description=_fact_description(
                fact_class,
                f"{PUBLISHER_NAMES[publisher]} publishes a {name} fact (schema_version "
                f"{fact_class.model_fields['schema_version'].default}) into stream {bus.STREAM}.",
            ),
            schema=fact_class,
        )


FactPayload = Annotated[AnyFact, Field(title="AnyFact")]
"""Any fact, told apart by `type`: the store writer's message schema."""


async def record_fact(fact: FactPayload) -> None:
    """Documentation stand-in for the store writer's handler; never called."""


def _declare_store_writer(broker: NatsBroker) -> None:
    """The store writer's durable pull consumer on referrals.> (every fact type)."""
    broker.subscriber(
        f"{bus.SUBJECT_PREFIX}.>",
        stream=_stream(bus.STREAM),
        durable=bus.STORE_WRITER,
        pull_sub=PullSub(batch_size=1),
        title=bus.STORE_WRITER,
        description=(
            f"The store writer reads every fact from stream {bus.STREAM} through its durable "
            f"pull consumer `{bus.STORE_WRITER}` (explicit acks) and records it in the event "
            "store, deduplicated by event_id; a fact it can never record is dead-lettered."
        ),
    )(record_fact)


def _declare_deadletter(broker: NatsBroker) -> None:
    """The store writer dead-letters a fact it can never record, with the reason in a header."""
    for name, fact_type in FACT_TYPES.items():
        subject = bus.deadletter_subject(bus.subject_for(name))
        broker.publisher(
            subject,
            stream=_stream(bus.DEADLETTER_STREAM),
            title=subject,
            description=(
                f"The store writer moves a message from {bus.subject_for(name)} that it can "
                f"never record here, unchanged, into stream {bus.DEADLETTER_STREAM}; header "
                f"{bus.REASON_HEADER} says why. It is usually, but not always, a valid {name}."
            ),
            schema=fact_type,
        )


def build_broker() -> NatsBroker:
    """A NatsBroker carrying every publisher and subscriber of the referral bus; never connected."""
    broker = NatsBroker(SERVER_URL, description="NATS JetStream")
    _declare_publishers(broker)
    _declare_store_writer(broker)
    _declare_deadletter(broker)
    return broker


def build_asyncapi() -> AsyncAPI:
    """FastStream's AsyncAPI factory over the bus broker, titled and versioned from the package."""
    return AsyncAPI(
        build_broker(),
        title=TITLE,
        version=version(PACKAGE),
        description=DESCRIPTION,
        schema_version=ASYNCAPI_VERSION,
    )


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document as a JSON-compatible dict."""
    document: dict[str, Any] = build_asyncapi().to_specification().to_jsonable()
    return document
