"""A lean HTTP/1.1 keep-alive client for driving intake at rates httpx cannot reach on 2 cores.

Only what the benchmark needs: JSON POSTs with Basic auth over a few persistent connections,
answers with Content-Length (uvicorn's). The client's own cost per request is a few µs, so what
is measured is intake, not the load generator.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host, self.port = host, port
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.fixed = f"Host: {host}:{port}\r\nAuthorization: Basic {token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, payload: bytes) -> Answer:
        assert self.reader is not None and self.writer is not None, "open() first"
        head = (
            f"POST {path} HTTP/1.1\r\n{self.fixed}Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        return await self._answer(self.reader)

    @staticmethod
    async def _answer(reader: asyncio.StreamReader) -> Answer:
        status = int((await reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return Answer(status, await reader.readexactly(length) if length else b"")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


class Pool:
    """`size` connections; `post` borrows a free one (so at most `size` requests are in flight)."""

    def __init__(self, host: str, port: int, user: str, password: str, size: int) -> None:
        self.connections = [Connection(host, port, user, password) for _ in range(size)]
        self.free: asyncio.Queue[Connection] = asyncio.Queue()

    async def __aenter__(self) -> Pool:
        for connection in self.connections:
            await connection.open()
            self.free.put_nowait(connection)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connection in self.connections:
            await connection.close()

    async def post(self, path: str, payload: bytes) -> Answer:
        connection = await self.free.get()
        try:
            return await connection.post(path, payload)
        finally:
            self.free.put_nowait(connection)
