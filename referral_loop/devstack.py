"""`referral-loop run` (what `make run` does): the whole system on one machine, embedded defaults.

Starts nats-server (data under data_dir/nats, kept between runs), then the store writer and
intake as child processes of their own, waits for intake to answer, and prints where everything
is and how to log in. Ctrl-C or SIGTERM stops intake, the store writer, then NATS, in that order.
If a child dies on its own, everything is stopped and the exit code is non-zero.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from urllib.parse import urlsplit

from referral_loop.devstack_banner import Credentials, banner, logs_dir, uses_embedded_mail
from referral_loop.keys import with_local_key
from referral_loop.nats_auth import ensure_credentials
from referral_loop.natsd import NatsServer, NatsServerError, TlsFiles, spawn, stop_process
from referral_loop.settings import Settings, settings_env
from referral_loop.users import ensure_local_users

MONITOR_PORT = 8222
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.2
STORE_WRITER_OPS_PORT = 8002
FEEDBACK_OPS_PORT = 8003


def nats_address(settings: Settings) -> tuple[str, int]:
    """Host and port of the first NATS URL: where the embedded server listens."""
    first = urlsplit(settings.nats_servers[0])
    return first.hostname or "127.0.0.1", first.port or 4222


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


def ops_endpoints(settings: Settings) -> str:
    """Where each service answers /healthz, /readyz and /metrics (printed after the banner)."""
    host = settings.ops_host
    ports = {
        "intake": f"{settings.base_url}",
        "store-writer": f"http://{host}:{settings.store_writer_ops_port}",
        "feedback": f"http://{host}:{settings.feedback_ops_port}",
        "projections": f"http://{host}:{settings.ops_port}",
    }
    lines = "\n".join(f"    {name:13} {url}/readyz   {url}/metrics" for name, url in ports.items())
    return f"  Health, readiness and metrics:\n{lines}\n"


def prepare_dirs(settings: Settings) -> None:
    for directory in (settings.data_dir, logs_dir(settings), settings.data_dir / "nats"):
        directory.mkdir(parents=True, exist_ok=True)
    if settings.store == "sqlite":
        settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)


def nats_tls(settings: Settings) -> TlsFiles | None:
    """The embedded server's certificate when both files are set (clients then need the CA)."""
    cert, key = settings.nats_tls_cert_file, settings.nats_tls_key_file
    return TlsFiles(cert, key) if cert and key else None


def embedded_nats(settings: Settings) -> NatsServer:
    """The embedded nats-server, admitting only the services' users (their nkeys generated once,
    0600, in nats_secrets_dir; each child finds its own there)."""
    host, port = nats_address(settings)
    store = settings.data_dir / "nats"
    return NatsServer(
        store_dir=store,
        host=host,
        port=port,
        http_port=MONITOR_PORT,
        users=ensure_credentials(settings.nats_secrets_path),
        tls=nats_tls(settings),
        log_path=logs_dir(settings) / "nats-server.log",
        config_path=store / "nats-server.conf",
    )


@dataclass
class Child:
    """One service process: `python -m referral_loop.cli <name>`, logging to logs/<name>.log."""

    name: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, name: str, settings: Settings, log_name: str = "") -> Child:
        command = [sys.executable, "-m", "referral_loop.cli", name]
        env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
        return cls(name, spawn(command, logs_dir(settings) / f"{log_name or name}.log", env))

    def stop(self) -> int:
        """SIGINT (a clean shutdown for uvicorn and asyncio.run alike), SIGKILL if it lingers."""
        return stop_process(self.process, signal.SIGINT, STOP_TIMEOUT_S)


class ChildDied(RuntimeError):
    def __init__(self, child: Child) -> None:
        code = child.process.returncode
        super().__init__(f"{child.name} exited unexpectedly with code {code}")


@dataclass
class DevStack:
    """NATS plus the service processes; `shutdown` stops whatever was started, newest first."""

    settings: Settings
    stopping: threading.Event = field(default_factory=threading.Event)
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nats = embedded_nats(self.settings)

    def start(self) -> None:
        self.nats.start()
        self.nats.wait_ready(timeout=30.0)
        names = ["mail-sink"] if uses_embedded_mail() else []
        for name in [*names, "store-writer", "feedback", "projections", "intake"]:
            if not self.stopping.is_set():
                self.children.append(Child.start(name, self.settings))

    def check_children(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise ChildDied(child)

    def wait_for_intake(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """True once intake answers /healthz; False if asked to stop first. Raises on timeout."""
        deadline = time.monotonic() + timeout
        url = intake_health_url(self.settings)
        while not self.stopping.is_set():
            self.check_children()
            if http_ok(url):
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"intake did not answer {url} within {timeout:.0f}s")
            self.stopping.wait(POLL_S)
        return False

    def watch(self) -> None:
        """Until Ctrl-C or SIGTERM; raises ChildDied if a service exits on its own."""
        while not self.stopping.wait(POLL_S):
            self.check_children()

    def shutdown(self) -> None:
        for child in reversed(self.children):
            code = child.stop()
            print(f"stopped {child.name} (exit code {code})", file=sys.stderr)
        self.nats.stop()
        print("stopped nats-server", file=sys.stderr)


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
    settings = with_local_key(with_ops_ports(with_embedded_mail(settings)))
    prepare_dirs(settings)
    credentials = ensure_local_users(settings.users_path)
    stack = DevStack(settings)
    with stop_on_signals(stack.stopping):
        try:
            return run_until_stopped(stack, credentials)
        except (ChildDied, TimeoutError, NatsServerError) as error:
            print(f"error: {error}; logs are in {logs_dir(settings)}/", file=sys.stderr)
            return 1
        finally:
            stack.shutdown()


def run_until_stopped(stack: DevStack, credentials: Credentials) -> int:
    stack.start()
    if stack.wait_for_intake():
        print(banner(stack.settings, stack.nats, credentials), flush=True)
        print(ops_endpoints(stack.settings), flush=True)
        stack.watch()
    return 0
