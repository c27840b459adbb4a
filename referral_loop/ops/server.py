"""A tiny HTTP/1.1 server on the process's own event loop, for the ops endpoints of services that
have no web app (the store writer, feedback). GET and HEAD only, one request per connection, no
body read: a few coroutines, nothing on the hot path until Prometheus or a probe asks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from http import HTTPStatus

from referral_loop.ops.endpoints import Handler, Response

log = logging.getLogger(__name__)
REQUEST_TIMEOUT_S = 5.0
MAX_HEAD_BYTES = 8192


class OpsServer:
    def __init__(self, host: str, port: int, routes: Mapping[str, Handler]) -> None:
        self.host, self.port, self.routes = host, port, routes
        self._server: asyncio.Server | None = None

    async def start(self) -> OpsServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("ops endpoints on http://%s:%d (/healthz, /readyz, /metrics)", self.host, self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(read_request(reader), REQUEST_TIMEOUT_S)
            response = await self.answer(method, path)
            writer.write(encode(response, head_only=method == "HEAD"))
            await writer.drain()
        except (
            TimeoutError,
            ConnectionError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # a client that went away or spoke no HTTP: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def answer(self, method: str, path: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed")
        handler = self.routes.get(path.split("?", 1)[0])
        if handler is None:
            return Response(404, b"not found")
        try:
            return await handler()
        except Exception:
            log.exception("ops endpoint %s failed", path.split("?", 1)[0])
            return Response(500, b"error")


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path of the request line; the headers are read and ignored."""
    head = await reader.readuntil(b"\r\n\r\n")
    method, path, _ = head.split(b"\r\n", 1)[0].decode("ascii").split(" ", 2)
    return method, path


def encode(response: Response, head_only: bool = False) -> bytes:
    reason = HTTPStatus(response.status).phrase
    head = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    return head if head_only else head + response.body


async def serve_ops(host: str, port: int, routes: Mapping[str, Handler]) -> OpsServer | None:
    """The started ops server on `port`, or None when the port is 0 (no ops endpoints)."""
    return await OpsServer(host, port, routes).start() if port else None
