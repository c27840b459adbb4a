"""A poison fact no longer stops feedback: it is set aside with its reason in feedback's store, ops
get one email about it (never a second, across a restart), and the next referral is acknowledged.
A locked store sets nothing aside."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from launcher.mailsink import MailSink
from referral_loop.ops.metrics import Metrics
from referral_loop.settings import Settings
from referral_loop.store import config
from referral_loop.store.config import open_ledger
from referral_loop.store.follower import Recorded, settle
from services.feedback.bootstrap import open_feedback_ledger
from services.feedback.ledger import FeedbackLedger
from services.feedback.main import feedback_ops
from tests.feedback.harness import Loop, feedback_settings, running_loop
from tests.support import poison
from tests.support import referrals as make
from tests.support.servers import NatsServer

SET_ASIDE = "set aside by feedback"


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as sink:
        yield sink


@pytest.fixture
def ledger(store_settings: Settings) -> Iterator[FeedbackLedger]:
    opened = open_feedback_ledger(store_settings)
    yield opened
    opened.close()


async def test_a_stored_poison_fact_is_set_aside_ops_told_once_and_the_next_referral_acknowledged(
    nats_server: NatsServer, store_settings: Settings, sink: MailSink
) -> None:
    settings = feedback_settings(store_settings, nats_server.url, sink)
    first, after = uuid4(), uuid4()
    async with running_loop(settings, sink) as loop:
        await loop.publish(make.received(first))
        await loop.until(lambda: len(loop.mail("Referral received")) == 1, "the first acknowledgement")
        written = open_ledger(settings)
        try:
            poison.return_visit(written, first)  # a year-0001 visit, as intake took it before the ranges
        finally:
            written.close()
        await loop.publish(make.received(after))
        await loop.until(lambda: len(loop.mail("Referral received")) == 2, "the next acknowledgement")
        await loop.until(lambda: len(loop.mail(SET_ASIDE)) == 1, "the email to ops")
        await check_ops_endpoints(settings, loop)
    [notice] = ops_notices(sink)
    assert notice["To"] == "ops@practice.example"
    text = notice.get_content()
    assert "ReturnVisitScheduled" in text and f"RL-{first.hex[:8].upper()}" in text
    assert "return_visit_on" in text and "0001" not in text and "Lovelace" not in text
    async with running_loop(settings, sink) as again:
        await again.settle()
        assert again.service.quarantine.count == 1 and not again.service.quarantine.untold
    assert len(ops_notices(sink)) == 1


def ops_notices(sink: MailSink) -> list[EmailMessage]:
    return [m for m in sink.messages() if SET_ASIDE in str(m["Subject"])]


async def check_ops_endpoints(settings: Settings, loop: Loop) -> None:
    """/readyz stays ready and says how many facts were set aside; /metrics counts them."""
    ops = feedback_ops(settings, loop.nc, loop.service, Metrics())
    ready = await ops.readyz()
    assert b'"name": "quarantine", "ok": true, "reason": "", "detail": "1 fact(s) set aside"' in ready.body
    metrics = (await ops.metrics_page()).body.decode()
    assert 'referral_loop_quarantined_facts{follower="feedback"} 1.0' in metrics


def test_a_fact_that_decodes_but_overflows_is_set_aside_and_the_page_decided(ledger: FeedbackLedger) -> None:
    """A visit on 0001-01-01 after the consult: the report's due time overflows. The page fails
    whole, then in parts: the facts before and after it are decided, their cases left as recorded."""
    a, b = uuid4(), uuid4()
    page = [
        Recorded(1, make.received(a)),
        Recorded(2, make.seen(a)),
        Recorded(3, poison.unvalidated(a, date(1, 1, 1))),
        Recorded(4, make.received(b)),
    ]
    settle(page, ledger.process)
    assert ledger.position() == 4
    case = ledger.case(a)
    assert case is not None and case.pending == {"acknowledgement", "report", "thank_you"}
    assert case.return_visit_on != "0001-01-01"
    assert ledger.case(b) is not None
    [entry] = ledger.quarantined()
    assert (entry.position, entry.fact_type, entry.referral_id) == (3, "ReturnVisitScheduled", str(a))
    assert entry.reason.startswith("OverflowError") and entry.told is None


@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)  # a file's lock: SQLite's own
def test_a_locked_store_sets_nothing_aside(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = config._sqlite_env

    def briefly(sqlite_file: Path) -> dict[str, Any]:
        return {**original(sqlite_file), "SQLITE_LOCK_TIMEOUT": "1"}

    monkeypatch.setattr(config, "_sqlite_env", briefly)
    ledger = open_feedback_ledger(store_settings)
    holder = sqlite3.connect(store_settings.feedback_sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    page = [Recorded(1, make.received(uuid4())), Recorded(2, poison.unvalidated(uuid4(), date(1, 1, 1)))]
    try:
        with pytest.raises(Exception, match="locked"):
            settle(page, ledger.process)
        holder.execute("ROLLBACK")
        assert ledger.position() == 0 and ledger.quarantined() == []
    finally:
        holder.close()
        ledger.close()
