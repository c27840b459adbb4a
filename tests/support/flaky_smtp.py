"""An SMTP server (aiosmtpd) that loses its reply to DATA the first time it sees each message.

It alternates between the two ways that can happen: the message was taken (stored) and the
connection closed before "250", or the connection closed before the message was taken. A client
cannot tell them apart; the copies received say which ones arrived twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from launcher.natsd import free_port


def message_id(content: bytes) -> str:
    head = content.partition(b"\r\n\r\n")[0]
    return "".join(str(BytesHeaderParser().parsebytes(head).get("Message-ID", "")).split())  # unfolded


class FlakySink:
    """Stores each message's bytes by Message-ID; the first DATA of each message gets no reply."""

    def __init__(self) -> None:
        self.port = free_port()
        self.copies: Counter[str] = Counter()
        self.taken_then_dropped: set[str] = set()
        self.dropped_untaken: set[str] = set()
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def fault(self, mid: str) -> str:
        """'ok' for a message seen before; else 'take_then_drop' or 'drop', by turns."""
        with self._lock:
            if mid in self.taken_then_dropped or mid in self.dropped_untaken:
                return "ok"
            faulted = len(self.taken_then_dropped) + len(self.dropped_untaken)
            target = self.taken_then_dropped if faulted % 2 == 0 else self.dropped_untaken
            target.add(mid)
            return "take_then_drop" if target is self.taken_then_dropped else "drop"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = bytes(envelope.original_content or b"")
        mid = message_id(content)
        fault = self.fault(mid)
        if fault != "drop":
            with self._lock:
                self.copies[mid] += 1
        if fault == "ok":
            return "250 2.0.0 OK: stored"
        assert isinstance(server.transport, asyncio.WriteTransport)
        server.transport.abort()  # the reply is never sent
        never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        return await never  # cancelled by connection_lost

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._controller.stop()
