"""What every answer of intake and the ops app carries, and what every request is held to: security
headers, a body size limit (413 before the body is read past the limit) and rate limits."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CSP = (  # FastAPI's /docs and /redoc load their script and style from a CDN
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PAGES = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
DOCS_PATHS = DOCS_PAGES | {"/openapi.json"}
"""FastAPI's own routes: public (the API's description, no data)."""
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """CSP, nosniff, no framing, same-origin referrers on every answer, HSTS over https; no-store
    unless the route set its own caching."""

    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app, self.https = app, https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(ALWAYS)
        extra.append(
            (b"content-security-policy", (DOCS_CSP if scope["path"] in DOCS_PAGES else CSP).encode())
        )
        if self.https or scope.get("scheme") == "https":
            extra.append(HSTS)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                added = [(n, v) for n, v in extra if n not in present]
                if b"cache-control" not in present:
                    added.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers + added}
            await send(message)

        await self.app(scope, receive, sending)


class BodySizeLimit:
    """Answers 413 when a body is larger than `max_bytes`: at once by its Content-Length, or as soon
    as a streamed (chunked) body passes the limit; what is past the limit is never read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._counting(receive), sending)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            return message

        return counted

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """A streamed body passed the limit: an HTTPException, so FastAPI answers it as 413 where it reads
    a body (rather than as a body it could not parse)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes", {"Connection": "close"})


class SlidingWindow:
    """At most `limit` events per key in any `window_s` seconds (a log of each key's recent events),
    in this process: submissions per user (sign-in attempts are shared: signin_limits.py)."""

    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now, events = self.clock(), self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if len(self._events) > 50_000:  # forget idle keys rather than grow without bound
            self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - self.window_s}
            self._events[key] = events
        return events

    def hit(self, key: str) -> bool:
        """Record an event for `key`; False (and nothing recorded) when it is over the limit."""
        events = self._recent(key)
        if len(events) >= self.limit:
            return False
        events.append(self.clock())
        return True
