"""Child processes of our own: started in a session of their own, logging to a file, stopped
with a signal and, if they linger, SIGKILL (nats-server, `make run`'s services, the tests')."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path


def stop_process(process: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Send `sig`, wait up to `timeout` seconds, then SIGKILL; the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def spawn(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (a terminal's Ctrl-C reaches only our process, which
    then stops its children in order), stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        # The commands are built by this project (nats-server, python -m launcher.cli).
        return subprocess.Popen(  # noqa: S603
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
