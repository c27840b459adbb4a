"""A worker's share of the referrals store: the facts of the referrals whose id falls to it.

A parallel rebuild splits the referrals (not the log) among its workers: every read-model row
but the volume counters belongs to one referral, so the workers' tables merge by adding rows.
A referral falls to worker `index` of `count` when the last byte of its id (the stored event's
originator id) is `index` modulo `count`. The store's SQL filters on it, so a worker neither
fetches nor decodes the others' facts; it reads the store's log in pages as `read_page` does.

The SQL that reads eventsourcing's event table by share is in `referral_loop/store/shares.py`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from referral_loop.store.decoding import stored_topics
from referral_loop.store.follower import Entry, entries
from referral_loop.store.ledger import ReferralLedger
from referral_loop.store.shares import select_share


@dataclass(frozen=True)
class Share:
    index: int
    count: int


class ShareReader:
    """Reads `share`'s facts of these types in pages of up to `limit`, as `follower.read_page`."""

    def __init__(
        self, ledger: ReferralLedger, dialect: str, share: Share, types: Collection[str], limit: int
    ) -> None:
        self.ledger, self.share, self.limit = ledger, share, limit
        self.topics = stored_topics(frozenset(types))
        self.postgres = dialect == "postgres"

    def page(self, after: int, through: int) -> list[Entry]:
        """The share's next facts recorded after position `after`, up to `through`, in order (those
        that cannot be read as entries set aside)."""
        params = [after + 1, through, self.topics, self.share.count, self.share.index, self.limit]
        return entries(self.ledger, select_share(self.ledger.recorder, self.postgres, params))
