"""NATS transmission security (HIPAA 164.312(e)): with a certificate, nats-server speaks only TLS;
a client that cannot verify the certificate (no CA, or the wrong one) never gets a connection,
and a service given the CA connects, authenticates with its nkey and publishes."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import trustme

from contracts import bus
from launcher.devstack import nats_tls
from launcher.natsd import TlsFiles
from referral_loop.messaging.bus import connect
from referral_loop.messaging.nats_auth import ADMIN, INTAKE
from referral_loop.messaging.publisher import FactPublisher
from referral_loop.settings import Settings
from tests.support import referrals as make
from tests.support.bus import declare_all
from tests.support.servers import start_secured_nats

ONCE = {"allow_reconnect": False, "max_reconnect_attempts": 0}


async def quiet(error: Exception) -> None:
    """nats-py's error callback, silent: the test asserts on the exception raised."""


def certificate(directory: Path, ca: trustme.CA) -> TlsFiles:
    """A server certificate for 127.0.0.1 signed by `ca`, written as PEM."""
    pem = directory / "nats-server.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(pem))
    return TlsFiles(cert_file=pem, key_file=pem)


@pytest.fixture
def tls_settings(tmp_path: Path) -> Iterator[Settings]:
    """A nats-server with TLS and the services' users; settings that trust its CA."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server, secrets = start_secured_nats(tmp_path, tls=certificate(tmp_path, ca))
    try:
        yield Settings(
            data_dir=tmp_path,
            nats_url=server.url,
            nats_secrets_dir=secrets,
            nats_tls_ca_file=tmp_path / "ca.pem",
        )
    finally:
        server.stop()


@pytest.mark.parametrize("trust", ["system CAs", "another CA"])
async def test_a_client_that_cannot_verify_the_server_gets_no_connection(
    trust: str, tls_settings: Settings, tmp_path: Path
) -> None:
    context = ssl.create_default_context()
    if trust == "another CA":
        context = ssl.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
    with pytest.raises(ssl.SSLCertVerificationError):
        await nats.connect(tls_settings.nats_url, tls=context, error_cb=quiet, **ONCE)
    no_ca = tls_settings.model_copy(update={"nats_tls_ca_file": None})
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(no_ca, INTAKE, error_cb=quiet, **ONCE)  # a service not given the CA


async def test_a_service_given_the_ca_connects_over_tls_and_publishes(tls_settings: Settings) -> None:
    admin = await connect(tls_settings, ADMIN, **ONCE)
    await declare_all(admin.jetstream(), tls_settings)
    intake = await connect(tls_settings, INTAKE, **ONCE)
    try:
        assert intake.is_connected and intake._server_info.get("tls_required") is True
        await FactPublisher(intake, timeout_s=10.0).publish(make.received())
        assert (await admin.jetstream().stream_info(bus.STREAM)).state.messages == 1
    finally:
        await intake.close()
        await admin.close()


def test_make_run_turns_tls_on_only_with_both_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    assert nats_tls(Settings(data_dir=tmp_path)) is None
    assert nats_tls(Settings(data_dir=tmp_path, nats_tls_cert_file=cert)) is None
    both = Settings(data_dir=tmp_path, nats_tls_cert_file=cert, nats_tls_key_file=key)
    assert nats_tls(both) == TlsFiles(cert, key)
    block = TlsFiles(cert, key).config_block()
    assert f'cert_file: "{cert}"' in block and f'key_file: "{key}"' in block
