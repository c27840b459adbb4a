"""Several intake processes on one port (`INTAKE_WORKERS`): for machines with cores to spare.

Intake keeps no state of its own but its NATS connection and its audit log's connection, so
more of it is more processes: this one binds the port, forks the workers (each its own event
loop, NATS connection, audit connection) which accept on the inherited socket, and waits.
SIGTERM or SIGINT is passed to every worker, each of which stops as a single intake does
(answers what is in flight, then exits 0). If a worker dies, the others are stopped too and
the process exits with its status, for whatever supervises it to restart the whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable

from referral_loop.settings import Settings

log = logging.getLogger(__name__)
BACKLOG = 2048


def listening(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.intake_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.intake_host, settings.intake_port))
    sock.listen(BACKLOG)
    return sock


def run_workers(settings: Settings, serve_on: Callable[[socket.socket], None]) -> int:
    """Fork `settings.intake_workers` processes running `serve_on(sock)`; the exit status."""
    sock = listening(settings)
    workers = [_fork(sock, serve_on) for _ in range(settings.intake_workers)]
    sock.close()  # the workers hold it
    log.info("intake: %d workers on %s:%d", len(workers), settings.intake_host, settings.intake_port)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _: _signal_all(workers, number))
    return _wait_all(workers)


def _fork(sock: socket.socket, serve_on: Callable[[socket.socket], None]) -> int:
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        serve_on(sock)
        status = 0
    except BaseException:
        log.exception("intake worker failed")
    finally:
        logging.shutdown()
        os._exit(status)


def _wait_all(workers: list[int]) -> int:
    """Wait for every worker; the first to fail stops the rest. The worst exit status."""
    worst, running = 0, set(workers)
    while running:
        pid, status = os.wait()
        running.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and worst == 0:
            log.error("intake worker %d exited with %d; stopping the others", pid, code)
            _signal_all(running, signal.SIGTERM)
        worst = worst or code
    return worst if worst >= 0 else 128 - worst


def _signal_all(workers: set[int] | list[int], number: int) -> None:
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.kill(pid, number)
