"""compose.yaml, the Dockerfile and the NATS config agree with the code.

No Docker engine runs where the tests run, so the deployment files are checked by reading them:
service names, settings, subcommands, start order, secrets and what the image contains.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from referral_loop.cli import COMMANDS
from referral_loop.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

REQUIRED_SERVICES = {"nats", "postgres", "mailpit", "intake", "store-writer", "feedback"}
APP_SERVICES = {"intake", "store-writer", "feedback"}
BACKENDS = {"nats", "postgres"}
ENV_PREFIX = "REFERRAL_LOOP_"
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)
# ${NAME}, ${NAME:?message}, ${NAME?message}, ${NAME:-default}, ${NAME-default}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[?-])?(?P<arg>[^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and "services" in data, "compose.yaml must define services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, from either the list or the mapping form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume, from the short or the long syntax."""
    result = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            source, target, *_ = str(volume).split(":")
            result.append((source, target))
    return result


def command(service: dict[str, Any]) -> list[str]:
    value = service.get("command") or []
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def without_comments(text: str, markers: str = r"#") -> str:
    """The text with comments cut off each line (YAML: #; NATS config: # and //)."""
    return "\n".join(re.split(markers, line, maxsplit=1)[0] for line in text.splitlines())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile instruction, continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def test_every_service_is_defined(services: dict[str, dict[str, Any]]) -> None:
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, (
        f"compose.yaml lacks {sorted(missing)}: the system needs NATS, PostgreSQL, Mailpit, "
        "intake and the store writer"
    )


def test_nats_runs_jetstream_with_sync_always(services: dict[str, dict[str, Any]]) -> None:
    nats = services["nats"]
    args = command(nats)
    flag = next((i for i, arg in enumerate(args) if arg in ("-c", "--config")), None)
    assert flag is not None and flag + 1 < len(args), (
        f"nats must be started with `-c <file>` so it reads the repository's config, got command {args}"
    )
    config_path = args[flag + 1]
    sources = {target: source for source, target in mounts(nats)}
    assert config_path in sources, (
        f"nats reads {config_path}, which must be mounted from the repository; mounts: {sources}"
    )
    host_file = (ROOT / sources[config_path]).resolve()
    assert host_file.is_file(), f"the mounted NATS config {host_file} must exist"

    config = without_comments(host_file.read_text(), r"#|//")
    block = re.search(r"\bjetstream\s*:?\s*\{(?P<body>[^}]*)\}", config, re.IGNORECASE)
    assert block, f"{host_file.name} must enable JetStream with a `jetstream {{ ... }}` block"
    body = block["body"]
    assert re.search(r"\bsync_interval\s*[:=]\s*\"?always\"?", body), (
        f"{host_file.name} must set `sync_interval: always` inside the jetstream block: "
        "an acknowledged publish must be on disk, not in the page cache"
    )

    store_dir = re.search(r"\bstore_dir\s*[:=]\s*\"?(?P<dir>[^\s\"]+)", body)
    assert store_dir, f"{host_file.name} must set jetstream store_dir"
    volume_targets = [target for source, target in mounts(nats) if not source.startswith(".")]
    assert any(
        store_dir["dir"] == target or store_dir["dir"].startswith(target.rstrip("/") + "/")
        for target in volume_targets
    ), (
        f"JetStream's store_dir {store_dir['dir']} must be on a volume so streams survive "
        f"a container restart; volumes at {volume_targets}"
    )


def test_every_app_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    fields = set(Settings.model_fields)
    for name, service in services.items():
        for key in environment(service):
            if not key.startswith(ENV_PREFIX):
                continue
            field = key.removeprefix(ENV_PREFIX).lower()
            assert field in fields, (
                f"service {name} sets {key}, but Settings has no field {field!r}: "
                "pydantic-settings would silently ignore it"
            )


