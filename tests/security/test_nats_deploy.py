"""The containers' NATS is locked down like `make run`'s: deploy/nats/auth.conf is the permissions
referral_loop.messaging.nats_auth renders, every node includes it, each app container gets only its own
nkey seed, and the shipped nats.conf, run for real, refuses strangers and out-of-role publishes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from contracts import bus
from launcher.natsd import free_port, nats_server_binary, spawn, stop_process
from referral_loop.messaging.bus import connect
from referral_loop.messaging.nats_auth import (
    ADMIN,
    INTAKE,
    SERVICES,
    deploy_auth_conf,
    ensure_credentials,
    env_variable,
)
from referral_loop.messaging.publisher import BusUnavailable, FactPublisher
from referral_loop.settings import Settings
from tests.support import referrals as make
from tests.support.bus import Refusals, declare_all, violation
from tests.test_compose import (
    NATS_COMMENTS,
    NATS_CONFIG_DIR,
    ROOT,
    cluster_topology,
    command,
    environment,
    mounts,
    nats_nodes,
    wait_healthy,
    without_comments,
)

AUTH_CONF = NATS_CONFIG_DIR / "auth.conf"
NKEYS_ENV = "./secrets/nats/nkeys.env"
ONCE = {"allow_reconnect": False, "max_reconnect_attempts": 0}
JETSTREAM_KEY = "JETSTREAM_KEY"
JS_KEY = "a-test-jetstream-key-of-44-characters-000000"
PATIENT = make.referral_body()["patient"]["family_name"].encode()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_auth_conf_is_the_permissions_the_code_declares() -> None:
    assert AUTH_CONF.read_text() == deploy_auth_conf(), (
        "deploy/nats/auth.conf is stale: python -c 'from referral_loop.messaging.nats_auth import deploy_auth_conf; "
        'print(deploy_auth_conf(), end="")\' > deploy/nats/auth.conf'
    )
    for conf in NATS_CONFIG_DIR.glob("*.conf"):
        assert "no_auth_user" not in without_comments(conf.read_text(), NATS_COMMENTS), conf


def test_every_nats_node_includes_the_users_and_their_keys() -> None:
    cluster = cluster_topology()
    for name in nats_nodes(cluster):
        node = cluster[name]
        targets = {target: source for source, target in mounts(node)}
        assert targets.get("/etc/nats/auth.conf") == "./deploy/nats/auth.conf", name
        assert node.get("env_file") == NKEYS_ENV, f"{name} must read the users' public keys"
        for target in targets:
            if target.endswith(".conf") and target != "/etc/nats/auth.conf":
                text = without_comments((ROOT / targets[target]).read_text(), NATS_COMMENTS)
                assert re.search(r'^include\s+"auth\.conf"\s*$', text, re.M), (
                    f"{target} must include auth.conf"
                )


def test_each_app_container_gets_only_its_own_seed(compose: dict[str, Any]) -> None:
    secrets = compose.get("secrets") or {}
    cluster = cluster_topology()
    for name, service in cluster.items():
        role = command(service)[:1]
        if "build" not in service or role == ["projections"]:
            continue
        assert role[0] in SERVICES, f"{name} runs {role}: does it need a NATS user?"
        assert service.get("secrets") == [f"nats-{role[0]}"], f"{name} must get its role's seed only"
        assert secrets[f"nats-{role[0]}"]["file"] == f"./secrets/nats/{role[0]}.nk"
        assert environment(service)["REFERRAL_LOOP_NATS_NKEY_FILE"] == f"/run/secrets/nats-{role[0]}"
    assert not cluster["projections"].get("secrets"), "projections never connects to NATS"
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert "secrets/" in gitignore, "the seeds must never be committed"


def rendered_nats_conf(directory: Path, client: int, http: int) -> Path:
    """deploy/nats/nats.conf on loopback ports, its store and auth.conf in `directory`."""
    text = (NATS_CONFIG_DIR / "nats.conf").read_text()
    for old, new in (("port: 4222", f"port: {client}"), ("127.0.0.1:8222", f"127.0.0.1:{http}")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    text = text.replace("/data/jetstream", str(directory / "jetstream"))
    (directory / "auth.conf").write_text(AUTH_CONF.read_text())
    (directory / "nats.conf").write_text(text)
    return directory / "nats.conf"


async def attacks(settings: Settings) -> list[str]:
    """Against the shipped config: a stranger, then intake forging a ReportSent."""
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(settings.nats_url, error_cb=Refusals().record, **ONCE)
    admin = await connect(settings, ADMIN, **ONCE)
    await declare_all(admin.jetstream(), settings)
    refusals = Refusals()
    intake = await connect(settings, INTAKE, error_cb=refusals.record, **ONCE)
    received = make.received()
    await FactPublisher(intake, timeout_s=10.0).publish(received)
    (result,) = await FactPublisher(intake, timeout_s=10.0).publish_many([make.seen(received.referral_id)])
    assert not isinstance(result, BusUnavailable), "intake records what staff saw"
    await intake.publish("referrals.ReportSent", b"{}")
    refused = await refusals.heard()
    await intake.close()
    assert (await admin.jetstream().stream_info(bus.STREAM)).state.messages == 2
    await admin.close()
    return refused


def test_the_shipped_nats_conf_refuses_strangers_and_forgeries(tmp_path: Path) -> None:
    client, http = free_port(), free_port()
    conf = rendered_nats_conf(tmp_path, client, http)
    process = spawn([str(nats_server_binary()), "-c", str(conf)], tmp_path / "nats.log", node_env(tmp_path))
    try:
        wait_healthy(http, process, tmp_path / "nats.log", timeout=10)
        settings = Settings(nats_url=f"nats://127.0.0.1:{client}", nats_secrets_dir=tmp_path / "secrets")
        assert asyncio.run(attacks(settings)) == [violation("publish", "referrals.ReportSent")]
    finally:
        stop_process(process, signal.SIGTERM, timeout=5)
    stored = [p for p in (tmp_path / "jetstream").rglob("*") if p.is_file() and PATIENT in p.read_bytes()]
    assert stored == [], "the shipped nats.conf must encrypt JetStream's files: a patient is readable"
    assert JS_KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def node_env(directory: Path) -> dict[str, str]:
    """What compose gives a NATS node: the users' public keys (nkeys.env) and JETSTREAM_KEY (.env)."""
    keys = ensure_credentials(directory / "secrets")
    return {**os.environ, **{env_variable(role): key for role, key in keys.items()}, JETSTREAM_KEY: JS_KEY}


