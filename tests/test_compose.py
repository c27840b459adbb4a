"""compose.yaml, the Dockerfile and the NATS config agree with the code.

No Docker engine runs where the tests run, so the deployment files are checked by reading them:
service names, settings, subcommands, start order, secrets and what the image contains. What
`docker compose up` starts, with or without the `cluster` profile, is worked out here from the
file and an env file the way compose does (interpolation, then profiles). The cluster profile's
NATS config is also run: three real nats-servers from deploy/nats/cluster.conf, on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from nats.js.api import StreamInfo

from launcher.cli import COMMANDS
from launcher.natsd import free_port, nats_server_binary, spawn, stop_process
from referral_loop.messaging.nats_auth import ADMIN, ensure_credentials, env_variable, seed_path
from referral_loop.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
ENV_CLUSTER_EXAMPLE = ROOT / ".env.cluster.example"
NATS_CONFIG_DIR = ROOT / "deploy" / "nats"
CLUSTER_CONF = NATS_CONFIG_DIR / "cluster.conf"

REQUIRED_SERVICES = {"nats", "postgres", "mailpit", "intake", "store-writer", "feedback", "projections"}
APP_SERVICES = {"intake", "store-writer", "feedback", "projections"}
REPLICATED_ROLES = ("store-writer", "feedback", "projections")
"""The roles the cluster profile runs twice (one replica works at a time, by a lease)."""
BACKENDS = {"nats", "postgres"}
CLUSTER_PROFILE = "cluster"
NATS_IMAGE = "nats:"
OPS_PORT_SETTING = {
    "intake": "REFERRAL_LOOP_INTAKE_PORT",
    "store-writer": "REFERRAL_LOOP_STORE_WRITER_OPS_PORT",
    "feedback": "REFERRAL_LOOP_FEEDBACK_OPS_PORT",
    "projections": "REFERRAL_LOOP_OPS_PORT",
}
"""Each role's setting of the port its /readyz answers on."""
MONITOR_PORT = 8222
"""NATS monitoring in the containers: on loopback, for the healthcheck run inside each."""
JETSTREAM_KEY = "JETSTREAM_KEY"
"""The variable every NATS node reads its encryption key from."""
NATS_COMMENTS = r"#|(?<!:)//"
"""Comments in a NATS config: # or // (but not the // of a URL such as nats://nats:6222)."""
ENV_PREFIX = "REFERRAL_LOOP_"
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$", re.IGNORECASE)
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
    """The text with comments cut off each line (YAML: #; NATS config: NATS_COMMENTS)."""
    return "\n".join(re.split(markers, line, maxsplit=1)[0] for line in text.splitlines())


