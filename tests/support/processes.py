"""Service processes for the tests: `python -m launcher.cli <subcommand>` with given Settings.

Every ServiceProcess started is remembered in a registry; the conftest's autouse fixture stops
whatever is still running when a test ends, pass or fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.natsd import free_port, spawn, stop_process
from referral_loop.settings import ENV_PREFIX, Settings, settings_env

__all__ = [
    "ProcessRegistry",
    "ServiceProcess",
    "free_port",
    "settings_env",
    "stop_all_started",
    "wait_until",
]

STOP_TIMEOUT_S = 10.0
_STARTED: list[ServiceProcess] = []
"""Every ServiceProcess started in this test session and not yet swept by stop_all_started."""


def stop_all_started() -> None:
    """Stop every ServiceProcess still running, newest first (the conftest calls this)."""
    while _STARTED:
        service = _STARTED.pop()
        if service.running:
            service.stop()


def base_env() -> dict[str, str]:
    """This process's environment without any REFERRAL_LOOP_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout}s: {what or predicate}")
        time.sleep(0.05)


class ServiceProcess:
    """One `referral-loop <subcommand>` child process reading its settings from the environment."""

    def __init__(
        self,
        subcommand: str,
        settings: Settings,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.subcommand = subcommand
        self.settings = settings
        self.log_path = log_path
        self.env = {**base_env(), **settings_env(settings), "PYTHONUNBUFFERED": "1"}
        self.env.update(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        if self.running:
            raise RuntimeError(f"{self.subcommand} is already running (pid {self.pid})")
        command = [sys.executable, "-m", "launcher.cli", self.subcommand]
        self.process = spawn(command, self.log_path, self.env)
        _STARTED.append(self)
        return self

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError(f"{self.subcommand} was never started")
        return self.process

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill(self) -> int:
        """SIGKILL: a crash, no chance to clean up."""
        return stop_process(self.popen, signal.SIGKILL, STOP_TIMEOUT_S)

    def stop(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT_S) -> int:
        """A clean stop (SIGINT by default, or SIGTERM), SIGKILL after `timeout`."""
        return stop_process(self.popen, sig, timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        def seen() -> bool:
            if text in self.log_text():
                return True
            if not self.running:
                raise RuntimeError(f"{self.subcommand} exited:\n{self.log_text()[-3000:]}")
            return False

        wait_until(seen, timeout, f"{text!r} in {self.log_path}")


class ProcessRegistry:
    """Starts service processes for one test, logs in `log_dir`, stops them all at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ServiceProcess] = []

    def start(self, subcommand: str, settings: Settings, **kwargs: Any) -> ServiceProcess:
        name = f"{subcommand}-{len(self.processes)}.log"
        service = ServiceProcess(subcommand, settings, self.log_dir / name, **kwargs)
        self.processes.append(service)
        return service.start()

    def stop_all(self) -> None:
        for service in reversed(self.processes):
            if service.running:
                service.stop()
