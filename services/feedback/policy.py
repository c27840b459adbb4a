"""What feedback decides for each fact the referral store recorded: the decide-once rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts import Fact
from contracts.events import PatientSeen, ReferralReceived, ReturnVisitScheduled
from referral_loop.deadlines import DeadlinePolicy
from services.feedback.case import FeedbackCase, OfficeTally, office_key

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

    def apply(self, fact: Fact) -> None:
        if isinstance(fact, ReferralReceived):
            self.open(fact)
            return
        case = self.get(FeedbackCase, fact.referral_id)
        if case is None:
            return
        if isinstance(fact, ReturnVisitScheduled):
            self.return_visit(case, fact)
        elif isinstance(fact, PatientSeen):
            self.seen(case, fact)
        else:
            self.confirm(case, fact)

    def open(self, fact: ReferralReceived) -> None:
        if self.get(FeedbackCase, fact.referral_id) is not None:
            return
        referral = fact.model_dump(mode="json")["data"]
        tally = self.get(OfficeTally, OfficeTally.create_id(office_key(referral))) or OfficeTally(
            office_key(referral)
        )
        tally.count_referral()
        self.touched[tally.id] = tally
        case = FeedbackCase(str(fact.referral_id), referral, fact.occurred_at.isoformat(), tally.count)
        self.touched[case.id] = case
        if self.acknowledge:
            case.request(ACKNOWLEDGEMENT)

    def return_visit(self, case: FeedbackCase, fact: ReturnVisitScheduled) -> None:
        seen = case.seen_at
        due = (
            self.deadlines.report_due(datetime.fromisoformat(seen), fact.data.return_visit_on).isoformat()
            if seen
            else None
        )
        case.note_return_visit(fact.data.return_visit_on.isoformat(), due)

    def seen(self, case: FeedbackCase, fact: PatientSeen) -> None:
        due = self.deadlines.report_due(fact.occurred_at, case.return_visit())
        case.note_seen(fact.occurred_at.isoformat(), fact.data.model_dump(mode="json"), due.isoformat())
        case.request(REPORT)
        case.request(THANK_YOU)

    def confirm(self, case: FeedbackCase, fact: Fact) -> None:
        """A fact we announced reached the store; a send done elsewhere is not done again."""
        case.confirm(str(fact.event_id))
        key = KEY_OF_SENT_FACT.get(fact.type)
        if key is not None:
            case.mark_sent(key, fact.model_dump(mode="json")["data"]["message_id"])
