"""What /healthz, /readyz and /metrics answer, the same whichever HTTP server serves them.

/healthz: the process's event loop answers (liveness). /readyz: every dependency check, as JSON,
200 when all pass and 503 otherwise; also 503 once the process is shutting down, so a load
balancer stops sending work while in-flight work drains. /metrics: Prometheus text format.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from referral_loop.ops.checks import Check, readiness
from referral_loop.ops.metrics import CONTENT_TYPE, Metrics


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Handler = Callable[[], Awaitable[Response]]


@dataclass
class Ops:
    service: str
    checks: Sequence[Check]
    metrics: Metrics = field(default_factory=Metrics)
    stopping: bool = False
    """Set when the process starts draining: readiness fails from then on."""

    async def healthz(self) -> Response:
        return Response(200, b"ok")

    async def readyz(self) -> Response:
        ready, results = await readiness(self.checks)
        if self.stopping:
            ready = False
            results.append({"name": "running", "ok": False, "reason": "shutting down"})
        body = json.dumps({"service": self.service, "ready": ready, "checks": results}).encode()
        return Response(200 if ready else 503, body, "application/json")

    async def metrics_page(self) -> Response:
        return Response(200, await self.metrics.exposition(), CONTENT_TYPE)

    def routes(self) -> dict[str, Handler]:
        return {"/healthz": self.healthz, "/readyz": self.readyz, "/metrics": self.metrics_page}
