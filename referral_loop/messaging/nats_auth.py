"""NATS users and what each may say: one nkey per service, subject permissions per role.

Each service connects as a user of its own, authenticated by an nkey: its seed (the secret) sits
in a file only that service is given (`<nats_secrets_dir>/<role>.nk`, 0600); nats-server's config
holds only the public key and the role's permissions. Anything not allowed is refused, and
deleting or purging a stream is denied to every service outright. `admin` (everything) is for
operators and test harnesses, never for a service. The projections process reads the store and
never connects to NATS, so it has no user.

    python -m referral_loop.messaging.nats_auth secrets/nats   # the seeds, and nkeys.env for compose
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import nkeys
from nacl.signing import SigningKey

from contracts import Fact, bus
from contracts.events import PUBLISHED_BY, Publisher, type_name

INTAKE, STORE_WRITER, FEEDBACK, ADMIN = "intake", "store-writer", "feedback", "admin"
SERVICES = (INTAKE, STORE_WRITER, FEEDBACK)
ROLES = (*SERVICES, ADMIN)
ROLE_OF: dict[Publisher, str] = {
    Publisher.INTAKE: INTAKE,
    Publisher.FEEDBACK: FEEDBACK,
    Publisher.FORGET_PATIENT: ADMIN,  # the operator's command, with the admin nkey
}
"""The NATS user each publisher of `contracts.events.PUBLISHED_BY` connects as."""


def facts_of(role: str) -> tuple[type[Fact], ...]:
    """The fact classes `role` publishes, as the contracts' one list says, in its order."""
    return tuple(c for c, publisher in PUBLISHED_BY.items() if ROLE_OF[publisher] == role)


INTAKE_FACTS = facts_of(INTAKE)
"""What staff say through intake: never that a report or a note went out."""
FEEDBACK_FACTS = facts_of(FEEDBACK)
"""What feedback announces about the letters it sent (or could not) and the deadlines it watches."""
JS_API = "$JS.API"
NEVER = tuple(
    f"{JS_API}.{verb}.>" for verb in ("STREAM.DELETE", "STREAM.PURGE", "STREAM.MSG.DELETE", "CONSUMER.DELETE")
)
"""Denied to every service whatever its allow list says (a deny wins in nats-server)."""
NKEYS_ENV = "nkeys.env"


def inbox_prefix(role: str) -> str:
    """Replies (PubAcks, JetStream API answers, fetched messages) come to the role's own inboxes,
    so no service may listen to another's."""
    return f"_INBOX_{role}"


def seed_path(secrets_dir: Path, role: str) -> Path:
    return secrets_dir / f"{role}.nk"


def _stream_api(*verbs: str) -> list[str]:
    return [
        f"{JS_API}.STREAM.{verb}.{name}" for verb in verbs for name in (bus.STREAM, bus.DEADLETTER_STREAM)
    ]


def _consumer_api() -> list[str]:
    """The store writer's durable consumer: declare it, read its info, pull from it, ack."""
    at = f"{bus.STREAM}.{bus.STORE_WRITER}"
    verbs = ("CREATE", "DURABLE.CREATE", "INFO", "MSG.NEXT")
    return [
        *(f"{JS_API}.CONSUMER.{v}.{at}" for v in verbs),
        f"{JS_API}.CONSUMER.CREATE.{at}.>",
        f"$JS.ACK.{at}.>",
    ]


def _facts(classes: tuple[type[Fact], ...]) -> list[str]:
    return [bus.subject_for(type_name(c)) for c in classes]


def publish_allowed(role: str) -> list[str]:
    """The subjects `role` may publish to (requests to the JetStream API included)."""
    declare = _stream_api("INFO", "CREATE", "UPDATE")
    allowed = {
        INTAKE: [*_facts(INTAKE_FACTS), f"{JS_API}.STREAM.INFO.{bus.STREAM}"],
        FEEDBACK: [*_facts(FEEDBACK_FACTS), *declare],
        STORE_WRITER: [f"{bus.DEADLETTER_PREFIX}.>", *declare, *_consumer_api()],
        ADMIN: [">"],
    }
    return allowed[role]


