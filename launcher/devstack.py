"""`referral-loop run` (what `make run` does): the whole system on one machine, embedded defaults.

Starts nats-server (data under data_dir/nats, kept between runs, encrypted with the JetStream
key), then the mail sink, the store writer, feedback, projections and intake as child processes
of their own, waits for intake to answer, and prints where everything is and how to sign in (the
passwords to the terminal only). A process that dies on its own, nats-server included, is
restarted with backoff (`launcher.supervisor`), saying so on stderr; one that keeps dying
stops everything with a non-zero exit code. Ctrl-C or SIGTERM stops the services, newest first,
then NATS.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from launcher.devstack_banner import (
    Credentials,
    logs_dir,
    ops_endpoints,
    print_banner,
    uses_embedded_mail,
)
from launcher.devstack_processes import (
    STOP_TIMEOUT_S,
    Child,
    NatsProcess,
    ServiceProcess,
    embedded_nats,
    nats_address,
    nats_tls,
)
from launcher.jetstream_key import JetStreamKeyError, with_local_jetstream_key
from launcher.natsd import NatsServerError
from launcher.supervisor import KeepsFailing, RestartPolicy, Supervisor
from referral_loop.keys import with_local_key
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users

__all__ = ["STOP_TIMEOUT_S", "Child", "DevStack", "embedded_nats", "main", "nats_address", "nats_tls"]

READY_TIMEOUT_S = 60.0
POLL_S = 0.2
STORE_WRITER_OPS_PORT = 8002
FEEDBACK_OPS_PORT = 8003


def intake_health_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.intake_host in ("0.0.0.0", "::", "") else settings.intake_host  # noqa: S104
    return f"http://{host}:{settings.intake_port}/healthz"


def with_embedded_mail(settings: Settings) -> Settings:
    """The embedded sink on loopback is the one place TLS is off by default."""
    update = {"smtp_host": "127.0.0.1", "smtp_port": settings.mail_sink_port, "smtp_tls": "none"}
    return settings.model_copy(update=update) if uses_embedded_mail() else settings


def with_ops_ports(settings: Settings) -> Settings:
    """The store writer and feedback serve /healthz, /readyz and /metrics on 8002 and 8003 unless set."""
    update = {
        "store_writer_ops_port": settings.store_writer_ops_port or STORE_WRITER_OPS_PORT,
        "feedback_ops_port": settings.feedback_ops_port or FEEDBACK_OPS_PORT,
    }
    return settings.model_copy(update=update)


def prepare_dirs(settings: Settings) -> None:
    for directory in (settings.data_dir, logs_dir(settings), settings.data_dir / "nats"):
        directory.mkdir(parents=True, exist_ok=True)
    if settings.store == "sqlite":
        settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)


def say(message: str) -> None:
    """What the launcher tells the terminal (stderr) about its processes."""
    print(message, file=sys.stderr, flush=True)


def restart_policy(settings: Settings) -> RestartPolicy:
    return RestartPolicy(limit=settings.run_restart_limit, first_delay_s=settings.run_restart_backoff_s)


@dataclass
class DevStack:
    """NATS plus the service processes, each restarted if it dies (`supervisor.check`)."""

    settings: Settings
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.nats = embedded_nats(self.settings)
        self.supervisor = Supervisor(restart_policy(self.settings), say)

    def start(self) -> None:
        self.supervisor.start(NatsProcess(self.nats))
        self.nats.wait_ready(timeout=30.0)
        names = ["mail-sink"] if uses_embedded_mail() else []
        for name in [*names, "store-writer", "feedback", "projections", "intake"]:
            if not self.stopping.is_set():
                self.supervisor.start(ServiceProcess(name, self.settings))

    def wait_for_intake(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """True once intake answers /healthz; False if asked to stop first. Raises on timeout."""
        deadline = time.monotonic() + timeout
        url = intake_health_url(self.settings)
        while not self.stopping.is_set():
            self.supervisor.check()
            if http_ok(url):
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"intake did not answer {url} within {timeout:.0f}s")
            self.stopping.wait(POLL_S)
        return False

    def watch(self) -> None:
        """Until Ctrl-C or SIGTERM, restarting what dies; raises KeepsFailing."""
        while not self.stopping.wait(POLL_S):
            self.supervisor.check()

    def shutdown(self) -> None:
        self.supervisor.stop_all()


def http_ok(url: str) -> bool:
    try:
        # The URL is built from settings: always http on the intake host and port.
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def stop_on_signals(stopping: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stopping` (a second Ctrl-C cannot cut a shutdown short)."""

    def handler(signum: int, _: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(settings: Settings) -> int:
    try:
        settings = with_local_jetstream_key(with_local_key(with_ops_ports(with_embedded_mail(settings))))
    except JetStreamKeyError as error:
        say(f"error: {error}")
        return 1
    prepare_dirs(settings)
    credentials = ensure_local_users(settings.users_path)
    stack = DevStack(settings)
    with stop_on_signals(stack.stopping):
        try:
            return run_until_stopped(stack, credentials)
        except (KeepsFailing, TimeoutError, NatsServerError) as error:
            say(f"error: {error}; logs are in {logs_dir(settings)}/")
            return 1
        finally:
            stack.shutdown()


def run_until_stopped(stack: DevStack, credentials: Credentials) -> int:
    stack.start()
    if stack.wait_for_intake():
        print_banner(stack.settings, stack.nats, credentials)
        print(ops_endpoints(stack.settings), flush=True)
        stack.watch()
    return 0
