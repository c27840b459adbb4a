"""What feedback decides for each fact the referral store recorded: the decide-once rules.

Each fact comes with the data key its PHI is sealed under (when it has one): the case keeps the
referral and the summary sealed under it. A PatientForgotten fact, or a key found destroyed,
closes the case for good: no letter about that referral is requested or sent afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts import Fact
from contracts.events import PatientForgotten, PatientSeen, ReferralReceived, ReturnVisitScheduled
from referral_loop.domain.deadlines import DeadlinePolicy
from referral_loop.store.patient_phi import DataKey
from services.feedback.case import FeedbackCase, OfficeTally, office_key
from services.feedback.sealing import REFERRAL, SUMMARY, sealed

ACKNOWLEDGEMENT, REPORT, THANK_YOU = "acknowledgement", "report", "thank_you"
SENT_FACT = {ACKNOWLEDGEMENT: "AcknowledgementSent", REPORT: "ReportSent", THANK_YOU: "ThankYouSent"}
KEY_OF_SENT_FACT = {fact_type: key for key, fact_type in SENT_FACT.items()}

Find = Callable[[type[Any], UUID], Any]


class Decisions:
    """Applies one page of referral facts to the feedback cases they concern."""

    def __init__(self, find: Find, deadlines: DeadlinePolicy, acknowledge: bool) -> None:
        self.find, self.deadlines, self.acknowledge = find, deadlines, acknowledge
        self.touched: dict[UUID, FeedbackCase | OfficeTally] = {}

    def get(self, cls: type[Any], aggregate_id: UUID) -> Any:
        if aggregate_id not in self.touched:
            found = self.find(cls, aggregate_id)
            if found is None:
                return None
            self.touched[aggregate_id] = found
        return self.touched[aggregate_id]

    def apply(self, fact: Fact, key: DataKey | None = None) -> None:
        """Decide on one fact; `key`: the data key its PHI is sealed under, if it has one."""
        if isinstance(fact, ReferralReceived):
            self.open(fact, key)
            return
        case = self.get(FeedbackCase, fact.referral_id)
        if case is None:
            return
        if isinstance(fact, PatientForgotten) or destroyed(key):
            case.forget(fact.occurred_at.isoformat())
        elif isinstance(fact, ReturnVisitScheduled | PatientSeen):
            self.follow_up(case, fact, key)
        else:
            self.confirm(case, fact)

    def open(self, fact: ReferralReceived, key: DataKey | None) -> None:
        if self.get(FeedbackCase, fact.referral_id) is not None:
            return
        referral = fact.model_dump(mode="json")["data"]
        tally = self.get(OfficeTally, OfficeTally.create_id(office_key(referral))) or OfficeTally(
            office_key(referral)
        )
        tally.count_referral()
        self.touched[tally.id] = tally
        kept = sealed(REFERRAL, referral, key, fact.referral_id)
        case = FeedbackCase(str(fact.referral_id), kept, fact.occurred_at.isoformat(), tally.count)
        self.touched[case.id] = case
        if destroyed(key):  # forgotten before feedback caught up: nothing is ever owed
            case.forget(fact.occurred_at.isoformat())
        elif self.acknowledge:
            case.request(ACKNOWLEDGEMENT)

    def follow_up(
        self, case: FeedbackCase, fact: ReturnVisitScheduled | PatientSeen, key: DataKey | None
    ) -> None:
        """A return visit, or the consult itself: nothing to do once the patient is forgotten."""
        if case.forgotten:
            return
        if isinstance(fact, ReturnVisitScheduled):
            self.return_visit(case, fact)
        else:
            self.seen(case, fact, key)

    def return_visit(self, case: FeedbackCase, fact: ReturnVisitScheduled) -> None:
        seen = case.seen_at
        due = (
            self.deadlines.report_due(datetime.fromisoformat(seen), fact.data.return_visit_on).isoformat()
            if seen
            else None
        )
        case.note_return_visit(fact.data.return_visit_on.isoformat(), due)

    def seen(self, case: FeedbackCase, fact: PatientSeen, key: DataKey | None) -> None:
        due = self.deadlines.report_due(fact.occurred_at, case.return_visit())
        summary = sealed(SUMMARY, fact.data.model_dump(mode="json"), key, fact.referral_id)
        case.note_seen(fact.occurred_at.isoformat(), summary, due.isoformat())
        case.request(REPORT)
        case.request(THANK_YOU)

    def confirm(self, case: FeedbackCase, fact: Fact) -> None:
        """A fact we announced reached the store; a send done elsewhere is not done again."""
        case.confirm(str(fact.event_id))
        key = KEY_OF_SENT_FACT.get(fact.type)
        if key is not None:
            case.mark_sent(key, fact.model_dump(mode="json")["data"]["message_id"])


def destroyed(key: DataKey | None) -> bool:
    """The fact's PHI is sealed under a key that no longer exists: its patient was forgotten."""
    return key is not None and key.key is None