def env_file(path: Path) -> dict[str, str]:
    """The variables an env file sets (KEY=VALUE lines; # starts a comment line)."""
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """`node` (a value of compose.yaml, nested) with ${...} filled in from `env`, as compose does."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if not isinstance(node, str):
        return node

    def one(match: re.Match[str]) -> str:
        value, op, arg = env.get(match["name"]), match["op"], match["arg"]
        if op in ("?", ":?") and (value is None or (op == ":?" and not value)):
            raise AssertionError(f"compose would refuse to start: {match['name']}: {arg}")
        if (op == ":-" and not value) or (op == "-" and value is None):
            return str(arg)
        return value or ""

    return INTERPOLATION.sub(one, node.replace("$$", "\0")).replace("\0", "$")


def topology(env: dict[str, str], profiles: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """The services `docker compose [--profile P] up` starts with these variables, filled in."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    return {
        name: interpolate(service, env)
        for name, service in data["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


def default_topology() -> dict[str, dict[str, Any]]:
    """`docker compose up` with .env copied from .env.example."""
    return topology(env_file(ENV_EXAMPLE))


def cluster_topology() -> dict[str, dict[str, Any]]:
    """`docker compose --env-file .env.cluster --profile cluster up` (.env.cluster.example)."""
    return topology(env_file(ENV_CLUSTER_EXAMPLE), (CLUSTER_PROFILE,))


def nats_nodes(services: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(
        name for name, service in services.items() if str(service.get("image", "")).startswith(NATS_IMAGE)
    )


def replicas(services: dict[str, dict[str, Any]], role: str) -> list[str]:
    """The built services that run `role`'s subcommand."""
    return sorted(
        name for name, service in services.items() if "build" in service and command(service)[:1] == [role]
    )


def nats_config_file(name: str, service: dict[str, Any]) -> Path:
    """The repository's file a NATS service reads (`-c <file>`, mounted from the repository)."""
    args = command(service)
    flag = next((i for i, arg in enumerate(args) if arg in ("-c", "--config")), None)
    assert flag is not None and flag + 1 < len(args), (
        f"{name} must be started with `-c <file>` so it reads the repository's config, got command {args}"
    )
    config_path = args[flag + 1]
    sources = {target: source for source, target in mounts(service)}
    assert config_path in sources, (
        f"{name} reads {config_path}, which must be mounted from the repository; mounts: {sources}"
    )
    host_file = (ROOT / sources[config_path]).resolve()
    assert host_file.is_file(), f"the NATS config {host_file} that {name} mounts must exist"
    return host_file


def block(config: str, name: str) -> str | None:
    """The body of a `name { ... }` block of a NATS config (blocks here hold no nested braces)."""
    found = re.search(rf"^\s*{name}\s*:?\s*\{{(?P<body>[^}}]*)\}}", config, re.IGNORECASE | re.MULTILINE)
    return found["body"] if found else None


def assert_jetstream_on_a_volume(name: str, service: dict[str, Any], host_file: Path) -> str:
    """JetStream on, `sync_interval: always`, store_dir on a named volume; that volume's name."""
    config = without_comments(host_file.read_text(), NATS_COMMENTS)
    body = block(config, "jetstream")
    assert body is not None, f"{host_file.name} must enable JetStream with a `jetstream {{ ... }}` block"
    assert re.search(r"\bsync_interval\s*[:=]\s*\"?always\"?", body), (
        f"{host_file.name} must set `sync_interval: always` inside the jetstream block: "
        "an acknowledged publish must be on disk, not in the page cache"
    )

    store_dir = re.search(r"\bstore_dir\s*[:=]\s*\"?(?P<dir>[^\s\"]+)", body)
    assert store_dir, f"{host_file.name} must set jetstream store_dir"
    volumes = {target: source for source, target in mounts(service) if not source.startswith(".")}
    holding = [
        source
        for target, source in volumes.items()
        if store_dir["dir"] == target or store_dir["dir"].startswith(target.rstrip("/") + "/")
    ]
    assert holding, (
        f"{name}: JetStream's store_dir {store_dir['dir']} must be on a volume so streams survive "
        f"a container restart; volumes at {sorted(volumes)}"
    )
    return holding[0]


def published_host_ports(service: dict[str, Any]) -> list[str]:
    """The host side of each `ports` entry (short syntax [ip:]host:container, or long syntax)."""
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published"):
                found.append(str(port["published"]))
        elif ":" in str(port):
            found.append(str(port).split(":")[-2])
    return found


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


def test_nats_runs_jetstream_with_sync_always() -> None:
    nats_service = default_topology()["nats"]
    host_file = nats_config_file("nats", nats_service)
    assert host_file == NATS_CONFIG_DIR / "nats.conf", (
        f"without the cluster profile nats must read deploy/nats/nats.conf, it reads {host_file}"
    )
    assert_jetstream_on_a_volume("nats", nats_service, host_file)


def test_every_nats_node_encrypts_jetstream_with_a_key_from_the_environment(compose: dict[str, Any]) -> None:
    """The streams hold PHI: each node's config turns encryption at rest on with the key by
    reference ($JETSTREAM_KEY), compose gives it from .env (refusing to start without it), and
    monitoring listens on the container's loopback only."""
    cluster = cluster_topology()
    for name in nats_nodes(cluster):
        config = without_comments(nats_config_file(name, cluster[name]).read_text(), NATS_COMMENTS)
        body = block(config, "jetstream") or ""
        assert re.search(r"^\s*cipher\s*[:=]\s*\"?(chachapoly|aes)\"?\s*$", body, re.M), name
        assert re.search(rf"^\s*key\s*[:=]\s*\${JETSTREAM_KEY}\s*$", body, re.M), (
            f"{name}: the JetStream key comes from the environment, never from the file"
        )
        assert re.search(rf"^http\s*[:=]\s*\"?127\.0\.0\.1:{MONITOR_PORT}\"?\s*$", config, re.M), name
        raw = environment(compose["services"][name]).get(JETSTREAM_KEY, "")
        match = INTERPOLATION.fullmatch(raw)
        assert match and match["name"] == JETSTREAM_KEY and match["op"] == ":?", (
            f"{name} must get JETSTREAM_KEY from .env and refuse to start without it, got {raw!r}"
        )
    assert JETSTREAM_KEY in env_file(ENV_EXAMPLE) and JETSTREAM_KEY in env_file(ENV_CLUSTER_EXAMPLE)


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
            f"launcher.cli.COMMANDS ({sorted(COMMANDS)})"
        )
    for name in APP_SERVICES:
        assert command(services[name])[0] == name, f"service {name} must run the subcommand of the same name"


def test_app_services_wait_for_healthy_backends(services: dict[str, dict[str, Any]]) -> None:
    built = {name for name, service in services.items() if "build" in service}
    for name in sorted(built):
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


def test_env_example_gives_the_defaults_compose_falls_back_on() -> None:
    """Copying .env.example to .env changes nothing but the secrets: no .env.example value
    quietly differs from compose.yaml's own default (e.g. a cluster setting left in it)."""
    example = env_file(ENV_EXAMPLE)
    secrets = {name: example[name] for name in ("POSTGRES_PASSWORD", "STORE_KEY", "JETSTREAM_KEY")}
    assert topology(secrets) == default_topology()


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


def test_app_services_are_healthy_only_when_ready(services: dict[str, dict[str, Any]]) -> None:
    """Each app service's healthcheck (second replicas too) asks its /readyz, on the port its
    environment gives it; intake and projections publish that port."""
    built = {name for name, service in services.items() if "build" in service}
    assert built >= APP_SERVICES
    for name in sorted(built):
        role = command(services[name])[0]
        setting = OPS_PORT_SETTING[role]
        test = " ".join(str(part) for part in (services[name].get("healthcheck") or {}).get("test") or [])
        port = environment(services[name]).get(setting, "")
        assert port and f"127.0.0.1:{port}/readyz" in test, (
            f"{name}'s healthcheck must ask http://127.0.0.1:{port or '<its port>'}/readyz "
            f"(set {setting}), got {test!r}"
        )
        if role != "intake":
            assert environment(services[name]).get("REFERRAL_LOOP_OPS_HOST") == "0.0.0.0", (
                f"{name}'s ops endpoints must listen beyond loopback inside its container"
            )
    for name in ("intake", "projections"):
        port = environment(services[name])[OPS_PORT_SETTING[name]]
        container_ports = [str(p).rsplit(":", 1)[-1] for p in services[name].get("ports") or []]
        assert port in container_ports, f"{name} must publish its port {port}, publishes {container_ports}"


def test_default_topology_is_one_node_and_one_of_each() -> None:
    """`docker compose up` (no profile, .env from .env.example) is the one-machine topology."""
    default = default_topology()
    assert set(default) == REQUIRED_SERVICES, (
        f"without a profile compose must start exactly {sorted(REQUIRED_SERVICES)}, got {sorted(default)}"
    )
    assert nats_nodes(default) == ["nats"], f"one NATS node without a profile, got {nats_nodes(default)}"
    for role in sorted(APP_SERVICES):
        assert replicas(default, role) == [role], (
            f"one {role} without a profile, got {replicas(default, role)}"
        )
        env = environment(default[role])
        assert env.get("REFERRAL_LOOP_NATS_URL") == "nats://nats:4222", (
            f"{role} must reach the single node, got {env.get('REFERRAL_LOOP_NATS_URL')!r}"
        )
        assert env.get("REFERRAL_LOOP_NATS_REPLICAS") == "1", (
            f"{role}: one node holds one replica of a stream, got {env.get('REFERRAL_LOOP_NATS_REPLICAS')!r}"
        )


def test_cluster_profile_runs_three_routed_nats_nodes(compose: dict[str, Any]) -> None:
    """Three nodes, each reading cluster.conf under a name of its own, routed to all three
    service names, with JetStream synced on every write into a volume of its own."""
    cluster = cluster_topology()
    nodes = nats_nodes(cluster)
    assert len(nodes) == 3 and "nats" in nodes, (
        f"the cluster profile must run nats and two more nodes, got {nodes}"
    )
    for name in nodes:
        if name != "nats":
            assert compose["services"][name].get("profiles") == [CLUSTER_PROFILE], (
                f"{name} must run only in the cluster profile, so `docker compose up` keeps one node"
            )

    names, volumes = set(), set()
    for name in nodes:
        host_file = nats_config_file(name, cluster[name])
        assert host_file == CLUSTER_CONF, f"{name} must read deploy/nats/cluster.conf, it reads {host_file}"
        volume = assert_jetstream_on_a_volume(name, cluster[name], host_file)
        assert volume in (compose.get("volumes") or {}), (
            f"{name}'s store volume {volume} must be a named volume"
        )
        volumes.add(volume)
        names.add(environment(cluster[name]).get("NATS_SERVER_NAME"))
        assert cluster[name].get("healthcheck"), f"{name} needs a healthcheck"
    assert len(volumes) == 3, f"each node must keep its JetStream store on a volume of its own, got {volumes}"
    assert None not in names and len(names) == 3, (
        f"each node must set a NATS_SERVER_NAME of its own (JetStream needs unique names), got {names}"
    )

    config = without_comments(CLUSTER_CONF.read_text(), NATS_COMMENTS)
    assert re.search(r"^\s*server_name\s*[:=]\s*\$NATS_SERVER_NAME\s*$", config, re.M), (
        "cluster.conf must take its server_name from $NATS_SERVER_NAME, set per node"
    )
    body = block(config, "cluster")
    assert body is not None, "cluster.conf must have a `cluster { ... }` block"
    assert re.search(r"\bname\s*[:=]\s*\"?referral-loop\"?", body), "the cluster must be named referral-loop"
    assert re.search(r"\blisten\s*[:=]\s*\"?0\.0\.0\.0:6222\b", body), "nodes must listen for routes on 6222"
    routes = set(re.findall(r"nats://[^\s,\]\"]+", body))
    assert routes == {f"nats://{name}:6222" for name in nodes}, (
        f"cluster.conf must route to every node by service name ({nodes}), routes {sorted(routes)}"
    )


def test_every_role_has_a_second_replica_in_the_cluster_profile_only(compose: dict[str, Any]) -> None:
    """Two of each of the store writer, feedback and projections, the same image, command and
    settings; on PostgreSQL, whose advisory locks are the lease shared across containers."""
    default, cluster = default_topology(), cluster_topology()
    nodes = nats_nodes(cluster)
    for role in REPLICATED_ROLES:
        assert replicas(cluster, role) == [role, f"{role}-2"], (
            f"the cluster profile must run {role} and {role}-2, got {replicas(cluster, role)}"
        )
        assert replicas(default, role) == [role], f"{role}-2 must run only in the cluster profile"
        assert compose["services"][f"{role}-2"].get("profiles") == [CLUSTER_PROFILE]
        first, second = cluster[role], cluster[f"{role}-2"]
        for key in ("build", "image", "command", "environment", "healthcheck"):
            assert first.get(key) == second.get(key), f"{role}-2's {key} must be {role}'s"
        env = environment(second)
        assert env.get("REFERRAL_LOOP_STORE") == "postgres", (
            f"{role}'s replicas must share a PostgreSQL store: a SQLite file lock would be one "
            "lease per container, and both replicas would work at once"
        )
        urls = set(env.get("REFERRAL_LOOP_NATS_URL", "").split(","))
        assert urls == {f"nats://{name}:4222" for name in nodes}, (
            f"{role} must know every NATS node, got {urls}"
        )
        assert env.get("REFERRAL_LOOP_NATS_REPLICAS") == "3", f"{role} must create the streams at 3 replicas"
        depends = second.get("depends_on") or {}
        for needed in [*nodes, "postgres"]:
            assert (depends.get(needed) or {}).get("condition") == "service_healthy", (
                f"{role}-2 must wait until {needed} is healthy"
            )

    published: dict[str, str] = {}
    for name, service in cluster.items():
        for port in published_host_ports(service):
            assert port not in published, f"{name} and {published[port]} both publish host port {port}"
            published[port] = name


def test_env_cluster_example_sets_up_the_cluster() -> None:
    """.env.cluster.example has every variable of .env.example, the cluster's config, the three
    nodes' client URLs and replicas 3; the copy with the password is never committed."""
    example, cluster_env = env_file(ENV_EXAMPLE), env_file(ENV_CLUSTER_EXAMPLE)
    missing = example.keys() - cluster_env.keys()
    assert not missing, f".env.cluster.example must set every variable .env.example does, missing {missing}"
    assert cluster_env["NATS_CONFIG"] == CLUSTER_CONF.name
    assert cluster_env["NATS_REPLICAS"] == "3"
    listen = re.search(r"^listen\s*[:=]\s*\"?[\d.]+:(?P<port>\d+)", CLUSTER_CONF.read_text(), re.M)
    assert listen, "cluster.conf must set the client port with `listen: <host>:<port>`"
    urls = cluster_env["NATS_URL"].split(",")
    expected = [f"nats://{name}:{listen['port']}" for name in nats_nodes(cluster_topology())]
    assert sorted(urls) == sorted(expected), f"NATS_URL must list all three nodes {expected}, got {urls}"
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert ".env.cluster" in gitignore, ".env.cluster holds secrets and must be listed in .gitignore"


def render_cluster_conf(text: str, ports: dict[int, int], store_dir: Path, routes: dict[str, int]) -> str:
    """cluster.conf for a node on loopback: `ports` for 4222, 8222 and 6222, routes to 127.0.0.1
    at `routes` (by service name), JetStream in `store_dir`. Each piece must be there once."""
    substitutions = {
        f"{'127.0.0.1' if port == MONITOR_PORT else '0.0.0.0'}:{port}": f"127.0.0.1:{new}"
        for port, new in ports.items()
    }
    substitutions["/data/jetstream"] = json.dumps(str(store_dir))
    substitutions |= {f"nats://{name}:6222": f"nats://127.0.0.1:{port}" for name, port in routes.items()}
    text = without_comments(text, NATS_COMMENTS)
    for old, new in substitutions.items():
        assert text.count(old) == 1, f"cluster.conf was expected to hold {old!r} once"
        text = text.replace(old, new)
    return text


def wait_healthy(http_port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    url = f"http://127.0.0.1:{http_port}/healthz?js-enabled-only=true"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"a nats-server exited:\n{log.read_text(errors='replace')}"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"a node never became healthy:\n{log.read_text(errors='replace')}")


CLUSTER_KEY = "a-test-jetstream-key-of-44-characters-000000"


async def replicated_stream(urls: list[str], admin_seed: Path, timeout: float = 10.0) -> StreamInfo:
    """Create a stream at 3 replicas, publish to it, and wait until its leader has 2 current peers."""
    nc = await nats.connect(servers=urls, connect_timeout=2, nkeys_seed=str(admin_seed))
    try:
        js = nc.jetstream(timeout=2)
        deadline = time.monotonic() + timeout
        while True:  # the meta leader may still be in election
            try:
                await js.add_stream(name="CLUSTER_CHECK", subjects=["cluster.check"], num_replicas=3)
                break
            except (nats.errors.Error, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        ack = await js.publish("cluster.check", b"routed")
        assert ack.stream == "CLUSTER_CHECK"
        while True:
            info = await js.stream_info("CLUSTER_CHECK")
            peers = (info.cluster.replicas or []) if info.cluster else []
            if info.cluster and info.cluster.leader and len(peers) == 2 and all(p.current for p in peers):
                return info
            assert time.monotonic() < deadline, f"the stream's replicas never caught up: {info.cluster}"
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


def test_cluster_conf_forms_a_jetstream_cluster(tmp_path: Path) -> None:
    """deploy/nats/cluster.conf, rendered for loopback, run as three real nats-servers: they meet,
    and a stream at 3 replicas gets a leader and two current followers. The nodes admit the users
    of deploy/nats/auth.conf (public keys from the environment, as compose's env_file gives them):
    the stream is made by the admin user."""
    nodes = nats_nodes(cluster_topology())
    (tmp_path / "auth.conf").write_text((NATS_CONFIG_DIR / "auth.conf").read_text())
    keys = ensure_credentials(tmp_path / "secrets")
    public = {env_variable(role): key for role, key in keys.items()}
    ports = {name: {4222: free_port(), 8222: free_port(), 6222: free_port()} for name in nodes}
    routes = {name: ports[name][6222] for name in nodes}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in nodes:
            conf = tmp_path / f"{name}.conf"
            conf.write_text(
                render_cluster_conf(CLUSTER_CONF.read_text(), ports[name], tmp_path / name, routes)
            )
            env = {**os.environ, **public, "NATS_SERVER_NAME": name, JETSTREAM_KEY: CLUSTER_KEY}
            processes[name] = spawn(
                [str(nats_server_binary()), "-c", str(conf)], tmp_path / f"{name}.log", env
            )
        for name in nodes:
            wait_healthy(ports[name][8222], processes[name], tmp_path / f"{name}.log", timeout=10)

        urls = [f"nats://127.0.0.1:{ports[name][4222]}" for name in nodes]
        info = asyncio.run(replicated_stream(urls, seed_path(tmp_path / "secrets", ADMIN)))
        assert info.cluster is not None and info.cluster.name == "referral-loop"
        members = {info.cluster.leader, *(peer.name for peer in info.cluster.replicas or [])}
        assert members == set(nodes), f"the stream must live on every node ({nodes}), it is on {members}"
        assert info.state.messages == 1
        stored = [p for p in tmp_path.rglob("*") if p.is_file() and b"routed" in p.read_bytes()]
        assert stored == [], "the message is readable in a node's files: encryption at rest is off"
    finally:
        for process in processes.values():
            stop_process(process, signal.SIGTERM, timeout=5)
