"""The checker, after Jepsen's queue checker: each referral, PatientSeen and email is ok, lost,
duplicated, unexpected or unknown, and the run passes or fails by the issue's criteria.

- unknown: never acknowledged (whatever the store or the sink holds);
- lost: acknowledged, but absent;
- duplicated: recorded (or delivered) more than once;
- unexpected: present, but never submitted (or refused);
- ok: acknowledged and present once, or refused and absent.

A run passes when nothing is lost or duplicated in the store, every acknowledged seen referral
has its consult report delivered, and an email is duplicated only if feedback (its sender) was
killed during the run, and then at most once (two copies).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from reliability.history import History, Outcome, Submission
from reliability.truth import Truth

SENDER = "feedback"
STORE_KINDS = ("referral", "seen", "fact")
LETTERS = ("acknowledgement", "report", "thank_you")


class Class(StrEnum):
    OK = "ok"
    LOST = "lost"
    DUPLICATED = "duplicated"
    UNEXPECTED = "unexpected"
    UNKNOWN = "unknown"


@dataclass
class Verdict:
    counts: dict[str, Counter[Class]] = field(default_factory=dict)
    """Kind (referral, seen, fact, acknowledgement, report, thank_you) -> class -> how many."""
    problems: list[str] = field(default_factory=list)
    """Why the run fails; empty when it passes."""

    @property
    def valid(self) -> bool:
        return not self.problems

    def count(self, kind: str, cls: Class) -> int:
        return self.counts.get(kind, Counter())[cls]

    def add(self, kind: str, cls: Class, n: int = 1) -> None:
        self.counts.setdefault(kind, Counter())[cls] += n


def check(history: History, truth: Truth, mail_domain: str) -> Verdict:
    verdict = Verdict()
    check_referrals(history, truth, verdict)
    check_seen(history, truth, verdict)
    verdict.add("fact", Class.OK, truth.facts - truth.repeated_facts)
    verdict.add("fact", Class.DUPLICATED, truth.repeated_facts)
    check_letters(history, truth, mail_domain, verdict)
    judge(verdict, allowed_copies=2 if history.was_killed(SENDER) else 1, truth=truth, domain=mail_domain)
    return verdict


def classify(submission: Submission | None, copies: int) -> Class:
    if submission is None:
        return Class.UNEXPECTED
    if copies > 1:
        return Class.DUPLICATED
    outcome = submission.outcome
    if outcome is Outcome.UNKNOWN:
        return Class.UNKNOWN
    if outcome is Outcome.REFUSED:
        return Class.UNEXPECTED if copies else Class.OK
    return Class.OK if copies == 1 else Class.LOST


def check_referrals(history: History, truth: Truth, verdict: Verdict) -> None:
    for marker in history.referrals.keys() | truth.received.keys():
        copies = len(truth.received.get(marker, []))
        verdict.add("referral", classify(history.referrals.get(marker), copies))
    verdict.add("referral", Class.UNEXPECTED, len(truth.unmarked))


def check_seen(history: History, truth: Truth, verdict: Verdict) -> None:
    marked = {marker for marker, ids in truth.received.items() if any(truth.seen[i] for i in ids)}
    for marker in history.seen.keys() | marked:
        copies = sum(truth.seen[i] for i in truth.received.get(marker, []))
        verdict.add("seen", classify(history.seen.get(marker), copies))
    verdict.add("seen", Class.UNEXPECTED, sum(1 for i in truth.unmarked if truth.seen[i]))


def message_id(kind: str, referral_id: UUID, domain: str) -> str:
    """As feedback derives it: one Message-ID per (letter, referral), the same on a resend."""
    return f"<{kind}.{referral_id}@{domain}>"


def check_letters(history: History, truth: Truth, domain: str, verdict: Verdict) -> None:
    """Acknowledgements of acknowledged referrals; reports and thank-yous of acknowledged seen."""
    due = {"acknowledgement": history.referrals, "report": history.seen, "thank_you": history.seen}
    for kind, submissions in due.items():
        expected: set[str] = set()
        for submission in submissions.values():
            if submission.referral_id is None:
                continue
            mid = message_id(kind, submission.referral_id, domain)
            expected.add(mid)
            verdict.add(kind, classify(submission, truth.emails[mid]))
        stray = [m for m in truth.emails if m.startswith(f"<{kind}.") and m not in expected]
        verdict.add(kind, Class.UNEXPECTED, len(stray))


def judge(verdict: Verdict, allowed_copies: int, truth: Truth, domain: str) -> None:
    """The issue's pass criteria, each failure in words."""
    for kind in STORE_KINDS:  # unexpected too: in the store, though refused or never submitted
        for cls in (Class.LOST, Class.DUPLICATED, Class.UNEXPECTED):
            if verdict.count(kind, cls):
                verdict.problems.append(f"{verdict.count(kind, cls)} {kind} {cls.value} in the store")
    if verdict.count("report", Class.LOST):
        verdict.problems.append(f"{verdict.count('report', Class.LOST)} acknowledged seen without a report")
    for mid, copies in truth.emails.items():
        if copies > allowed_copies and mid.endswith(f"@{domain}>"):
            why = "feedback was killed: at most 2" if allowed_copies > 1 else "feedback was never killed"
            verdict.problems.append(f"{mid} delivered {copies} times ({why})")


def summary_table(verdict: Verdict) -> str:
    """Counts per class per kind, as a markdown table, and the verdict."""
    head = "| kind | " + " | ".join(c.value for c in Class) + " |"
    lines = [head, "|---" + "|---:" * len(Class) + "|"]
    for kind in (*STORE_KINDS, *LETTERS):
        row = " | ".join(str(verdict.count(kind, c)) for c in Class)
        lines.append(f"| {kind} | {row} |")
    lines.append("")
    lines.append("verdict: PASS" if verdict.valid else "verdict: FAIL")
    lines.extend(f"  - {problem}" for problem in verdict.problems)
    return "\n".join(lines)
