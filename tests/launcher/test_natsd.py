"""The real nats-server wrapper: JetStream up on free ports, data kept across a crash, clean stop."""

from __future__ import annotations

import contextlib

import nats
import psutil
import pytest
from nats.js.api import StreamConfig

from launcher.natsd import NatsServer, NatsServerError
from tests.support.servers import restart_nats

STREAM = StreamConfig(name="T", subjects=["t.>"])


async def publish_one(server: NatsServer) -> int:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(STREAM)
        ack = await js.publish("t.one", b"hello")
        assert ack.stream == "T"
        return int(ack.seq)
    finally:
        await nc.close()


async def stored_messages(server: NatsServer) -> int:
    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info("T")
        return int(info.state.messages)
    finally:
        await nc.close()


async def test_jetstream_acknowledges_a_publish(nats_server: NatsServer) -> None:
    assert nats_server.running
    assert await publish_one(nats_server) == 1
    config = nats_server.config_text()
    assert "sync_interval: always" in config
    assert f"port: {nats_server.port}" in config


async def test_acknowledged_message_survives_a_crash(nats_server: NatsServer) -> None:
    await publish_one(nats_server)
    port, old_pid = nats_server.port, nats_server.pid
    nats_server.kill()
    assert not nats_server.running
    restart_nats(nats_server)
    assert (nats_server.port, nats_server.running) == (port, True)
    assert nats_server.pid != old_pid
    assert await stored_messages(nats_server) == 1


def test_stop_leaves_no_process(nats_server: NatsServer) -> None:
    pid = nats_server.pid
    assert pid is not None and psutil.pid_exists(pid)
    nats_server.stop()
    assert not nats_server.running
    assert not psutil.pid_exists(pid)


def test_context_manager_stops_on_exit(tmp_path) -> None:
    with NatsServer(store_dir=tmp_path / "store") as server:
        pid = server.pid
        assert server.running
    assert pid is not None and not psutil.pid_exists(pid)


def test_cluster_block_in_config(tmp_path) -> None:
    from launcher.natsd import ClusterConfig

    cluster = ClusterConfig(port=6250, routes=["nats://127.0.0.1:6251"])
    server = NatsServer(store_dir=tmp_path / "s", server_name="n1", cluster=cluster)
    text = server.config_text()
    assert 'listen: "127.0.0.1:6250"' in text
    assert 'routes: ["nats://127.0.0.1:6251"]' in text


def test_a_taken_port_fails_fast_with_the_log(nats_server: NatsServer, tmp_path) -> None:
    second = NatsServer(store_dir=tmp_path / "other", port=nats_server.port)
    second.start()
    try:
        with pytest.raises(NatsServerError, match="exited early"):
            second.wait_ready(timeout=5)
    finally:
        second.stop()


def test_users_and_tls_are_opt_in(tmp_path) -> None:
    from launcher.natsd import TlsFiles

    bare = NatsServer(store_dir=tmp_path / "bare").config_text()
    assert "authorization" not in bare and "tls {" not in bare
    pem = tmp_path / "server.pem"
    secured = NatsServer(
        store_dir=tmp_path / "s", users={"intake": "UINTAKE"}, tls=TlsFiles(pem, pem)
    ).config_text()
    assert 'users = [\n    {nkey: "UINTAKE", permissions: $INTAKE}\n  ]' in secured
    assert f'tls {{\n  cert_file: "{pem}"' in secured


async def test_a_restarted_server_keeps_its_users(tmp_path) -> None:
    from referral_loop.messaging.bus import connect
    from referral_loop.settings import Settings
    from tests.support.servers import start_secured_nats

    server, secrets = start_secured_nats(tmp_path)
    try:
        server.kill()
        restart_nats(server)
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0, error_cb=_quiet)
        nc = await connect(Settings(nats_url=server.url, nats_secrets_dir=secrets), "intake")
        assert nc.is_connected
        await nc.close()
    finally:
        server.stop()


async def _quiet(error: Exception) -> None:
    """An error callback that says nothing: the test asserts on the exception."""


CANARY = "Zebulonia Quixotewright"
KEY = "a-test-jetstream-key-of-44-characters-000000"


def files_holding(directory, text: str) -> list[str]:
    """Every file under `directory` whose bytes hold `text`."""
    return [str(p) for p in directory.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


async def publish_canary(server: NatsServer) -> bytes:
    """A message holding the canary, and the payload read back from the stream."""
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        with contextlib.suppress(nats.js.errors.BadRequestError):  # there already: a restarted server
            await js.add_stream(STREAM)
        await js.publish("t.one", CANARY.encode())
        return bytes((await js.get_msg("T", 1)).data or b"")
    finally:
        await nc.close()


async def test_with_a_key_no_message_is_readable_in_the_servers_files(tmp_path) -> None:
    from launcher.natsd import JetStreamEncryption

    encrypted = NatsServer(store_dir=tmp_path / "e", encryption=JetStreamEncryption(KEY))
    with encrypted:
        assert await publish_canary(encrypted) == CANARY.encode(), "clients read it as it was sent"
    assert files_holding(tmp_path / "e", CANARY) == []
    with NatsServer(store_dir=tmp_path / "clear") as clear:  # the scan finds what is there in clear
        await publish_canary(clear)
    assert files_holding(tmp_path / "clear", "Zebulonia") != []


async def test_a_store_written_in_clear_is_encrypted_when_the_key_is_turned_on(tmp_path) -> None:
    """An older `make run`'s var/nats: nats-server encrypts its streams at the first start with a key."""
    from launcher.natsd import JetStreamEncryption

    server = NatsServer(store_dir=tmp_path / "store")
    with server:
        await publish_canary(server)
    assert files_holding(tmp_path / "store", CANARY)
    server.encryption = JetStreamEncryption(KEY)
    with server:
        assert await publish_canary(server) == CANARY.encode(), "the old message is still read"
    assert files_holding(tmp_path / "store", CANARY) == []
    assert "Encrypting stream" in server.log_tail(200)


def test_the_key_is_in_no_file_log_or_monitoring_page(tmp_path) -> None:
    import urllib.request

    from launcher.natsd import JetStreamEncryption

    server = NatsServer(store_dir=tmp_path / "store", encryption=JetStreamEncryption(KEY, "aes"))
    with server, urllib.request.urlopen(f"{server.monitor_url}/varz", timeout=5) as answer:
        varz = answer.read().decode()
    assert KEY not in varz
    assert files_holding(tmp_path, KEY) == [], "not in the config, the log or the store"
    assert "AES-GCM" in server.log_tail(200)