def test_a_node_without_the_jetstream_key_does_not_start(tmp_path: Path) -> None:
    """A .env without JETSTREAM_KEY must not mean streams written in clear: nats-server refuses."""
    conf = rendered_nats_conf(tmp_path, free_port(), free_port())
    env = {k: v for k, v in node_env(tmp_path).items() if k != JETSTREAM_KEY}
    process = spawn([str(nats_server_binary()), "-c", str(conf)], tmp_path / "nats.log", env)
    try:
        assert process.wait(timeout=10) != 0
    finally:
        stop_process(process, signal.SIGKILL, timeout=5)
    assert JETSTREAM_KEY in (tmp_path / "nats.log").read_text()


def test_a_node_without_the_public_keys_does_not_start(tmp_path: Path) -> None:
    """A missing nkeys.env must not mean an open server: nats-server refuses the config."""
    conf = rendered_nats_conf(tmp_path, free_port(), free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_NKEY_")} | {JETSTREAM_KEY: JS_KEY}
    process = spawn([str(nats_server_binary()), "-c", str(conf)], tmp_path / "nats.log", env)
    try:
        assert process.wait(timeout=10) != 0
    finally:
        stop_process(process, signal.SIGKILL, timeout=5)
    assert "NATS_NKEY_INTAKE" in (tmp_path / "nats.log").read_text()
