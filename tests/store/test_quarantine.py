"""A fact a follower cannot read or apply is set aside with its reason; the rest of the page goes on.
An error of the infrastructure (a locked database, PostgreSQL gone, a full disk) sets nothing aside."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest
from pydantic import ValidationError

from contracts.events import ReturnVisit
from referral_loop.keys import StoreKeyError
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import Entry, Recorded, read_entries, read_page, settle
from referral_loop.store.ledger import Positioned, ReferralLedger
from referral_loop.store.quarantine import SetAside, caused_by_fact, reason
from tests.support import poison
from tests.support import referrals as make


@pytest.fixture
def ledger(store_settings: Settings) -> Iterator[ReferralLedger]:
    opened = open_ledger(store_settings)
    yield opened
    opened.close()


def test_a_stored_fact_out_of_range_is_read_as_set_aside_with_its_reason(ledger: ReferralLedger) -> None:
    rid = uuid4()
    ledger.record_batch([Positioned(1, make.received(rid))])
    event_id = poison.return_visit(ledger, rid)  # year 0001, as intake accepted before the ranges
    ledger.record_batch([Positioned(2, make.seen(rid))])
    first, bad, last = read_entries(ledger, 0, 10)
    assert isinstance(first, Recorded) and isinstance(last, Recorded)
    assert last.fact.type == "PatientSeen"
    assert isinstance(bad, SetAside)
    assert (bad.position, bad.fact_type, bad.referral_id, bad.event_id) == (
        2,
        "ReturnVisitScheduled",
        str(rid),
        str(event_id),
    )
    assert "data.return_visit_on" in bad.reason and "0001" not in bad.reason
    with pytest.raises(ValidationError):
        read_page(ledger, 0, 10)  # the strict reader (the checker's, tests') still refuses it


class Poisoned(Exception):
    pass


def page_of(*kinds: str) -> list[Entry]:
    """'ok' a good fact, 'bad' one that overflows when applied, 'unreadable' one set aside as read."""
    found: list[Entry] = []
    for n, kind in enumerate(kinds, start=1):
        if kind == "unreadable":
            found.append(SetAside(n, "ReturnVisitScheduled", "failed validation", str(uuid4())))
        else:
            on = "2027-03-01" if kind == "ok" else "0001-01-01"
            found.append(Recorded(n, poison.unvalidated(uuid4(), datetime.fromisoformat(on).date())))
    return found


class Follower:
    """A processor that fails (OverflowError, or `error`) on any page holding a year-0001 visit."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.calls = error, 0
        self.applied: list[int] = []
        self.aside: list[SetAside] = []

    def process(self, facts: Sequence[Recorded], aside: Sequence[SetAside]) -> int:
        self.calls += 1
        for recorded in facts:
            data = recorded.fact.data
            assert isinstance(data, ReturnVisit)
            if data.return_visit_on.year == 1:
                if self.error is not None:
                    raise self.error
                datetime.combine(data.return_visit_on, datetime.min.time(), UTC) - timedelta(hours=48)
        self.applied += [r.position for r in facts]
        self.aside += aside
        return max([*(r.position for r in facts), *(a.position for a in aside)])


def test_exactly_the_facts_that_fail_are_set_aside_and_the_others_applied() -> None:
    follower = Follower()
    page = page_of("ok", "bad", "ok", "unreadable", "ok", "ok", "bad", "ok")
    results = settle(page, follower.process)
    assert sorted(follower.applied) == [1, 3, 5, 6, 8]
    assert [a.position for a in follower.aside] == [2, 4, 7]
    assert results[-1] == 8  # the last part processed moved past the whole page
    overflow = follower.aside[0]
    assert overflow.fact_type == "ReturnVisitScheduled" and overflow.reason.startswith("OverflowError")
    assert overflow.referral_id == str(page[1].fact.referral_id)  # type: ignore[union-attr]


def test_a_page_without_poison_is_processed_once() -> None:
    follower = Follower()
    assert settle(page_of("ok", "unreadable", "ok"), follower.process) == [3]
    assert follower.calls == 1 and follower.applied == [1, 3]


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database is locked"),
        psycopg.OperationalError("the server closed the connection"),
        OSError(28, "No space left on device"),
        StoreKeyError("no store key"),
        Poisoned("an error nobody classified"),
    ],
    ids=["locked", "postgres-gone", "disk-full", "store-key", "unknown"],
)
def test_an_infrastructure_error_sets_nothing_aside_and_is_raised(error: Exception) -> None:
    follower = Follower(error)
    with pytest.raises(type(error)):
        settle(page_of("ok", "bad", "ok"), follower.process)
    assert follower.calls == 1 and follower.aside == [] and follower.applied == []


def test_a_fact_error_raised_while_the_store_failed_is_the_stores() -> None:
    try:
        try:
            raise sqlite3.OperationalError("disk I/O error")
        except sqlite3.OperationalError:
            raise ValueError("raised while handling it") from None
    except ValueError as error:
        assert not caused_by_fact(error)
    chained = ValueError("after the store failed")
    chained.__cause__ = psycopg.OperationalError("the server closed the connection")
    assert not caused_by_fact(chained)
    assert caused_by_fact(OverflowError("date value out of range"))
    assert caused_by_fact(sqlite3.DataError("string or blob too big"))


def test_a_reason_never_quotes_a_value() -> None:
    with pytest.raises(ValidationError) as refused:
        ReturnVisit.model_validate({"return_visit_on": "Ada Lovelace 1815-12-10"})
    why = reason(refused.value)
    assert "return_visit_on" in why and "Ada" not in why and "1815" not in why
    try:
        datetime.fromisoformat("Ada Lovelace")
    except ValueError as error:
        assert reason(error).startswith("ValueError in ") and "Ada" not in reason(error)
    with pytest.raises(ValidationError) as extra:
        ReturnVisit.model_validate({"return_visit_on": "2027-03-01", "note\x00\n": 1})
    assert "\x00" not in reason(extra.value) and "\n" not in reason(
        extra.value
    )  # PostgreSQL text takes no NUL
    try:
        UUID("Lovelace")
    except ValueError as error:
        assert "Lovelace" not in reason(error)
