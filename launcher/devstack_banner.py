"""What `make run` prints: where everything is, how to sign in, a first request to try.

The local users' passwords go to the terminal only: in full when stdout is a terminal; when
stdout is a file or a pipe (a log: `make run > run.log`, `| tee`, a service manager's journal)
the banner there names the users without their passwords, and the passwords are written to the
controlling terminal (/dev/tty) if there is one. They are always in `local-credentials.json`
beside the users file (0600).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from launcher.natsd import NatsServer
from referral_loop.settings import ENV_PREFIX, Settings
from referral_loop.web.users import credentials_path

Credentials = dict[str, dict[str, str]]
REFERRALS_PATH = "/api/referrals"


def uses_embedded_mail() -> bool:
    """`make run` mails to its own sink unless an SMTP server is configured."""
    return f"{ENV_PREFIX}SMTP_HOST" not in os.environ


def logs_dir(settings: Settings) -> Path:
    return settings.data_dir / "logs"


def store_description(settings: Settings) -> str:
    if settings.store == "sqlite":
        return f"SQLite {settings.sqlite_file}"
    s = settings
    return f"PostgreSQL {s.postgres_user}@{s.postgres_host}:{s.postgres_port}/{s.postgres_dbname}"


def curl_hint(settings: Settings, credentials: Credentials, passwords: bool = True) -> str:
    name = next((n for n, c in credentials.items() if c["role"] == "intake"), "intake")
    password = credentials.get(name, {}).get("password", "PASSWORD") if passwords else "PASSWORD"
    return (
        f"curl -u {name}:{password} -H 'content-type: application/json' "
        f"-d @examples/referral.json {settings.base_url}{REFERRALS_PATH}"
    )


def users_block(settings: Settings, credentials: Credentials, passwords: bool = True) -> str:
    """The local users, with their passwords or with where to find them."""
    if passwords:
        return "\n".join(
            f"    {name:8} role={c['role']:9} password={c['password']}" for name, c in credentials.items()
        )
    users = "\n".join(f"    {name:8} role={c['role']}" for name, c in credentials.items())
    where = credentials_path(settings.users_path)
    return f"{users}\n    (passwords: printed to the terminal only; kept in {where}, mode 600)"


def banner(settings: Settings, nats: NatsServer, credentials: Credentials, passwords: bool = True) -> str:
    """What `make run` prints once everything answers: addresses, credentials, a first request."""
    base = settings.base_url
    users = users_block(settings, credentials, passwords)
    return (
        "\nReferral Loop is running. Ctrl-C stops everything.\n\n"
        f"  Intake form   {base}/\n"
        f"  Intake API    {base}/   (OpenAPI: {base}/docs)\n"
        f"  Ops dashboard http://{settings.ops_host}:{settings.ops_port}/   "
        f"(API: http://{settings.ops_host}:{settings.ops_port}/docs)\n"
        f"  NATS          {nats.url}   (monitoring: {nats.monitor_url})\n"
        f"  Event store   {store_description(settings)}\n"
        f"  Mail          {mail_description(settings)}\n"
        f"  Logs          {logs_dir(settings)}/"
        "  (intake, store-writer, feedback, projections, mail-sink, nats-server)\n\n"
        f"  Users ({settings.users_path}):\n{users}\n\n"
        f"  Sign in:\n{sign_in_hint(settings, credentials)}\n\n"
        f"  Try:\n    {curl_hint(settings, credentials, passwords)}\n"
    )


def ops_endpoints(settings: Settings) -> str:
    """Where each service answers /healthz, /readyz and /metrics (printed after the banner)."""
    host = settings.ops_host
    ports = {
        "intake": f"{settings.base_url}",
        "store-writer": f"http://{host}:{settings.store_writer_ops_port}",
        "feedback": f"http://{host}:{settings.feedback_ops_port}",
        "projections": f"http://{host}:{settings.ops_port}",
    }
    lines = "\n".join(f"    {name:13} {url}/readyz   {url}/metrics" for name, url in ports.items())
    return f"  Health, readiness and metrics:\n{lines}\n"


def sign_in_hint(settings: Settings, credentials: Credentials) -> str:
    """How staff sign in (the first admin's password) and how a system gets a token."""
    admin = next((n for n, c in credentials.items() if c["role"] == "admin"), None)
    who = f"as {admin} with the password above" if admin else "with a user above"
    return (
        f"    staff pages: {settings.base_url}/login {who} (the ops dashboard has its own /login)\n"
        "    systems: .venv/bin/referral-loop users add-token NAME --role intake   (prints a bearer token)"
    )


def mail_description(settings: Settings) -> str:
    if uses_embedded_mail():
        return f"every email is kept as a .eml file in {settings.mail_dir}/ (SMTP sink on port {settings.mail_sink_port})"
    return f"SMTP {settings.smtp_host}:{settings.smtp_port} ({settings.smtp_tls})"


@contextmanager
def controlling_terminal() -> Iterator[TextIO | None]:
    """The terminal this process was started from (/dev/tty), or None (a service manager, CI)."""
    try:
        # A fixed device path: the controlling terminal, not a file anyone names.
        tty = open("/dev/tty", "w", encoding="utf-8")  # noqa: SIM115
    except OSError:
        yield None
        return
    with tty:
        yield tty


def print_banner(
    settings: Settings, nats: NatsServer, credentials: Credentials, out: TextIO | None = None
) -> None:
    """The banner to stdout; the passwords only if stdout is a terminal, else to /dev/tty."""
    out = out or sys.stdout
    if out.isatty():
        print(banner(settings, nats, credentials), file=out, flush=True)
        return
    print(banner(settings, nats, credentials, passwords=False), file=out, flush=True)
    with controlling_terminal() as tty:
        if tty is not None:
            print(
                f"\n  Users (the terminal only):\n{users_block(settings, credentials)}\n",
                file=tty,
                flush=True,
            )
