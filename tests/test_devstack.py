"""The pure parts of `referral-loop run`: environment for children, addresses, the banner."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from referral_loop.devstack import embedded_nats, intake_health_url, nats_address
from referral_loop.devstack_banner import banner
from referral_loop.settings import Settings, settings_env

CREDENTIALS = {
    "intake": {"role": "intake", "password": "pw-intake-123"},
    "ops": {"role": "ops", "password": "pw-ops-456"},
}


def test_settings_env_round_trips(monkeypatch, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, store="postgres", postgres_password=SecretStr("s3cret"), intake_port=8123
    )
    env = settings_env(settings)
    assert env["REFERRAL_LOOP_POSTGRES_PASSWORD"] == "s3cret"
    assert env["REFERRAL_LOOP_DATA_DIR"] == str(tmp_path)
    assert "REFERRAL_LOOP_SQLITE_PATH" not in env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_nats_address_comes_from_the_first_url() -> None:
    settings = Settings(nats_url="nats://127.0.0.1:4333, nats://127.0.0.1:4334")
    assert nats_address(settings) == ("127.0.0.1", 4333)


def test_embedded_nats_keeps_data_under_data_dir(tmp_path: Path) -> None:
    nats = embedded_nats(Settings(data_dir=tmp_path))
    assert (nats.url, nats.store_dir) == ("nats://127.0.0.1:4222", tmp_path / "nats")
    assert nats.log_path == tmp_path / "logs" / "nats-server.log"


def test_health_url_uses_loopback_for_a_wildcard_bind() -> None:
    settings = Settings(intake_host="0.0.0.0", intake_port=8001)
    assert intake_health_url(settings) == "http://127.0.0.1:8001/healthz"


def test_banner_lists_addresses_and_credentials(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    text = banner(settings, embedded_nats(settings), CREDENTIALS)
    for expected in (
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8000/docs",
        "nats://127.0.0.1:4222",
        "http://127.0.0.1:8222",
        str(tmp_path / "store" / "referrals.sqlite"),
        str(tmp_path / "logs"),
        "pw-intake-123",
        "pw-ops-456",
        "role=ops",
        "curl -u intake:pw-intake-123",
    ):
        assert expected in text
