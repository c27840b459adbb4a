"""A rebuild's replay in several processes, one per share of the referrals, merged at the end.

The replay is CPU-bound in Python: one process uses one core. Here `REBUILD_WORKERS` workers
each replay the facts of their share of the referrals (`rebuild_share.py`), up to the store's
end when the rebuild started, into tables of their own (`rebuild_worker.py`): this process the
first share, into the rebuild's own tables, and one more process per other share, started
with "spawn" (nothing of this process, connections or threads, is inherited) before this one
opens anything. Once every worker finished, the others' tables are added to the first's
(`rebuild_merge.py`) and removed, and the rebuild swaps them in as a single process's. The
progress printed is the workers' together: each, at position p, has replayed its share of the
facts up to p.

If any worker fails, the others are stopped and the rebuild fails: nothing is merged or swapped
in, and every worker's tables or scratch file are removed.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import wait
from types import TracebackType
from typing import TextIO

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from services.projections.rebuild_merge import merge
from services.projections.rebuild_pace import report
from services.projections.rebuild_share import Share
from services.projections.rebuild_target import Build, part_targets
from services.projections.rebuild_worker import Job, replay_share, work


class RebuildFailed(RuntimeError):
    """A worker process of a parallel rebuild failed: nothing was swapped in."""


def replay_in_parallel(settings: Settings, build: Build, out: TextIO, page: int) -> int:
    """Replay the store into `build` with `settings.rebuild_workers` workers reading pages of
    `page` facts; the position its tables reached (the store's end when the replay started)."""
    end = store_end(settings)
    parts = part_targets(settings, build, settings.rebuild_workers)
    jobs = [Job(settings, Share(n, len(parts)), p.suffix, p.file, end, page) for n, p in enumerate(parts)]
    try:
        with Workers(jobs, out) as workers:
            replay_share(jobs[0], workers.progressed)
            workers.wait()
        merge(build, parts[1:], end)
    finally:
        for part in parts[1:]:
            part.abandon()
    return end


def store_end(settings: Settings) -> int:
    """The store's last position (the store opened, its key checked, and closed again)."""
    referrals = open_ledger(settings)
    try:
        return referrals.recorder.max_notification_id() or 0
    finally:
        referrals.close()


class Workers:
    """The processes of all jobs but the first (this process's), their progress and failures."""

    def __init__(self, jobs: list[Job], out: TextIO) -> None:
        context = multiprocessing.get_context("spawn")
        self.progress = context.Array("q", len(jobs), lock=False)
        self.failures = context.SimpleQueue()
        self.processes = [
            context.Process(target=work, args=(job, self.progress, self.failures), name=f"rebuild-{n}")
            for n, job in enumerate(jobs[1:], start=1)
        ]
        self.end, self.out = jobs[0].end, out
        self.started = self.reported = time.monotonic()

    def __enter__(self) -> Workers:
        try:
            for process in self.processes:
                process.start()
        except BaseException:
            self.stop()
            raise
        return self

    def progressed(self, position: int) -> None:
        """This process's share reached `position`: fail if a worker failed, report each second."""
        self.progress[0] = position
        self.watch()

    def watch(self) -> None:
        """Fail if a worker process failed; report the progress once a second."""
        self.check()
        if time.monotonic() - self.reported >= 1.0:
            self.report()

    def wait(self) -> None:
        """Wait for the worker processes to finish, reporting each second."""
        while running := [p.sentinel for p in self.processes if p.exitcode is None]:
            wait(running, timeout=max(0.0, 1.0 - (time.monotonic() - self.reported)))
            self.watch()
        self.check()
        self.report()

    def report(self) -> None:
        report(self.out, sum(self.progress) // len(self.progress), self.end, self.started)
        self.reported = time.monotonic()

    def check(self) -> None:
        """RebuildFailed if a worker process failed, with what it said went wrong."""
        failed = [
            (n, p.exitcode) for n, p in enumerate(self.processes, start=1) if p.exitcode not in (None, 0)
        ]
        if failed:
            n, code = failed[0]
            what = self.told().get(n, f"exit code {code}")
            raise RebuildFailed(f"rebuild worker {n + 1} of {len(self.progress)} failed: {what}")

    def told(self) -> dict[int, str]:
        """What the failed workers said, by share."""
        told: dict[int, str] = {}
        while not self.failures.empty():
            share, what = self.failures.get()
            told[share] = what
        return told

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """End the processes still running (after a failure); wait for all that started."""
        started = [p for p in self.processes if p.pid is not None]
        for process in started:
            if process.exitcode is None:
                process.terminate()
        for process in started:
            process.join()
            process.close()
        self.failures.close()
