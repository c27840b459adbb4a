"""contracts.events writes the fact types out once (`PUBLISHED_BY`, each with who publishes it):
the lookup by type, the union the bus and the store decode with, and the exported schemas all
come from that list, so a fact class left out of it is caught here."""

from __future__ import annotations

from typing import get_args

from contracts import events
from contracts.envelope import Fact
from contracts.events import FACT_TYPES, FACTS, PUBLISHED_BY, AnyFact, Publisher, type_name


def test_every_fact_class_of_the_contracts_is_in_the_one_list() -> None:
    declared = {v for v in vars(events).values() if isinstance(v, type) and issubclass(v, Fact)} - {Fact}
    assert set(FACTS) == declared
    assert len(FACTS) == len(declared) == 17


def test_the_lookup_by_type_and_the_union_are_the_list() -> None:
    assert list(FACT_TYPES.values()) == list(FACTS)
    assert all(type_name(c) == name == c.__name__ for name, c in FACT_TYPES.items())
    union, discriminator = get_args(AnyFact)
    assert get_args(union) == FACTS
    assert discriminator.discriminator == "type"


def test_each_fact_type_has_one_publisher() -> None:
    staff = {"ReferralReceived", "ReferralAccepted", "ReferralDeclined", "ReferralCancelled"}
    staff |= {
        "AppointmentScheduled",
        "AppointmentCancelled",
        "PatientNoShow",
        "PatientSeen",
        "ReturnVisitScheduled",
    }
    feedback = {"AcknowledgementSent", "ReportSent", "ThankYouSent", "FeedbackFailed", "ReportLate"}
    feedback |= {"ReportDueSoon", "ReportOverdue"}
    by = {
        publisher: {type_name(c) for c, p in PUBLISHED_BY.items() if p is publisher}
        for publisher in Publisher
    }
    assert by == {
        Publisher.INTAKE: staff,
        Publisher.FEEDBACK: feedback,
        Publisher.FORGET_PATIENT: {"PatientForgotten"},
    }


def test_the_asyncapi_document_names_each_facts_publisher() -> None:
    from contracts.asyncapi import PUBLISHER_NAMES, asyncapi_document

    channels = asyncapi_document()["channels"]
    for fact_class, publisher in PUBLISHED_BY.items():
        name = type_name(fact_class)
        (channel,) = [c for c in channels.values() if c["address"] == f"referrals.{name}"]
        assert channel["description"].startswith(f"{PUBLISHER_NAMES[publisher]} publishes a {name} fact")
    intake = [c["address"] for c in channels.values() if c["description"].startswith("Intake ")]
    assert not {"referrals.ReportSent", "referrals.ThankYouSent", "referrals.PatientForgotten"} & set(intake)
