"""`referral-loop run` (`make run`) for real (issue 14, finding 13): a process that dies, a service
or nats-server, is restarted with backoff and the terminal is told, and the stack still takes a
referral; one that keeps dying stops the launcher with a non-zero exit code; nats-server's
monitoring port is the setting's, on loopback; the banner's passwords are not in the log."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import referrals as make
from tests.support.launcher import Launcher, running_launcher, start_launcher, wait_for


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    with running_launcher(tmp_path_factory.mktemp("make-run") / "var") as running:
        yield running


def submit_and_wait_recorded(launcher: Launcher, family_name: str, timeout: float = 60.0) -> None:
    """A referral through intake (retried while intake answers 503: NATS coming back), then
    read back from the store."""
    body = make.referral_body(patient={**make.referral_body()["patient"], "family_name": family_name})
    deadline = time.monotonic() + timeout
    with launcher.client() as http:
        while (answer := post(http, body, family_name)).status_code != 202:
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.5)
        rid = answer.json()["referral_id"]
        wait_for(lambda: http.get(f"/api/referrals/{rid}").status_code == 200, timeout, "recorded", launcher)


def post(http: httpx.Client, body: dict[str, object], key: str) -> httpx.Response:
    try:
        return http.post("/api/referrals", json=body, headers={"Idempotency-Key": key})
    except httpx.HTTPError:
        return httpx.Response(503)


def kill_and_see_restarted(launcher: Launcher, name: str) -> None:
    victim = launcher.child(name)
    assert victim is not None, f"{name} runs under the launcher"
    victim.send_signal(signal.SIGKILL)
    launcher.wait_output(f"{name} exited with code -9; restarting it in", timeout=20)
    launcher.wait_output(f"restarted {name}", timeout=20)
    successor = launcher.child(name)
    assert successor is not None and successor.pid != victim.pid


def test_the_monitoring_port_is_the_settings_and_listens_on_loopback_only(launcher: Launcher) -> None:
    port = int(launcher.env["REFERRAL_LOOP_NATS_MONITOR_PORT"])
    nats = launcher.child("nats-server")
    assert nats is not None
    listening = [c.laddr for c in nats.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    assert (("127.0.0.1", port)) in [(a.ip, a.port) for a in listening], listening
    assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    assert f"(monitoring: http://127.0.0.1:{port})" in launcher.text()


def test_the_banners_passwords_are_not_in_the_log(launcher: Launcher) -> None:
    """The launcher's output goes to a file here (no terminal): the users are named, their
    passwords are not, there or in any service's log."""
    text = launcher.text()
    logs = [p.read_text(errors="replace") for p in (launcher.data_dir / "logs").rglob("*") if p.is_file()]
    for user in ("intake", "ops", "admin"):
        password = launcher.password(user)
        assert password not in text, f"{user}'s password is in the launcher's log"
        assert not [log for log in logs if password in log]
    assert "role=intake" in text and "printed to the terminal only" in text


def test_a_killed_service_and_nats_server_are_restarted_and_referrals_still_go_in(launcher: Launcher) -> None:
    submit_and_wait_recorded(launcher, "Before")
    kill_and_see_restarted(launcher, "store-writer")
    submit_and_wait_recorded(launcher, "AfterWriter")
    kill_and_see_restarted(launcher, "nats-server")
    submit_and_wait_recorded(launcher, "AfterNats")
    assert launcher.process.poll() is None, "the launcher goes on"


def test_a_process_that_keeps_dying_stops_the_launcher_non_zero(tmp_path: Path) -> None:
    """Intake's port taken by another program: intake dies at each start; after the allowed
    restarts the launcher stops everything and exits 1."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        launcher = start_launcher(tmp_path / "var", intake_port=port, run_restart_limit=2)
        try:
            code = launcher.process.wait(timeout=120)
        finally:
            if launcher.process.poll() is None:
                launcher.process.kill()
    text = launcher.text()
    assert code == 1, text
    assert text.count("intake exited with code") == 3, text
    assert "3 times in a row; giving up" in text
    assert "stopped nats-server" in text
    nats_port = int(launcher.env["REFERRAL_LOOP_NATS_URL"].rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", nats_port)) != 0, "nothing left running"
