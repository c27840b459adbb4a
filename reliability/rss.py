"""Resident memory of each process over a run, sampled from /proc (a restarted process is
followed under its name), and a table of it with a line per minute."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path


def rss_mib(pid: int) -> float | None:
    """VmRSS of the process in MiB; None if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


class RssSampler:
    """Every `every_s`, the RSS of each process `pids()` names, in a thread of its own."""

    def __init__(self, pids: Callable[[], dict[str, int]], every_s: float = 5.0) -> None:
        self.pids, self.every_s = pids, every_s
        self.started = time.monotonic()
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample_until_stopped, daemon=True, name="rss")

    def start(self) -> None:
        self.sample()
        self.thread.start()

    def _sample_until_stopped(self) -> None:
        while not self.stopping.wait(self.every_s):
            self.sample()

    def sample(self) -> None:
        at = time.monotonic() - self.started
        for name, pid in self.pids().items():
            mib = rss_mib(pid)
            if mib is not None:
                self.samples.setdefault(name, []).append((at, mib))

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.sample()

    def per_minute(self) -> dict[int, dict[str, float]]:
        """Minute -> process -> the highest RSS sampled in that minute."""
        table: dict[int, dict[str, float]] = {}
        for name, samples in self.samples.items():
            for at, mib in samples:
                row = table.setdefault(int(at // 60), {})
                row[name] = max(row.get(name, 0.0), mib)
        return table

    def table(self) -> str:
        names = sorted(self.samples)
        lines = ["| minute | " + " | ".join(names) + " |", "|---:" + "|---:" * len(names) + "|"]
        for minute, row in sorted(self.per_minute().items()):
            cells = " | ".join(f"{row[n]:.0f}" if n in row else "-" for n in names)
            lines.append(f"| {minute} | {cells} |")
        return "RSS (MiB, highest sampled each minute)\n" + "\n".join(lines)
