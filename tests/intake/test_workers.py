"""INTAKE_WORKERS=2: two intake processes share the port, both take referrals, SIGTERM stops
both after they answer what is in flight (exit 0), and every 202 they gave is in the store. Staff
signed in stay signed in whichever worker answers, OIDC sign-ins finish on either, and sign-in
attempts are counted once for both (issue 14, finding 6), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
from pydantic import SecretStr

from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from tests.ops.support import get, wait_ready
from tests.projections.browser import serving
from tests.security.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeProvider
from tests.support.processes import ProcessRegistry, free_port, wait_until
from tests.support.servers import NatsServer
from tests.support.signin import fresh_connections, sign_in_over
from tests.support.store import all_recorded
from tests.support.submitting import keep_submitting

CLIENTS = 8
STAFF = 4


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
    workers = workers_of(intake.pid)
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
    first, second = workers_of(intake.pid)
    os.kill(first, signal.SIGKILL)
    assert intake.popen.wait(timeout=30) != 0  # whatever supervises intake sees it fail
    wait_until(lambda: not Path(f"/proc/{second}").exists(), 10, "the other worker stopped too")


def test_staff_stay_signed_in_whichever_worker_answers(
    store_settings: Settings, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    provider = FakeProvider()
    with serving(provider.app(), free_port()) as provider.url:  # type: ignore[arg-type]
        oidc = {"oidc_issuer": provider.url, "oidc_client_id": CLIENT_ID}
        settings = store_settings.model_copy(
            update=oidc
            | {"oidc_client_secret": SecretStr(CLIENT_SECRET), "login_attempts_per_minute": 3 * STAFF}
            | {"nats_url": nats_server.url, "intake_port": free_port(), "intake_workers": 2}
        )
        password = ensure_local_users(settings.users_path)["intake"]["password"]
        intake = services.start("intake", settings)
        wait_until(lambda: get(settings.intake_port, "/login")[0] == 200, 30, "intake serving")
        assert len(workers_of(intake.pid)) == 2
        pages: list[int] = []
        staff = [
            threading.Thread(target=browse, args=(settings.base_url, password, pages)) for _ in range(STAFF)
        ]
        for member in staff:
            member.start()
        for member in staff:
            member.join(60)
        assert pages == [200] * (10 * STAFF)  # none sent back to /login by the other worker
        assert [through_oidc(settings.base_url) for _ in range(STAFF)] == [303] * STAFF
        with fresh_connections(settings.base_url) as guesser:
            guesses = [sign_in_over(guesser, "intake", f"guess-{i}").status_code for i in range(2 * STAFF)]
            assert guesses == [401] * (2 * STAFF)  # with the staff's STAFF sign-ins: the limit reached
            assert sign_in_over(guesser, "intake", password).status_code == 429


def browse(base_url: str, password: str, pages: list[int]) -> None:
    """Sign in through the form, then open the referrals page ten times, each on a new connection."""
    with fresh_connections(base_url) as browser:
        assert sign_in_over(browser, "intake", password).status_code == 303
        pages.extend(browser.get("/referrals").status_code for _ in range(10))


def through_oidc(base_url: str) -> int:
    """An OIDC sign-in, each step on a new connection: the callback's status."""
    with fresh_connections(base_url) as browser, httpx.Client() as outside:
        to_provider = browser.get("/login/oidc")
        back = outside.get(to_provider.headers["location"]).headers["location"]
        answer = browser.get(back)
        assert answer.status_code != 303 or browser.get("/referrals").status_code == 200
        return answer.status_code
