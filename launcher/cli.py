"""`referral-loop`: one command, a subcommand per service process and per ops task.

This is the composition root: the only module that knows every service.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import uvloop

from launcher import audit_cli, users_cli
from referral_loop.keys import located
from referral_loop.ops.logs import configure as configure_logs
from referral_loop.settings import Settings, get_settings


def _intake(settings: Settings, _: argparse.Namespace) -> int:
    from services.intake.main import serve

    return serve(settings)


def _store_writer(settings: Settings, _: argparse.Namespace) -> int:
    from services.store_writer.main import run

    uvloop.run(run(settings))
    return 0


def _feedback(settings: Settings, _: argparse.Namespace) -> int:
    from services.feedback.main import run

    uvloop.run(run(settings))
    return 0


def _mail_sink(settings: Settings, _: argparse.Namespace) -> int:
    from launcher.mailsink import run_sink

    run_sink(settings)
    return 0


def _projections(settings: Settings, _: argparse.Namespace) -> int:
    from services.projections.main import run

    uvloop.run(run(settings))
    return 0


def _rebuild(settings: Settings, _: argparse.Namespace) -> int:
    from services.projections.rebuild import rebuild

    rebuild(settings)
    return 0


def _rotate_store_key(settings: Settings, args: argparse.Namespace) -> int:
    from referral_loop.store.rekey import main as rotate

    return rotate(settings, args.new_key_file)


def _forget_patient(settings: Settings, args: argparse.Namespace) -> int:
    from referral_loop.privacy.forgetting import run

    return run(settings, args)


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    from referral_loop.web.audit_verify import run

    return run(settings, args)


def _report(settings: Settings, args: argparse.Namespace) -> int:
    from services.projections.report_cli import main as report

    return report(settings, args.report_args)


def _run(settings: Settings, _: argparse.Namespace) -> int:
    from launcher.devstack import main

    return main(settings)


def _users(settings: Settings, args: argparse.Namespace) -> int:
    from launcher.users_cli import run

    return run(settings, args)


COMMANDS: dict[str, tuple[str, Callable[[Settings, argparse.Namespace], int]]] = {
    "intake": ("serve the intake API and staff form", _intake),
    "store-writer": ("record facts from NATS JetStream in the event store", _store_writer),
    "feedback": ("email consult reports, thank-you notes and acknowledgements", _feedback),
    "mail-sink": ("a local SMTP server keeping every message as a .eml file (for make run)", _mail_sink),
    "projections": ("keep the read models current and serve the ops API and dashboard", _projections),
    "rebuild": ("replay the store into fresh read models, with progress, and swap them in", _rebuild),
    "rotate-store-key": ("re-encrypt the stores with a new store key (services stopped)", _rotate_store_key),
    "forget-patient": (
        "erase a patient: destroy their data key, redact, erase their facts from NATS",
        _forget_patient,
    ),
    "audit": ("check the audit log: `audit verify` walks its hash chain, names the first break", _audit),
    "report": ("print volume, trends, worklists, KPIs, scorecards or CMS50 from the read models", _report),
    "run": ("start the whole system on embedded defaults (what `make run` does)", _run),
    "users": ("the local users (made once), people and system tokens: see `users -h`", _users),
}


SERVICES = {"intake", "store-writer", "feedback", "mail-sink", "projections"}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="referral-loop", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    for name, (help_text, _) in COMMANDS.items():
        if name == "report":  # everything after `report`, its own -h too, goes to report_cli
            sub.add_parser(name, help=help_text, add_help=False, prefix_chars="+")
        else:
            sub.add_parser(name, help=help_text)
    sub.choices["report"].add_argument(
        "report_args", nargs=argparse.REMAINDER, help="see `referral-loop report -h`"
    )
    sub.choices["rotate-store-key"].add_argument(
        "--new-key-file", type=Path, required=True, help="the new key's file (base64 of 32 random bytes)"
    )
    users_cli.configure(sub.choices["users"])
    _forget_patient_arguments(sub.choices["forget-patient"])
    audit_cli.configure(sub.choices["audit"])
    return root


def _forget_patient_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("referral_id", type=UUID, help="any referral of the patient to forget")
    command.add_argument("--by", help="who asks (staff name on the facts and in the audit log); default: you")
    command.add_argument(
        "--wait", type=float, default=60.0, metavar="SECONDS",
        help="how long the store writer is given to record the PatientForgotten facts (60)",
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    if args.command != "rotate-store-key":  # told its keys; every other finds make run's as its services do
        settings = located(settings)
    service = args.command in SERVICES  # long-running processes log as LOG_FORMAT says; commands as text
    configure_logs(args.command, settings.log_level, settings.log_format if service else "text")
    _, handler = COMMANDS[args.command]
    return handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
