"""INTAKE_WORKERS=2: two intake processes share the port, both take referrals, SIGTERM stops
both after they answer what is in flight (exit 0), and every 202 they gave is in the store."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from referral_loop.settings import Settings
from referral_loop.users import ensure_local_users
from tests.ops.support import wait_ready
from tests.support.processes import ProcessRegistry, free_port, wait_until
from tests.support.servers import NatsServer
from tests.support.store import all_recorded
from tests.support.submitting import keep_submitting

CLIENTS = 8


def workers_of(pid: int) -> list[int]:
    """The child processes of `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def test_two_intake_workers_share_the_port_and_stop_together(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = Settings(
        data_dir=tmp_path, nats_url=nats_server.url, intake_port=free_port(), intake_workers=2
    )
    password = ensure_local_users(settings.users_path)["intake"]["password"]
    services.start("store-writer", settings).wait_for_log("store writer recording", timeout=30)
    intake = services.start("intake", settings)
    wait_ready(settings.intake_port)
    workers = workers_of(intake.process.pid)
    assert len(workers) == 2
    idle = {pid: cpu_ticks(pid) for pid in workers}
    accepted: list[str] = []
    other: list[int] = []

    load = (settings.base_url, password, accepted, other)
    clients = [threading.Thread(target=keep_submitting, args=load) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    wait_until(lambda: len(accepted) >= 200, 60, "submissions under way")
    busy = {pid: cpu_ticks(pid) - idle[pid] for pid in workers}
    assert intake.stop(signal.SIGTERM) == 0, intake.log_text()[-2000:]
    for client in clients:
        client.join(30)
    assert other == []
    assert all(ticks >= 5 for ticks in busy.values()), f"both workers took requests: {busy}"
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "both workers stopped"
    wait_until(lambda: all_recorded(settings, set(accepted)), 60, "every acknowledged referral in the store")


def test_a_worker_that_dies_takes_the_others_down_for_a_restart(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = Settings(
        data_dir=tmp_path, nats_url=nats_server.url, intake_port=free_port(), intake_workers=2
    )
    ensure_local_users(settings.users_path)
    services.start("store-writer", settings).wait_for_log("store writer recording", timeout=30)
    intake = services.start("intake", settings)
    wait_ready(settings.intake_port)
    first, second = workers_of(intake.process.pid)
    os.kill(first, signal.SIGKILL)
    assert intake.process.wait(timeout=30) != 0  # whatever supervises intake sees it fail
    wait_until(lambda: not Path(f"/proc/{second}").exists(), 10, "the other worker stopped too")
