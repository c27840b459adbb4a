"""The checker on hand-built histories and truths: each class, the pass criteria, the table,
and the truth read back from a real SQLite store and a directory of .eml files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from uuid import UUID, uuid4

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from reliability.checker import Class, Verdict, check, message_id, summary_table
from reliability.history import History, Outcome
from reliability.truth import Truth, read_truth
from tests.support import referrals as make

DOMAIN = "practice.example"
ACK, REFUSED, UNKNOWN = Outcome.ACKNOWLEDGED, Outcome.REFUSED, Outcome.UNKNOWN


def delivered(truth: Truth, rid: UUID, *kinds: str, copies: int = 1) -> None:
    for kind in kinds:
        truth.emails[message_id(kind, rid, DOMAIN)] += copies


def seen_referral(history: History, truth: Truth, marker: str) -> UUID:
    """An acknowledged referral, seen, with its three letters delivered once: all ok."""
    rid = uuid4()
    history.referral(marker, ACK, rid)
    history.patient_seen(marker, ACK, rid)
    truth.received[marker] = [rid]
    truth.seen[rid] = 1
    truth.facts += 2
    delivered(truth, rid, "acknowledgement", "report", "thank_you")
    return rid


def test_a_clean_run_is_all_ok_and_passes() -> None:
    history, truth = History(), Truth()
    for n in range(3):
        seen_referral(history, truth, f"m{n}")
    verdict = check(history, truth, DOMAIN)
    assert verdict.valid, verdict.problems
    for kind in ("referral", "seen", "acknowledgement", "report", "thank_you"):
        assert verdict.counts[kind] == Counter({Class.OK: 3})
    assert verdict.count("fact", Class.OK) == 6


def test_acknowledged_but_absent_is_lost_and_fails() -> None:
    history, truth = History(), Truth()
    history.referral("gone", ACK, uuid4())
    verdict = check(history, truth, DOMAIN)
    assert verdict.count("referral", Class.LOST) == 1
    assert verdict.count("acknowledgement", Class.LOST) == 1
    assert not verdict.valid
    assert verdict.problems == ["1 referral lost in the store"]


def test_recorded_twice_is_duplicated_and_fails() -> None:
    history, truth = History(), Truth()
    history.referral("twice", ACK, uuid4())
    truth.received["twice"] = [uuid4(), uuid4()]
    truth.facts, truth.repeated_facts = 3, 1
    verdict = check(history, truth, DOMAIN)
    assert verdict.count("referral", Class.DUPLICATED) == 1
    assert verdict.count("fact", Class.DUPLICATED) == 1
    assert "1 referral duplicated in the store" in verdict.problems
    assert "1 fact duplicated in the store" in verdict.problems


def test_never_acknowledged_is_unknown_whatever_the_store_holds() -> None:
    history, truth = History(), Truth()
    history.referral("in", UNKNOWN, uuid4())
    history.referral("out", UNKNOWN, uuid4())
    history.referral("out", REFUSED)  # a refusal after an unanswered attempt stays unknown
    truth.received["in"] = [uuid4()]
    verdict = check(history, truth, DOMAIN)
    assert verdict.counts["referral"] == Counter({Class.UNKNOWN: 2})
    assert verdict.valid


def test_in_the_store_but_never_submitted_or_refused_is_unexpected() -> None:
    history, truth = History(), Truth()
    history.referral("refused", REFUSED)
    history.referral("refused-and-absent", REFUSED)
    truth.received["refused"] = [uuid4()]
    truth.received["stranger"] = [uuid4()]
    truth.unmarked.append(uuid4())
    verdict = check(history, truth, DOMAIN)
    assert verdict.counts["referral"] == Counter({Class.UNEXPECTED: 3, Class.OK: 1})
    assert verdict.problems == ["3 referral unexpected in the store"], (
        "the store holds what nobody was told it got"
    )


def test_a_seen_referral_without_its_report_fails() -> None:
    history, truth = History(), Truth()
    rid = seen_referral(history, truth, "m")
    del truth.emails[message_id("report", rid, DOMAIN)]
    verdict = check(history, truth, DOMAIN)
    assert verdict.count("report", Class.LOST) == 1
    assert verdict.problems == ["1 acknowledged seen without a report"]


def test_a_lost_patient_seen_fails_and_its_unacknowledged_letters_are_unknown() -> None:
    history, truth = History(), Truth()
    rid = seen_referral(history, truth, "m")
    truth.seen[rid] = 0
    history.patient_seen("u", UNKNOWN, uuid4())
    verdict = check(history, truth, DOMAIN)
    assert verdict.count("seen", Class.LOST) == 1
    assert verdict.count("seen", Class.UNKNOWN) == 1
    assert verdict.count("report", Class.UNKNOWN) == 1
    assert "1 seen lost in the store" in verdict.problems


def test_a_letter_twice_fails_unless_feedback_was_killed() -> None:
    history, truth = History(), Truth()
    rid = seen_referral(history, truth, "m")
    delivered(truth, rid, "report")
    verdict = check(history, truth, DOMAIN)
    assert verdict.count("report", Class.DUPLICATED) == 1
    assert verdict.problems == [f"<report.{rid}@{DOMAIN}> delivered 2 times (feedback was never killed)"]
    history.killed("feedback")
    assert check(history, truth, DOMAIN).valid


def test_three_copies_fail_even_when_feedback_was_killed() -> None:
    history, truth = History(), Truth()
    rid = seen_referral(history, truth, "m")
    delivered(truth, rid, "thank_you", copies=2)
    history.killed("feedback")
    verdict = check(history, truth, DOMAIN)
    assert not verdict.valid
    assert "delivered 3 times" in verdict.problems[0]


def test_a_letter_nobody_asked_for_is_unexpected() -> None:
    history, truth = History(), Truth()
    delivered(truth, uuid4(), "report")
    verdict = check(history, truth, DOMAIN)
    assert verdict.count("report", Class.UNEXPECTED) == 1


def test_the_summary_table_shows_counts_and_the_failure() -> None:
    verdict = Verdict()
    verdict.add("referral", Class.OK, 7)
    verdict.add("referral", Class.LOST)
    verdict.problems.append("1 referral lost in the store")
    table = summary_table(verdict)
    assert "| kind | ok | lost | duplicated | unexpected | unknown |" in table
    assert "| referral | 7 | 1 | 0 | 0 | 0 |" in table
    assert "| thank_you | 0 | 0 | 0 | 0 | 0 |" in table
    assert table.endswith("verdict: FAIL\n  - 1 referral lost in the store")


def test_the_truth_is_read_from_the_store_and_the_mail_sink(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    received = make.received(external_reference="m1")
    facts = [received, make.scheduled(received.referral_id), make.seen(received.referral_id)]
    ledger = open_ledger(settings)
    ledger.record_batch([Positioned(i + 1, fact) for i, fact in enumerate(facts)])
    ledger.close()
    settings.mail_dir.mkdir()
    mid = message_id("report", received.referral_id, DOMAIN)
    for n in (1, 2):
        eml = f"Return-Path: <a@b>\r\nMessage-ID: {mid}\r\nSubject: x\r\n\r\nMessage-ID: <body>\r\n"
        (settings.mail_dir / f"{n}.eml").write_bytes(eml.encode())
    truth = read_truth(settings)
    assert truth.received == {"m1": [received.referral_id]}
    assert truth.seen == Counter({received.referral_id: 1})
    assert (truth.facts, truth.repeated_facts, truth.unmarked) == (3, 0, [])
    assert truth.emails == Counter({mid: 2})
