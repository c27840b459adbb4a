"""The NATS permissions and the AsyncAPI document say the same thing about who publishes which
fact, because both derive from contracts.events.PUBLISHED_BY: a service may publish exactly the
facts the list gives it, and the document names that service on each fact's channel."""

from __future__ import annotations

import pytest

from contracts import bus
from contracts.asyncapi import PUBLISHER_NAMES, asyncapi_document
from contracts.events import FACT_TYPES, PUBLISHED_BY, Publisher, type_name
from referral_loop.messaging import nats_auth
from referral_loop.messaging.nats_auth import ADMIN, FEEDBACK, INTAKE, ROLE_OF, SERVICES

FACT_SUBJECTS = {bus.subject_for(t) for t in FACT_TYPES}


@pytest.mark.parametrize("role", SERVICES)
def test_a_service_may_publish_exactly_the_facts_the_list_gives_it(role: str) -> None:
    allowed = set(nats_auth.publish_allowed(role)) & FACT_SUBJECTS
    listed = {bus.subject_for(type_name(c)) for c, p in PUBLISHED_BY.items() if ROLE_OF[p] == role}
    assert allowed == listed


def test_every_publisher_connects_as_a_role_allowed_to_publish_its_facts() -> None:
    assert ROLE_OF == {
        Publisher.INTAKE: INTAKE,
        Publisher.FEEDBACK: FEEDBACK,
        Publisher.FORGET_PATIENT: ADMIN,
    }
    for fact_class, publisher in PUBLISHED_BY.items():
        allowed = nats_auth.publish_allowed(ROLE_OF[publisher])
        assert bus.subject_for(type_name(fact_class)) in allowed or allowed == [">"], fact_class


def test_no_service_may_announce_that_a_patient_was_forgotten() -> None:
    for role in SERVICES:
        assert bus.subject_for("PatientForgotten") not in nats_auth.publish_allowed(role), role


def test_the_asyncapi_document_names_the_publisher_the_permissions_allow() -> None:
    channels = {c["address"]: c["description"] for c in asyncapi_document()["channels"].values()}
    names = {PUBLISHER_NAMES[publisher]: ROLE_OF[publisher] for publisher in Publisher}
    for subject in FACT_SUBJECTS:
        (role,) = [role for name, role in names.items() if channels[subject].startswith(f"{name} publishes")]
        allowed = nats_auth.publish_allowed(role)
        assert subject in allowed or (role == ADMIN and allowed == [">"]), subject
