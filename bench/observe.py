"""Watching the running stack from outside, by wall clock (time.time(), shared by all processes):

- `StoreWatch`: when each fact appeared in the referrals store (polls its notification log);
- `ViewsWatch`: when the read models' position passed each store position (projection lag);
- `MailWatch`: when the sink accepted each letter (the sink names each file by its arrival time);
- `RssWatch`: resident memory of every process over the run (/proc).

Each polls in its own thread every few milliseconds; the resolution is stated with the results.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from services.projections.db import Database

POLL_S = 0.005


class Poller(threading.Thread):
    def __init__(self, poll: Callable[[], None], every_s: float = POLL_S) -> None:
        super().__init__(daemon=True)
        self.poll, self.every_s, self.stopping = poll, every_s, threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every_s):
            self.poll()

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.poll()


class StoreWatch:
    """(referral id, fact type) -> first time seen in the store; positions with their times.
    `recorded(key)` lets a coroutine wait for a fact without polling for it itself."""

    def __init__(self, settings: Settings) -> None:
        self.ledger = open_ledger(settings)
        self.seen: dict[tuple[str, str], float] = {}
        self.positions: list[tuple[int, float]] = []
        self.waiting: dict[tuple[str, str], tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = {}
        self.lock = threading.Lock()
        self.thread = Poller(self.poll)

    def poll(self) -> None:
        after = self.positions[-1][0] if self.positions else 0
        page = self.ledger.recorder.select_notifications(after + 1, limit=5000)
        now = time.time()
        for n in page:
            fact = self.ledger.mapper.to_domain_event(n).fact  # type: ignore[attr-defined]
            self.positions.append((n.id, now))
            with self.lock:
                self.seen.setdefault(key := (str(n.originator_id), fact["type"]), now)
                if waiter := self.waiting.pop(key, None):
                    waiter[0].call_soon_threadsafe(waiter[1].set_result, None)

    async def recorded(self, key: tuple[str, str]) -> None:
        loop = asyncio.get_running_loop()
        with self.lock:
            if key in self.seen:
                return
            future = self.waiting[key] = (loop, loop.create_future())
        await future[1]

    def close(self) -> None:
        self.ledger.close()


class ViewsWatch:
    """Times at which the projector's position was observed, to find when it passed a position."""

    def __init__(self, settings: Settings) -> None:
        self.db = Database(settings)
        self.marks: list[tuple[int, float]] = []
        self.thread = Poller(self.poll)

    def poll(self) -> None:
        rows = self.db.query("SELECT position FROM view_position WHERE name = 'referrals'")
        position = int(rows[0][0]) if rows else 0
        if not self.marks or position > self.marks[-1][0]:
            self.marks.append((position, time.time()))

    def lags(self, recorded: list[tuple[int, float]]) -> list[float]:
        """For each store position seen at time t, the first time the views held it, minus t."""
        positions = [p for p, _ in self.marks]
        lags = []
        for position, at in recorded:
            i = bisect.bisect_left(positions, position)
            if i < len(positions):
                lags.append(max(0.0, self.marks[i][1] - at))
        return lags

    def close(self) -> None:
        self.db.close()


class MailWatch:
    """Message-ID -> the time the sink stored it (from the file name the sink gives it)."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.known, self.accepted = directory, set[str](), dict[str, float]()
        self.thread = Poller(self.poll, 0.5)  # times come from file names: polling rarely is exact

    def poll(self) -> None:
        if not self.directory.is_dir():
            return
        for entry in os.scandir(self.directory):
            if not entry.name.endswith(".eml") or entry.name in self.known:
                continue
            self.known.add(entry.name)
            with open(entry.path, "rb") as file:
                headers = BytesHeaderParser(policy=policy.compat32).parsebytes(file.read(4096))
            stamp = datetime.strptime(entry.name.split("-", 1)[0] + "+0000", "%Y%m%dT%H%M%S.%fZ%z")
            self.accepted.setdefault(str(headers["Message-ID"]), stamp.timestamp())


class RssWatch:
    """RSS (MiB) of each process every `every_s`; peak from the kernel's high-water mark."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.5) -> None:
        self.pids, self.samples = pids, {name: list[tuple[float, float]]() for name in pids}
        self.peak: dict[str, float] = {}
        self.thread = Poller(self.poll, every_s)

    def poll(self) -> None:
        now = time.time()
        for name, pid in self.pids.items():
            fields = status_fields(pid)
            if "VmRSS" in fields:
                self.samples[name].append((now, fields["VmRSS"]))
                self.peak[name] = max(self.peak.get(name, 0.0), fields.get("VmHWM", 0.0))


def status_fields(pid: int) -> dict[str, float]:
    """The kB fields of /proc/<pid>/status, in MiB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            found[name] = int(value.split()[0]) / 1024
    return found