def subscribe_allowed(role: str) -> list[str]:
    """Its own inboxes only: every service's answers come on an inbox nobody else can read."""
    return [">"] if role == ADMIN else [f"{inbox_prefix(role)}.>"]


def permissions(role: str) -> dict[str, dict[str, list[str]]]:
    """The role's permissions as nats-server's config has them."""
    if role == ADMIN:
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    return {
        "publish": {"allow": publish_allowed(role), "deny": list(NEVER)},
        "subscribe": {"allow": subscribe_allowed(role)},
    }


def _variable(role: str) -> str:
    return role.upper().replace("-", "_")


def permission_variables() -> str:
    """One variable per role (`INTAKE = {...}`), for the lines inside an `authorization` block."""
    texts = {role: json.dumps(permissions(role), indent=2).replace("\n", "\n  ") for role in ROLES}
    return "".join(f"  {_variable(role)} = {text}\n" for role, text in texts.items())


def env_variable(role: str) -> str:
    """The environment variable holding `role`'s public nkey for deploy/nats/auth.conf."""
    return f"NATS_NKEY_{_variable(role)}"


def users_entry(public_keys: Mapping[str, str]) -> str:
    """`users = [...]`: each role's public nkey (or a `$VARIABLE` naming it) with its permissions."""
    nkeys_ = {role: key if key.startswith("$") else json.dumps(key) for role, key in public_keys.items()}
    users = "".join(f"    {{nkey: {key}, permissions: ${_variable(role)}}}\n" for role, key in nkeys_.items())
    return f"  users = [\n{users}  ]\n"


def authorization_block(public_keys: Mapping[str, str]) -> str:
    """nats-server's `authorization { ... }`: these users only; anyone else is refused."""
    return "authorization {\n" + permission_variables() + users_entry(public_keys) + "}\n"


def deploy_auth_conf() -> str:
    """deploy/nats/auth.conf: the permissions; each user's public nkey from the environment."""
    header = (
        "# Generated by referral_loop/messaging/nats_auth.py (tests/test_compose.py checks it is current).\n"
        "# Who may say what on NATS, one permissions variable per role; the users' public nkeys come\n"
        "# from the environment (compose: env_file secrets/nats/nkeys.env). A missing one stops the\n"
        "# server from starting: nobody gets in anonymously.\n"
    )
    return header + authorization_block({role: f"${env_variable(role)}" for role in ROLES})


def new_seed() -> bytes:
    """A fresh user nkey seed (`SU...`)."""
    seed: bytes = nkeys.encode_seed(bytes(SigningKey.generate()), nkeys.PREFIX_BYTE_USER)
    return seed


def public_key(seed_file: Path) -> str:
    pair = nkeys.from_seed(bytearray(seed_file.read_bytes().strip()))
    key: bytes = pair.public_key
    return key.decode()


def ensure_credentials(secrets_dir: Path, roles: tuple[str, ...] = ROLES) -> dict[str, str]:
    """Each role's seed in `secrets_dir` (created once, 0600, the directory 0700); public keys by role."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)
    for role in roles:
        path = seed_path(secrets_dir, role)
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(new_seed() + b"\n")
    return {role: public_key(seed_path(secrets_dir, role)) for role in roles}


def write_compose_secrets(secrets_dir: Path) -> Path:
    """The seeds, and nkeys.env (public keys only) for the nats containers' environment."""
    keys = ensure_credentials(secrets_dir)
    path = secrets_dir / NKEYS_ENV
    path.write_text("".join(f"{env_variable(role)}={key}\n" for role, key in keys.items()))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = write_compose_secrets(Path(args[0] if args else "secrets/nats"))
    print(f"NATS seeds (0600) and {path} are in {path.parent}/; keep them out of the repository")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
