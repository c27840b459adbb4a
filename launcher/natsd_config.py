"""The pieces of a nats-server configuration file that `launcher.natsd` writes.

`JetStreamEncryption` turns on JetStream's encryption at rest (every message block, stream and
consumer metadata file encrypted). The key itself never goes into the file: the file says
`key: $JETSTREAM_KEY` and the server reads that variable from its environment, which only the
nats-server process is given (`environment()`).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

JETSTREAM_KEY_VARIABLE = "JETSTREAM_KEY"
"""The environment variable nats-server reads its JetStream key from (compose uses it too)."""
Cipher = Literal["chachapoly", "aes"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def quoted(value: str | Path) -> str:
    return json.dumps(str(value))


@dataclass
class ClusterConfig:
    """Route settings for one node of a cluster; `routes` are the other nodes' cluster URLs."""

    name: str = "referral-loop"
    host: str = "127.0.0.1"
    port: int = 0
    routes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port(self.host)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def config_block(self) -> str:
        routes = ", ".join(quoted(route) for route in self.routes)
        return (
            "cluster {\n"
            f"  name: {quoted(self.name)}\n"
            f"  listen: {quoted(f'{self.host}:{self.port}')}\n"
            f"  routes: [{routes}]\n"
            "}\n"
        )


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate (chain) and private key, PEM: clients must use TLS and verify it."""

    cert_file: Path
    key_file: Path

    def config_block(self) -> str:
        return f"tls {{\n  cert_file: {quoted(self.cert_file)}\n  key_file: {quoted(self.key_file)}\n}}\n"


@dataclass(frozen=True)
class JetStreamEncryption:
    """JetStream encryption at rest: the cipher and the key (a secret, never in a file or a repr)."""

    key: str = field(repr=False)
    cipher: Cipher = "chachapoly"

    def config_lines(self) -> str:
        """Inside the jetstream block: the key by reference to the environment only."""
        return f"  cipher: {self.cipher}\n  key: ${JETSTREAM_KEY_VARIABLE}\n"

    def environment(self) -> dict[str, str]:
        return {JETSTREAM_KEY_VARIABLE: self.key}
