"""The pure parts of `referral-loop run`: environment for children, addresses, the banner."""

from __future__ import annotations

import io
from pathlib import Path

from pydantic import SecretStr

from launcher.devstack import embedded_nats, intake_health_url, nats_address
from launcher.devstack_banner import banner, print_banner
from launcher.devstack_processes import service_env
from launcher.jetstream_key import with_local_jetstream_key
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


def test_the_monitoring_port_is_a_setting_on_loopback_whatever_the_client_address(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, nats_url="nats://0.0.0.0:4333", nats_monitor_port=9333)
    nats = embedded_nats(settings)
    assert 'http: "127.0.0.1:9333"' in nats.config_text()
    assert nats.monitor_url == "http://127.0.0.1:9333"
    assert 'host: "0.0.0.0"' in nats.config_text(), "clients keep the address they were given"


def test_make_runs_nats_is_encrypted_with_a_key_made_once_and_kept_out_of_files(tmp_path: Path) -> None:
    settings = with_local_jetstream_key(Settings(data_dir=tmp_path))
    key_file = tmp_path / "secrets" / "jetstream.key"
    assert settings.jetstream_key_file == key_file
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    nats = embedded_nats(settings)
    config = nats.config_text()
    assert "cipher: chachapoly\n  key: $JETSTREAM_KEY\n" in config
    assert key not in config and key not in repr(nats)
    assert with_local_jetstream_key(Settings(data_dir=tmp_path)).jetstream_key_file == key_file
    assert key_file.read_text().strip() == key, "made once, the same on every run"


def test_the_services_are_not_given_the_jetstream_key(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, jetstream_key=SecretStr("k" * 44), jetstream_key_file=tmp_path / "k"
    )
    env = service_env(settings)
    assert not [name for name in env if "JETSTREAM_KEY" in name]
    assert "k" * 44 not in env.values()


def test_the_banner_in_a_log_names_the_users_but_not_their_passwords(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    log = io.StringIO()  # not a terminal: what `make run > run.log` writes
    print_banner(settings, embedded_nats(settings), CREDENTIALS, out=log)
    text = log.getvalue()
    assert "role=ops" in text and "curl -u intake:PASSWORD" in text
    assert str(tmp_path / "local-credentials.json") in text
    assert "pw-intake-123" not in text and "pw-ops-456" not in text


def test_the_banner_on_a_terminal_shows_the_passwords(tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    settings = Settings(data_dir=tmp_path)
    terminal = Terminal()
    print_banner(settings, embedded_nats(settings), CREDENTIALS, out=terminal)
    assert "password=pw-intake-123" in terminal.getvalue()
