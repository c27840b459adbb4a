"""Configuration from the environment (prefix REFERRAL_LOOP_), one class for the whole system.

Each service reads the part it needs. The README's configuration table lists every variable.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "REFERRAL_LOOP_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where embedded data lives (SQLite, NATS, mail).")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server(s), comma-separated.")
    nats_replicas: int = Field(1, description="Stream replicas: 1 on one machine, 3 in a cluster.")
    nats_secrets_dir: Path | None = Field(
        None, description="NATS nkey seeds, one per service (<service>.nk); default data_dir/secrets/nats."
    )
    nats_nkey_file: Path | None = Field(
        None, description="This process's NATS nkey seed; default nats_secrets_dir/<service>.nk if present."
    )
    nats_tls_ca_file: Path | None = Field(
        None, description="CA bundle to verify the NATS server's certificate; set, clients use TLS."
    )
    nats_tls_cert_file: Path | None = Field(
        None, description="Certificate of `make run`'s nats-server (with nats_tls_key_file: TLS on)."
    )
    nats_tls_key_file: Path | None = Field(None, description="Private key of that certificate.")
    nats_monitor_port: int = Field(
        8222,
        ge=0,
        description="Monitoring port of `make run`'s nats-server, on 127.0.0.1 only (0: any free).",
    )
    jetstream_key: SecretStr | None = Field(
        None, description="JetStream encryption key of `make run`'s nats-server (a secret: environment only)."
    )
    jetstream_key_file: Path | None = Field(None, description="A secrets file holding the JetStream key.")
    jetstream_cipher: Literal["chachapoly", "aes"] = Field(
        "chachapoly", description="JetStream's cipher at rest: ChaCha20-Poly1305 or AES-GCM."
    )
    deadletter_max_age_days: float = Field(
        30.0, gt=0, description="How long the dead-letter stream keeps a fact (they hold PHI)."
    )

    store: Literal["sqlite", "postgres"] = Field("sqlite", description="Event store backend.")
    sqlite_path: Path | None = Field(
        None, description="SQLite event store file; default data_dir/store/referrals.sqlite."
    )
    postgres_host: str = Field("127.0.0.1", description="PostgreSQL host or unix-socket directory.")
    postgres_port: int = 5432
    postgres_dbname: str = "referral_loop"
    postgres_user: str = "referral_loop"
    postgres_password: SecretStr = SecretStr("")
    store_key: SecretStr | None = Field(
        None, description="Store encryption key (base64 AES key; a secret: environment only)."
    )
    store_key_file: Path | None = Field(None, description="A secrets file holding the store key.")

    intake_host: str = Field("127.0.0.1", description="Intake API and form bind address.")
    intake_port: int = 8000
    intake_workers: int = Field(
        1, ge=1, le=64, description="Intake processes sharing the port: more on machines with cores to spare."
    )
    public_url: str = Field("", description="Base URL for status links; default http://host:port.")
    users_file: Path | None = Field(None, description="Users and roles (JSON); default data_dir/users.json.")
    max_body_bytes: int = Field(256_000, description="Largest request body intake and the ops app accept.")
    session_idle_minutes: float = Field(15.0, gt=0, description="Staff sessions end after this long idle.")
    login_attempts_per_minute: int = Field(30, ge=1, description="Sign-in attempts per client per minute.")
    forwarded_allow_ips: str = Field(
        "",
        description="Addresses of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto intake and "
        "the ops app trust (comma-separated); empty: none, the TCP peer is the client.",
    )
    submissions_per_minute: int = Field(
        6000, ge=1, description="Submissions (referrals and their facts) per user per minute."
    )
    oidc_issuer: str = Field("", description="OIDC provider (issuer URL); empty: passwords only.")
    oidc_client_id: str = Field("", description="This app's client id at the OIDC provider.")
    oidc_client_secret: SecretStr = SecretStr("")
    oidc_roles_claim: str = Field("roles", description="ID token claim naming the person's role.")

    writer_batch: int = Field(250, description="Most facts the store writer records in one transaction.")
    writer_fetch_wait_s: float = Field(0.05, description="How long a fetch waits to fill a batch.")

    feedback_sqlite_path: Path | None = Field(
        None, description="SQLite file of feedback's decisions; default data_dir/store/feedback.sqlite."
    )
    feedback_poll_s: float = Field(
        0.01, gt=0, description="How often feedback looks for new facts in the store when caught up."
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server for reports and notes.")
    smtp_port: int = Field(587, description="SMTP port (587 STARTTLS, 465 implicit TLS).")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="TLS to the SMTP server: required unless explicitly 'none'."
    )
    smtp_username: str = Field("", description="SMTP user name; empty for no authentication.")
    smtp_password: SecretStr = SecretStr("")
    smtp_ca_file: Path | None = Field(None, description="CA bundle to verify the SMTP server's certificate.")
    smtp_plaintext_hosts: str = Field(
        "",
        description="Comma-separated SMTP hosts that may be reached without TLS besides loopback: a "
        "development mail catcher on a private network (compose's Mailpit), never a real relay.",
    )
    smtp_timeout_s: float = Field(10.0, description="SMTP connect and command timeout.")
    smtp_connections: int = Field(
        4, ge=1, description="SMTP connections feedback sends over at once (each reused, TLS as set)."
    )
    practice_name: str = Field("Referral Loop Specialty Clinic", description="Practice name on every email.")
    practice_address: str = Field("", description="Practice postal address on every email.")
    practice_phone: str = Field("", description="Practice phone on every email.")
    practice_email: str = Field("referrals@practice.example", description="From address of every email.")
    ops_email: str = Field("ops@practice.example", description="Where escalations go.")
    practice_timezone: str = Field("UTC", description="The practice's time zone (for due times).")
    phone_region: str = Field(
        "US", description="Country (ISO 3166, e.g. US, GB) of phone numbers given without +country code."
    )
    acknowledge_referrals: bool = Field(
        True, description="Email the referring office when a referral arrives."
    )
    report_margin_hours: float = Field(
        24.0, description="The report is due this long before the return visit."
    )
    report_default_business_days: int = Field(
        2, description="Report due after the visit when no return visit is known."
    )
    report_warning_hours: float = Field(24.0, description="Escalate this long before the report's due time.")
    templates_dir: Path | None = Field(
        None, description="Directory of templates overriding the built-in ones."
    )
    mail_sink_port: int = Field(1025, description="Port of the embedded SMTP sink of `make run`.")
    run_restart_limit: int = Field(
        5, ge=0, description="`make run`: restarts in a row of a process that keeps dying before all stop."
    )
    run_restart_backoff_s: float = Field(
        0.5,
        gt=0,
        description="`make run`: wait before the first restart of a dead process (doubles, to 30 s).",
    )

    views_sqlite_path: Path | None = Field(
        None, description="SQLite file of the read models; default data_dir/store/views.sqlite."
    )
    ops_host: str = Field("127.0.0.1", description="Ops API and dashboard bind address.")
    ops_port: int = Field(8001, description="Ops API and dashboard port.")
    projections_poll_s: float = Field(
        0.01, gt=0, description="How often the projector looks for new facts in the store when caught up."
    )
    rebuild_workers: int = Field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="Processes a rebuild replays the store with, each the facts of its share of the referrals.",
    )

    store_writer_ops_port: int = Field(
        0, ge=0, description="Port of the store writer's /healthz, /readyz and /metrics (0: none)."
    )
    feedback_ops_port: int = Field(
        0, ge=0, description="Port of feedback's /healthz, /readyz and /metrics (0: none)."
    )
    smtp_check_s: float = Field(
        5.0, gt=0, description="How long feedback's readiness remembers an SMTP reachability check."
    )
    email_mode: Literal["full", "minimum"] = Field(
        "full", description="Emails to offices: the full report, or only a notice and a sign-in link."
    )
    audit_sqlite_path: Path | None = Field(
        None, description="SQLite file of the audit log; default data_dir/store/audit.sqlite."
    )
    sessions_sqlite_path: Path | None = Field(
        None,
        description="SQLite file of staff sessions, OIDC sign-ins under way and sign-in attempts, shared "
        "by every intake and ops process; default data_dir/store/sessions.sqlite.",
    )

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = Field(
        "json", description="Service logs: one JSON object per line, or plain text."
    )

    @model_validator(mode="after")
    def _no_cleartext_smtp_off_this_machine(self) -> Self:
        check_smtp_transport(self.smtp_host, self.smtp_tls, self.smtp_plaintext_hosts)
        return self

    @property
    def sqlite_file(self) -> Path:
        return self.sqlite_path or self.data_dir / "store" / "referrals.sqlite"

    @property
    def feedback_sqlite_file(self) -> Path:
        return self.feedback_sqlite_path or self.data_dir / "store" / "feedback.sqlite"

    @property
    def views_sqlite_file(self) -> Path:
        return self.views_sqlite_path or self.data_dir / "store" / "views.sqlite"

    @property
    def audit_sqlite_file(self) -> Path:
        return self.audit_sqlite_path or self.data_dir / "store" / "audit.sqlite"

    @property
    def sessions_sqlite_file(self) -> Path:
        return self.sessions_sqlite_path or self.data_dir / "store" / "sessions.sqlite"

    @property
    def nats_secrets_path(self) -> Path:
        return self.nats_secrets_dir or self.data_dir / "secrets" / "nats"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def users_path(self) -> Path:
        return self.users_file or self.data_dir / "users.json"

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.intake_host}:{self.intake_port}"

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]


def is_loopback(host: str) -> bool:
    """localhost or a loopback address (127.0.0.0/8, ::1), by its name alone: nothing is resolved."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_smtp_transport(host: str, tls: str, plaintext_hosts: str = "") -> None:
    """smtp_tls 'none' only to this machine (the embedded sink), or to a development mail catcher
    named in REFERRAL_LOOP_SMTP_PLAINTEXT_HOSTS: PHI never crosses a network in clear by default."""
    allowed = {h.strip().lower() for h in plaintext_hosts.split(",") if h.strip()}
    if tls == "none" and not is_loopback(host) and host.strip().lower() not in allowed:
        raise ValueError(
            f"REFERRAL_LOOP_SMTP_TLS=none is allowed only for a loopback SMTP host (127.0.0.1, ::1, "
            f"localhost), not {host!r}: emails carry PHI. Use starttls or tls (certificate verified; "
            "REFERRAL_LOOP_SMTP_CA_FILE for a private CA)."
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_env(settings: Settings) -> dict[str, str]:
    """The REFERRAL_LOOP_* variables that make a child process read these same settings."""
    env: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None:
            env[f"{ENV_PREFIX}{name.upper()}"] = _env_value(value)
    return env


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
