"""An ops handler as a FastAPI endpoint (intake, projections), and uvicorn stopping gracefully.

uvicorn, on SIGTERM or SIGINT, stops accepting connections, lets in-flight requests finish and
runs the app's shutdown; then it raises the signal again, so the process would die by it. Here
the signal only starts that graceful stop and the process exits 0 once it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import uvicorn
from fastapi.responses import Response as HttpResponse

from referral_loop.ops.endpoints import Handler


def endpoint(handler: Handler) -> Callable[[], object]:
    async def answer() -> HttpResponse:
        response = await handler()
        return HttpResponse(response.body, response.status, media_type=response.content_type)

    return answer


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose stop on SIGTERM/SIGINT drains requests and then exits normally."""

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], None] = lambda: None) -> None:
        super().__init__(config)
        self.on_signal = on_signal

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self.stop_gracefully)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def stop_gracefully(self) -> None:
        self.on_signal()
        self.should_exit = True
