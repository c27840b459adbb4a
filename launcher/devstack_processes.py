"""The processes `make run` starts: a service (`python -m launcher.cli <name>`) and
nats-server, each as `launcher.supervisor` can start, watch and restart it.

A service's environment is the launcher's settings without the JetStream key: only nats-server
needs that, and it gets it in its own environment (`launcher.natsd_config`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from launcher.devstack_banner import logs_dir
from launcher.jetstream_key import KEY_SETTINGS, encryption
from launcher.natsd import NatsServer, TlsFiles, spawn, stop_process
from referral_loop.messaging.nats_auth import ensure_credentials
from referral_loop.settings import Settings, settings_env

STOP_TIMEOUT_S = 15.0


def service_env(settings: Settings) -> dict[str, str]:
    """A service's environment: these settings, and nothing of the JetStream key."""
    env = {**os.environ, **settings_env(settings), "PYTHONUNBUFFERED": "1"}
    return {name: value for name, value in env.items() if name not in KEY_SETTINGS}


def nats_address(settings: Settings) -> tuple[str, int]:
    """Host and port of the first NATS URL: where the embedded server listens."""
    first = urlsplit(settings.nats_servers[0])
    return first.hostname or "127.0.0.1", first.port or 4222


def nats_tls(settings: Settings) -> TlsFiles | None:
    """The embedded server's certificate when both files are set (clients then need the CA)."""
    cert, key = settings.nats_tls_cert_file, settings.nats_tls_key_file
    return TlsFiles(cert, key) if cert and key else None


def embedded_nats(settings: Settings) -> NatsServer:
    """The embedded nats-server, admitting only the services' users (their nkeys generated once,
    0600, in nats_secrets_dir; each child finds its own there), its streams encrypted at rest
    when a JetStream key is configured (`make run` always has one), monitoring on loopback."""
    host, port = nats_address(settings)
    store = settings.data_dir / "nats"
    return NatsServer(
        store_dir=store,
        host=host,
        port=port,
        http_port=settings.nats_monitor_port,
        users=ensure_credentials(settings.nats_secrets_path),
        tls=nats_tls(settings),
        encryption=encryption(settings),
        log_path=logs_dir(settings) / "nats-server.log",
        config_path=store / "nats-server.conf",
    )


@dataclass
class Child:
    """One service process: `python -m launcher.cli <name>`, logging to logs/<name>.log."""

    name: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, name: str, settings: Settings, log_name: str = "") -> Child:
        command = [sys.executable, "-m", "launcher.cli", name]
        log = logs_dir(settings) / f"{log_name or name}.log"
        return cls(name, spawn(command, log, service_env(settings)))

    def stop(self) -> int:
        """SIGINT (a clean shutdown for uvicorn and asyncio.run alike), SIGKILL if it lingers."""
        return stop_process(self.process, signal.SIGINT, STOP_TIMEOUT_S)


@dataclass
class ServiceProcess:
    """A service the supervisor restarts: each `start` is a new Child, logging to the same file."""

    name: str
    settings: Settings
    child: Child | None = None

    def start(self) -> None:
        self.child = Child.start(self.name, self.settings)

    def exit_code(self) -> int | None:
        return self.child.process.poll() if self.child else None

    def stop(self) -> int | None:
        return self.child.stop() if self.child else None


@dataclass
class NatsProcess:
    """The embedded nats-server: restarted on the same ports, store and key."""

    server: NatsServer
    name: str = "nats-server"

    def start(self) -> None:
        self.server.start()

    def exit_code(self) -> int | None:
        return self.server.exit_code

    def stop(self) -> int | None:
        self.server.stop()
        return self.server.exit_code
