"""The scale-out topology on one machine: three clustered nats-servers with the streams at
replicas 3, an embedded PostgreSQL holding the referral store, feedback's store and the views,
two replicas each of the store writer, feedback and projections (one leads each role, the other
stands by: `referral_loop.leading`), intake, and the mail sink. The same code as `make run`;
only settings differ. Every node admits the same users (each service's nkey, with its
permissions), so a client keeps its identity whichever node it reaches, and encrypts its
JetStream files with the JetStream key (`launcher.jetstream_key`). `make cluster` runs it
(reliability/cluster_run.py); the cluster fault test drives it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack import postgres_store, stack_settings, wait_http
from contracts import bus
from launcher.devstack import Child
from launcher.jetstream_key import encryption, with_local_jetstream_key
from launcher.natsd import ClusterConfig, JetStreamEncryption, NatsServer, free_port
from referral_loop.messaging.bus import connect
from referral_loop.messaging.nats_auth import ADMIN, ensure_credentials, seed_path
from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users

REPLICATED = ("store-writer", "feedback", "projections")
OPS_PORT_SETTING = {
    "store-writer": "store_writer_ops_port",
    "feedback": "feedback_ops_port",
    "projections": "ops_port",
}
NODES = 3
READY_TIMEOUT_S = 60.0


@dataclass
class Cluster:
    settings: Settings
    nodes: list[NatsServer]
    password: str
    """The local intake user's."""
    children: dict[str, Child] = field(default_factory=dict)
    """By replica name: mail-sink, store-writer-1, store-writer-2, ..., intake."""
    replica_settings: dict[str, Settings] = field(default_factory=dict)

    def start(self, name: str) -> None:
        service = name.rsplit("-", 1)[0] if name[-1].isdigit() else name
        self.children[name] = Child.start(
            service, self.replica_settings.get(name, self.settings), log_name=name
        )

    def ops_url(self, name: str) -> str:
        """Where a replica answers /healthz, /readyz and /metrics."""
        replica = self.replica_settings[name]
        service = name.rsplit("-", 1)[0]
        return f"http://{replica.ops_host}:{getattr(replica, OPS_PORT_SETTING[service])}"

    def pids(self) -> dict[str, int]:
        found = {name: child.process.pid for name, child in self.children.items()}
        found |= {node.server_name: node.pid for node in self.nodes if node.pid is not None}
        return found

    def check(self) -> None:
        """Raise if a process died (what bench.stack.wait_http asks of a stack while it waits)."""
        for name, child in self.children.items():
            if child.process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {child.process.returncode}; see {self.settings.data_dir}/logs"
                )

    def node(self, server_name: str) -> NatsServer:
        return next(node for node in self.nodes if node.server_name == server_name)

    def stream_leader(self) -> NatsServer:
        """The node that leads the REFERRALS stream now."""
        return self.node(asyncio.run(_stream_leader(self.settings)))

    def leading_replica(self, role: str) -> str:
        """The replica of `role` (feedback, projections) that leads it now, by its metric."""
        for name in (f"{role}-1", f"{role}-2"):
            if name in self.children and _leading(self.ops_url(name)):
                return name
        raise LookupError(f"no replica of {role} leads")

    def kill(self, name: str) -> None:
        """SIGKILL a replica or a nats node (n1, n2, n3) and reap it."""
        if name in {node.server_name for node in self.nodes}:
            self.node(name).kill()
            return
        child = self.children.pop(name)  # a killed replica is no longer expected to run
        child.process.kill()
        child.process.wait()

    def restart(self, name: str) -> None:
        if name in {node.server_name for node in self.nodes}:
            self.node(name).start()
            self.node(name).wait_ready(timeout=READY_TIMEOUT_S)
            return
        self.start(name)
        wait_http(f"{self.ops_url(name)}/healthz", self.check)


def _leading(ops_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{ops_url}/metrics", timeout=2) as answer:  # noqa: S310 (built here)
            return "referral_loop_leading 1.0" in answer.read().decode()
    except OSError:
        return False


async def _stream_leader(settings: Settings) -> str:
    admin = settings.model_copy(update={"nats_nkey_file": seed_path(settings.nats_secrets_path, ADMIN)})
    nc = await connect(admin, ADMIN, max_reconnect_attempts=60)  # nats-py's default: gives up, in time
    try:
        info = await nc.jetstream().stream_info(bus.STREAM)
        assert info.cluster is not None and info.cluster.leader is not None, "the stream has no leader"
        return info.cluster.leader
    finally:
        await nc.close()


def cluster_encryption(root: Path) -> JetStreamEncryption | None:
    """The nodes' JetStream encryption: the configured key, else `root/secrets/jetstream.key`
    (made once, 0600), as `make run` does."""
    return encryption(with_local_jetstream_key(Settings(data_dir=root)))


def cluster_nodes(
    root: Path, users: dict[str, str], count: int = NODES, encrypted: JetStreamEncryption | None = None
) -> list[NatsServer]:
    """`count` nats-servers, each routed to all the others, JetStream on (encrypted at rest with
    `encrypted`), on free ports, each admitting `users` (role -> public nkey)."""
    routes = [ClusterConfig(name="referral-loop") for _ in range(count)]
    return [
        NatsServer(
            store_dir=root / f"n{i}" / "store",
            server_name=f"n{i}",
            users=users,
            encryption=encrypted,
            cluster=ClusterConfig(
                name="referral-loop", port=own.port, routes=[r.url for r in routes if r is not own]
            ),
        )
        for i, own in enumerate(routes, start=1)
    ]


def start_nodes(nodes: list[NatsServer]) -> None:
    """Start every node, then wait for each (JetStream is ready only once the nodes meet)."""
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready(timeout=READY_TIMEOUT_S)


def replica_settings(settings: Settings) -> dict[str, Settings]:
    """Two of each replicated service, each with ops endpoints of its own."""
    found = {}
    for service in REPLICATED:
        for i in (1, 2):
            ports = {OPS_PORT_SETTING[service]: free_port()}
            found[f"{service}-{i}"] = settings.model_copy(update=ports)
    return found


@contextmanager
def running_cluster(root: Path) -> Iterator[Cluster]:
    """The whole scale-out topology in `root`, ready; everything stopped on leaving."""
    with ExitStack() as stop:
        store = stop.enter_context(postgres_store(root))
        users = ensure_credentials(Settings(data_dir=root).nats_secrets_path)
        nodes = cluster_nodes(root, users, encrypted=cluster_encryption(root))
        stop.callback(lambda: [node.stop() for node in nodes])
        start_nodes(nodes)
        urls = ",".join(node.url for node in nodes)
        settings = stack_settings(root, urls, {**store, "nats_replicas": NODES})
        password = ensure_local_users(settings.users_path)["intake"]["password"]  # before intake starts
        cluster = Cluster(settings, nodes, password, replica_settings=replica_settings(settings))
        stop.callback(lambda: [child.stop() for child in reversed(cluster.children.values())])
        for name in ["mail-sink", *cluster.replica_settings, "intake"]:
            cluster.start(name)
            if name.endswith("-1"):
                time.sleep(0.5)  # the first replica of each role leads (easier to read in the logs)
        wait_ready(cluster)
        yield cluster


def wait_ready(cluster: Cluster) -> None:
    wait_http(f"{cluster.settings.base_url}/readyz", cluster.check)
    for name in cluster.replica_settings:
        wait_http(f"{cluster.ops_url(name)}/healthz", cluster.check)
