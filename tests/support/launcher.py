"""`referral-loop run` (what `make run` starts) as the tests run it: the real launcher in a
process of its own, on free ports, data in a temporary directory, its stdout and stderr in a file
(what a log of `make run` would hold), and no controlling terminal.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from launcher.natsd import stop_process
from referral_loop.settings import ENV_PREFIX
from referral_loop.web.users import credentials_path
from tests.support.processes import base_env, free_port

ROOT = Path(__file__).resolve().parents[2]
PORTS = (
    "INTAKE_PORT",
    "OPS_PORT",
    "STORE_WRITER_OPS_PORT",
    "FEEDBACK_OPS_PORT",
    "MAIL_SINK_PORT",
    "NATS_MONITOR_PORT",
)


@dataclass
class Launcher:
    process: subprocess.Popen[bytes]
    data_dir: Path
    env: dict[str, str]
    output: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env[ENV_PREFIX + 'INTAKE_PORT']}"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def password(self, user: str = "intake") -> str:
        credentials = json.loads(credentials_path(self.data_dir / "users.json").read_text())
        return str(credentials[user]["password"])

    def child(self, name: str) -> psutil.Process | None:
        """The running process of `name` (a service's subcommand, or nats-server)."""
        for child in psutil.Process(self.process.pid).children():
            try:
                command = child.cmdline()
            except psutil.Error:
                continue
            if (name == "nats-server" and "nats-server" in command[0]) or command[-1:] == [name]:
                return child
        return None

    def wait_output(self, text: str, timeout: float = 90.0) -> None:
        wait_for(lambda: text in self.text(), timeout, f"{text!r} in the launcher's output", self)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=("intake", self.password()), timeout=10.0)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, launcher: Launcher) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}\n--- launcher output:\n{launcher.text()}")
        time.sleep(0.1)


def launcher_env(data_dir: Path, **settings: Any) -> dict[str, str]:
    """A clean environment: data in `data_dir`, every port free, the embedded mail sink."""
    env = base_env()
    env |= {ENV_PREFIX + name: str(free_port()) for name in PORTS}
    env |= {
        ENV_PREFIX + "DATA_DIR": str(data_dir),
        ENV_PREFIX + "NATS_URL": f"nats://127.0.0.1:{free_port()}",
        ENV_PREFIX + "RUN_RESTART_BACKOFF_S": "0.2",
        ENV_PREFIX + "LOG_LEVEL": "INFO",
    }
    return env | {ENV_PREFIX + name.upper(): str(value) for name, value in settings.items()}


def start_launcher(data_dir: Path, **settings: Any) -> Launcher:
    env = launcher_env(data_dir, **settings)
    output = data_dir.parent / f"{data_dir.name}-run.log"
    with output.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # no controlling terminal, as under a service manager
        )
    return Launcher(process, data_dir, env, output)


@contextmanager
def running_launcher(data_dir: Path, **settings: Any) -> Iterator[Launcher]:
    """The launcher, its banner printed (everything answered); stopped with SIGTERM on leaving."""
    launcher = start_launcher(data_dir, **settings)
    try:
        launcher.wait_output("Referral Loop is running")
        yield launcher
    finally:
        stop_process(launcher.process, signal.SIGTERM, timeout=60)
