"""A role's lease: one holder at a time, free again when its holder goes, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.lease import AdvisoryLease, Lease, lease_for
from referral_loop.store.ledger import ReferralLedger
from tests.support.processes import wait_until


@pytest.fixture
def ledger(store_settings: Settings) -> Iterator[ReferralLedger]:
    opened = open_ledger(store_settings)
    yield opened
    opened.close()


def test_one_holder_at_a_time_and_free_once_it_is_closed(ledger: ReferralLedger) -> None:
    first, second = lease_for(ledger, "feedback"), lease_for(ledger, "feedback")
    try:
        assert first.try_take() and first.still_held()
        assert not second.try_take(), "a second replica cannot lead while the first holds the lease"
        first.close()  # as when its process dies
        # PostgreSQL frees a closed session's advisory locks once its backend has noticed: soon, not at once
        wait_until(second.try_take, timeout=5.0, what="the lease to be free once its holder closed")
    finally:
        second.close()


def test_roles_have_leases_of_their_own(ledger: ReferralLedger) -> None:
    leases: list[Lease] = [lease_for(ledger, role) for role in ("store-writer", "feedback", "projections")]
    try:
        assert all(lease.try_take() for lease in leases)
    finally:
        for lease in leases:
            lease.close()


def test_given_back_it_can_be_taken(ledger: ReferralLedger) -> None:
    first, second = lease_for(ledger, "projections"), lease_for(ledger, "projections")
    try:
        assert first.try_take()
        first.give_back()
        assert second.try_take() and not first.try_take()
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("store_settings", ["postgres"], indirect=True)
def test_a_dropped_session_is_a_lost_lease(ledger: ReferralLedger) -> None:
    lease = lease_for(ledger, "feedback")
    assert isinstance(lease, AdvisoryLease)
    try:
        assert lease.try_take()
        with psycopg.connect(**lease.connect_kwargs, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (lease.conn.info.backend_pid,))
        assert not lease.still_held(), "the holder must learn that its session, and lock, are gone"
        other = lease_for(ledger, "feedback")
        try:
            assert other.try_take(), "the lock went with the session"
        finally:
            other.close()
    finally:
        lease.close()