def test_app_services_run_a_cli_subcommand(services: dict[str, dict[str, Any]]) -> None:
    built = {name for name, service in services.items() if "build" in service}
    assert built >= APP_SERVICES, (
        f"{sorted(APP_SERVICES - built)} must be built from this repository's Dockerfile"
    )
    for name in sorted(built):
        args = command(services[name])
        assert args, f"{name} must name its subcommand, the image's CMD is only a default"
        assert args[0] in COMMANDS, (
            f"{name} runs `referral-loop {args[0]}`, which is not a subcommand in "
            f"referral_loop.cli.COMMANDS ({sorted(COMMANDS)})"
        )
    for name in APP_SERVICES:
        assert command(services[name])[0] == name, f"service {name} must run the subcommand of the same name"


def test_app_services_wait_for_healthy_backends(services: dict[str, dict[str, Any]]) -> None:
    for name in sorted(APP_SERVICES):
        depends = services[name].get("depends_on") or {}
        assert isinstance(depends, dict), (
            f"{name}: depends_on must use the long form with `condition: service_healthy`; "
            "the short form only waits for the container to start"
        )
        for backend in sorted(BACKENDS):
            condition = (depends.get(backend) or {}).get("condition")
            assert condition == "service_healthy", (
                f"{name} must wait until {backend} is healthy (got condition {condition!r}), "
                "or its first connection fails while the backend is still starting"
            )
    for backend in sorted(BACKENDS):
        assert services[backend].get("healthcheck"), (
            f"{backend} needs a healthcheck, or `service_healthy` can never be met"
        )


def test_no_password_is_written_into_compose(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in environment(service).items():
            if not SECRET_KEY.search(key):
                continue
            match = INTERPOLATION.fullmatch(value)
            assert match, (
                f"service {name} sets {key} to a literal value; secrets come from the "
                "environment or .env as ${VARIABLE}, never from the repository"
            )
            assert match["op"] in (None, "?", ":?"), (
                f"service {name}: {key} has a default ({value}), which is a password in the "
                "repository; use ${VARIABLE:?message} so compose refuses to start without it"
            )

    text = without_comments(COMPOSE_FILE.read_text())
    for line in text.splitlines():
        assignment = re.search(r"[A-Z_]*(PASSWORD|SECRET|TOKEN)[A-Z_]*\"?\s*[:=]\s*(?P<value>\S.*)", line)
        if assignment:
            value = assignment["value"].strip().strip("\"'")
            assert value.startswith(("${", "$${")), (
                f"compose.yaml line {line.strip()!r} writes a secret literally; "
                "use ${VARIABLE} interpolation"
            )


def test_interpolated_variables_are_documented(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text().replace("$$", "")  # $$ is an escaped, container-side $
    used = {match["name"] for match in INTERPOLATION.finditer(text)}
    documented = {
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    missing = used - documented
    assert not missing, f".env.example must document every variable compose.yaml reads: {missing}"
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert ".env" in gitignore, ".env holds secrets and must be listed in .gitignore"


def test_dockerfile_runs_the_cli_and_copies_every_package() -> None:
    instructions = dockerfile_instructions()
    entrypoints = [arguments for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints, "the Dockerfile must set an ENTRYPOINT"
    assert json.loads(entrypoints[-1]) == ["referral-loop"], (
        "the image's ENTRYPOINT must be the referral-loop CLI (exec form) so compose "
        "commands are its subcommands"
    )

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "referral-loop" in pyproject["project"]["scripts"], (
        "pyproject must install the referral-loop script the ENTRYPOINT runs"
    )
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in include}
    copied: set[str] = set()
    for keyword, arguments in instructions:
        if keyword in ("COPY", "ADD"):
            parts = [part for part in shlex.split(arguments) if not part.startswith("--")]
            copied.update(part.rstrip("/") for part in parts[:-1])
    missing = packages - copied
    assert not missing, (
        f"the Dockerfile must COPY every package pyproject installs, missing {sorted(missing)}: "
        "`pip install .` would build an image without them"
    )
    assert "pyproject.toml" in copied, "the Dockerfile must COPY pyproject.toml to pip install ."

    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
