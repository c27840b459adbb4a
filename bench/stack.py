"""The real topology of `make run` for the benchmark: nats-server (sync_interval: always) and each
service as its own process, on free ports in a temporary directory, all stopped afterwards.

NATS admits only the services' users, as under `make run`: each service connects with its own
nkey (generated in the stack's secrets directory), with its role's permissions.

The store is SQLite by default; `postgres=` points the store writer, feedback and projections at
an embedded PostgreSQL database instead (the views follow `store`, as in production).
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.devstack import STOP_TIMEOUT_S, Child
from launcher.natsd import NatsServer, free_port
from referral_loop.keys import with_local_key
from referral_loop.messaging.nats_auth import ensure_credentials
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from tests.support.servers import EmbeddedPostgres, fresh_postgres_database

SERVICES = ("mail-sink", "store-writer", "feedback", "projections", "intake")
READY_TIMEOUT_S = 60.0


@dataclass
class Stack:
    settings: Settings
    nats: NatsServer
    password: str
    children: dict[str, Child] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        found = {name: child.process.pid for name, child in self.children.items()}
        if self.nats.pid is not None:
            found["nats-server"] = self.nats.pid
        return found

    def check(self) -> None:
        for name, child in self.children.items():
            if child.process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {child.process.returncode}; see {self.settings.data_dir}"
                )


def stack_settings(root: Path, nats_url: str, store_update: dict[str, Any]) -> Settings:
    """As `make run` sets things up: the stores encrypted with a key made under `root`."""
    mail_port = free_port()
    settings = Settings(
        data_dir=root,
        nats_url=nats_url,
        intake_port=free_port(),
        ops_port=free_port(),
        mail_sink_port=mail_port,
        smtp_host="127.0.0.1",
        smtp_port=mail_port,
        smtp_tls="none",
        log_level="WARNING",
        submissions_per_minute=10_000_000,  # the bench's one user floods: measure intake, not its limiter
        **store_update,
    )
    return with_local_key(settings)


def stop_all(children: Iterable[Child]) -> None:
    """SIGINT to every child at once, then each waited for (SIGKILL if it lingers): once a stage
    is measured, the order in which its processes stop matters to nothing, and stopping them one
    after another took seconds a stack."""
    running = [child.process for child in children if child.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_http(url: str, alive: Callable[[], None]) -> None:
    """Until `url` answers 200; `alive()` raises if what should answer has exited."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        alive()
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {READY_TIMEOUT_S:.0f}s")


@contextmanager
def postgres_store(root: Path) -> Iterator[dict[str, Any]]:
    """An embedded PostgreSQL server in `root`, and the settings of a fresh database on it."""
    server = EmbeddedPostgres(root / "postgres").start()
    try:
        yield {"store": "postgres", **fresh_postgres_database(server, "bench").settings_update()}
    finally:
        server.stop()


@contextmanager
def running_stack(
    root: Path, store: str = "sqlite", services: Iterable[str] = SERVICES, intake_workers: int = 1
) -> Iterator[Stack]:
    """nats-server and `services` (all by default), each ready before this yields."""
    with ExitStack() as stop:
        update = stop.enter_context(postgres_store(root)) if store == "postgres" else {}
        port = free_port()
        settings = stack_settings(
            root, f"nats://127.0.0.1:{port}", {**update, "intake_workers": intake_workers}
        )
        users = ensure_credentials(settings.nats_secrets_path)
        nats = stop.enter_context(
            NatsServer(store_dir=root / "nats", port=port, server_name="bench", users=users)
        )
        stack = Stack(settings, nats, ensure_local_users(settings.users_path)["intake"]["password"])
        stop.callback(lambda: stop_all(stack.children.values()))
        for name in services:
            stack.children[name] = Child.start(name, settings)
        if "intake" in stack.children:
            wait_http(f"{settings.base_url}/readyz", stack.check)
        if "projections" in stack.children:
            wait_http(f"http://127.0.0.1:{settings.ops_port}/healthz", stack.check)
        yield stack
