"""The whole topology as processes (bench.stack's), with a way to SIGKILL any of them and
bring it back: what the kill tests and the soak both drive.

A restarted service is the same command with the same settings (same ports, same files); a
restarted nats-server comes back on the same port with the same JetStream store.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack import Stack, running_stack, wait_http
from launcher.devstack import Child
from referral_loop.settings import Settings
from reliability.history import History

NATS = "nats-server"
KILLABLE = (NATS, "store-writer", "feedback", "projections", "intake")
READY_TIMEOUT_S = 60.0


@dataclass
class KillableStack:
    stack: Stack
    history: History = field(default_factory=History)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    def pids(self) -> dict[str, int]:
        return self.stack.pids()

    def kill(self, name: str) -> None:
        """SIGKILL `name` and reap it: a crash, nothing flushed, nothing said goodbye."""
        if name == NATS:
            self.stack.nats.kill()
        else:
            process = self.stack.children[name].process
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        self.history.killed(name)

    def restart(self, name: str) -> None:
        """Start `name` again and wait until it answers (those with an HTTP endpoint)."""
        if name == NATS:
            self.stack.nats.start()
            self.stack.nats.wait_ready(timeout=READY_TIMEOUT_S)
            return
        self.stack.children[name] = Child.start(name, self.settings)
        if name == "intake":
            wait_http(f"{self.settings.base_url}/readyz", self.stack.check)
        elif name == "projections":
            wait_http(f"http://127.0.0.1:{self.settings.ops_port}/healthz", self.stack.check)

    def check(self) -> None:
        """Raise if a process exited on its own (a killed one is restarted before this is asked)."""
        self.stack.check()
        if not self.stack.nats.running:
            raise RuntimeError("nats-server is not running")


@contextmanager
def killable_stack(root: Path, store: str = "sqlite") -> Iterator[KillableStack]:
    """A fresh stack in `root` (nats-server, mail sink, store writer, feedback, projections,
    intake), every process stopped at the end whatever was killed and restarted meanwhile."""
    with running_stack(root, store) as stack:
        yield KillableStack(stack)
