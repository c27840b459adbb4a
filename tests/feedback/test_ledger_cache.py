"""Feedback's cases are cached without copies: a failed change must not leave a half-changed case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from referral_loop.settings import Settings
from referral_loop.store.follower import Recorded
from services.feedback import commands
from services.feedback.bootstrap import open_feedback_ledger
from services.feedback.case import FeedbackCase
from services.feedback.ledger import FeedbackLedger
from tests.support import referrals as make


@pytest.fixture
def ledger(store_settings: Settings) -> Iterator[FeedbackLedger]:
    opened = open_feedback_ledger(store_settings)
    yield opened
    opened.close()


def test_a_change_that_fails_halfway_leaves_the_case_as_recorded(ledger: FeedbackLedger) -> None:
    rid = uuid4()
    ledger.process([Recorded(1, make.received(rid)), Recorded(2, make.seen(rid))])
    before = ledger.case(rid)
    assert before is not None and before.pending
    key = next(iter(before.pending))

    def breaks(case: FeedbackCase) -> None:
        commands.sent(key, "<m@practice.example>", datetime.now(UTC))(case)
        raise RuntimeError("the command fails after changing the case")

    with pytest.raises(RuntimeError):
        ledger.change([(rid, breaks)])
    after = ledger.case(rid)
    assert after is not None and key in after.pending and key not in after.sent
    ledger.change([(rid, commands.sent(key, "<m@practice.example>", datetime.now(UTC)))])
    recorded = ledger.case(rid)
    assert recorded is not None and recorded.sent[key] == "<m@practice.example>"


def test_a_page_after_a_restart_loads_its_cases_in_one_query(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = uuid4(), uuid4()
    first = open_feedback_ledger(store_settings)
    first.process([Recorded(1, make.received(old))])
    first.close()
    ledger = open_feedback_ledger(store_settings)  # nothing cached
    queries: list[set[object]] = []
    select = ledger.recorder.select_events_of  # type: ignore[attr-defined]
    monkeypatch.setattr(
        ledger.recorder, "select_events_of", lambda ids: queries.append(set(ids)) or select(ids)
    )
    try:
        ledger.process([Recorded(2, make.seen(old)), Recorded(3, make.received(new))])
        assert queries == [{old, new}], "one query for the page's cases, the new one's absence included"
        cases = ledger.with_cases({old, new, uuid4()}, dict)
        assert set(cases) == {old, new}, "the recorded cases, absent ones left out"
        assert "report" in cases[old].pending and cases[new].seen_at is None
    finally:
        ledger.close()
