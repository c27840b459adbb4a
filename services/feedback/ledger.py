"""Feedback's own event store: its decisions, committed with the referral-store position they follow.

One thread at a time (a lock): the follower's pages, the sender's reads and records never race.
Recently used cases are cached (`bootstrap.CASE_CACHE`): this process is the store's only writer.
`patient_keys` are the referral store's patients' data keys: cases keep PHI sealed under them.
Facts set aside (`quarantine.py`) are recorded with the decisions and the position past them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from copy import deepcopy
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, Tracking
from eventsourcing.utils import get_topic

from referral_loop.domain.deadlines import DeadlinePolicy
from referral_loop.store.follower import Recorded
from referral_loop.store.loading import load_many
from referral_loop.store.patient_keys import PatientKeys
from referral_loop.store.quarantine import SetAside
from services.feedback.case import FeedbackCase
from services.feedback.policy import Decisions, Find
from services.feedback.quarantine import QuarantinedFact
from services.feedback.sealing import key_of, page_keys

UPSTREAM = "Referrals"
T = TypeVar("T")
_OPENS = {"SendRequested": 1, "AnnouncementDecided": 1, "Sent": -1, "Failed": -1, "AnnouncementConfirmed": -1}


class FeedbackLedger(Application[UUID]):
    name = "Feedback"

    def __init__(
        self, env: dict[str, str], deadlines: DeadlinePolicy, acknowledge: bool, patient_keys: PatientKeys
    ) -> None:
        super().__init__(env)
        self.deadlines, self.acknowledge, self.patient_keys = deadlines, acknowledge, patient_keys
        self.lock = threading.Lock()
        self.on_close: list[Callable[[], None]] = []
        """What closes with this store (a referral store opened for its keys alone)."""

    def close(self) -> None:
        super().close()
        for close in self.on_close:
            close()

    def construct_recorder(self) -> ApplicationRecorder:
        return self.factory.process_recorder()

    def position(self) -> int:
        """The last referral-store position whose decisions are recorded."""
        return self.recorder.max_tracking_id(UPSTREAM) or 0  # type: ignore[attr-defined]

    def process(self, page: Sequence[Recorded], set_aside: Sequence[SetAside] = ()) -> list[FeedbackCase]:
        """Decide for a page of referral facts, record those `set_aside` (facts that could not be
        read or decided on); decisions, entries and the position past all of them in one
        transaction. The page's data keys are read first, in one lookup, outside the lock."""
        keys = page_keys(self.patient_keys, page)
        last = max([*(r.position for r in page), *(a.position for a in set_aside)])
        with self.lock:
            find = self._finder({recorded.fact.referral_id for recorded in page})
            decisions = Decisions(find, self.deadlines, self.acknowledge)
            with self.uncached_on_error(decisions.touched):
                for recorded in page:
                    decisions.apply(recorded.fact, key_of(recorded, keys))
                aside = [QuarantinedFact.of(entry) for entry in set_aside]
                self.save(*decisions.touched.values(), *aside, trackings=[Tracking(UPSTREAM, last)])
        return [a for a in decisions.touched.values() if isinstance(a, FeedbackCase)]

    def quarantined(self) -> list[QuarantinedFact]:
        """Every fact set aside, in store order (one pass over the log's entries of that kind)."""
        topic = get_topic(QuarantinedFact.SetAside)  # type: ignore[attr-defined]
        found: list[QuarantinedFact] = []
        start = 1
        while notes := self.recorder.select_notifications(start, limit=5000, topics=[topic]):
            found += [self.repository.get(UUID(str(note.originator_id))) for note in notes]
            start = notes[-1].id + 1
        return sorted(found, key=lambda entry: entry.position)

    def told(self, entry_ids: Sequence[UUID], outcome: str) -> None:
        """Record that ops were told about these entries (`outcome`: the email's Message-ID, or
        why it could not be sent)."""
        with self.lock:
            entries: dict[UUID, QuarantinedFact] = {i: self.repository.get(i) for i in entry_ids}
            with self.uncached_on_error(entries):
                for entry in entries.values():
                    entry.tell(outcome)
                self.save(*entries.values())

    def _finder(self, referral_ids: set[UUID]) -> Find:
        """`find` for a batch: its cases from the cache, the rest read in one query (so a new
        referral's absence costs no query of its own); any other aggregate as `find` gets it."""
        known = self._cached(referral_ids)
        loaded = load_many(self, referral_ids - known.keys())
        for referral_id, case in loaded.items():
            self.repository.cache.put(referral_id, case)  # type: ignore[union-attr]
        known |= loaded

        def find(cls: type[Any], aggregate_id: UUID) -> Any:
            return known.get(aggregate_id) if aggregate_id in referral_ids else self.find(cls, aggregate_id)

        return find

    def _cached(self, referral_ids: set[UUID]) -> dict[UUID, Any]:
        found: dict[UUID, Any] = {}
        for referral_id in referral_ids:
            with suppress(KeyError):
                found[referral_id] = self.repository.cache.get(referral_id)  # type: ignore[union-attr]
        return found

    def find(self, cls: type[Any], aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def case(self, referral_id: UUID) -> FeedbackCase | None:
        """A copy of the case as recorded, for use outside the lock (the cached case itself is
        changed by the follower's thread); read under the lock, so never stale in the cache."""
        with self.lock:
            case: FeedbackCase | None = self.find(FeedbackCase, referral_id)
            return deepcopy(case)

    def with_cases(self, referral_ids: set[UUID], use: Callable[[dict[UUID, FeedbackCase]], T]) -> T:
        """`use` applied to these cases as recorded (absent ones left out), under the lock: no
        copies are made, so `use` must not keep a case or hand one to another thread."""
        with self.lock:
            find = self._finder(referral_ids)
            cases = {rid: find(FeedbackCase, rid) for rid in referral_ids}
            return use({rid: case for rid, case in cases.items() if case is not None})

    def change(self, commands: Sequence[tuple[UUID, Callable[[FeedbackCase], object]]]) -> list[FeedbackCase]:
        """Run commands on cases and record all they decided in one transaction."""
        cases: dict[UUID, FeedbackCase] = {}
        with self.lock, self.uncached_on_error(cases):
            for referral_id, command in commands:
                case = cases[referral_id] = cases.get(referral_id) or self.repository.get(referral_id)
                command(case)
            self.save(*cases.values())
            return list(cases.values())

    @contextmanager
    def uncached_on_error(self, touched: dict[UUID, Any]) -> Iterator[None]:
        """Cached cases are not copied on read (DEEPCOPY_FROM_AGGREGATE_CACHE=n: deep copies were
        a tenth of this process's time), so a command or save that fails must not leave its
        half-changed cases in the cache: they are evicted and read again from the store."""
        try:
            yield
        except BaseException:
            cache = self.repository.cache
            for aggregate_id in touched:
                with suppress(KeyError):
                    cache.get(aggregate_id, evict=True)  # type: ignore[union-attr]
            raise

    def open_cases(self) -> list[FeedbackCase]:
        """Cases with open work (a send, an announcement, a report deadline): what a restart picks up.

        One pass over the log's topics finds the candidates (more sends decided than done, or a
        failure: a failed report's deadlines are still watched); only those are loaded.
        """
        net: Counter[UUID] = Counter()
        failed: set[UUID] = set()
        start, page = 1, 5000
        while notes := self.recorder.select_notifications(start, limit=page):
            for note in notes:
                name = note.topic.rsplit(".", 1)[-1]
                net[note.originator_id] += _OPENS.get(name, 0)  # type: ignore[index]
                if name == "Failed":
                    failed.add(note.originator_id)  # type: ignore[arg-type]
            start = notes[-1].id + 1
        candidates = {rid for rid, n in net.items() if n > 0} | failed
        cases = (self.case(rid) for rid in candidates)
        return [c for c in cases if c is not None and (c.pending or c.announcing or c.awaiting_report)]
