"""An embedded SMTP sink (aiosmtpd) for `make run` and the tests: every message becomes a `.eml` file.

A file is named `<UTC timestamp>-<seq>-<hash of the Message-ID>.eml` and written atomically (a
hidden temp file in the same directory, then a rename), so a reader never sees half a message.
Its content is the message's bytes exactly as received, preceded by what a final-delivery MTA
adds (RFC 5321 section 4.4): one `Return-Path: <sender>` and one `X-Envelope-To: <recipient>`
per RCPT, the envelope. Nothing else is added or changed, so a person can read the file as is.

Fault switches for tests, flipped on a running sink: `refuse_with` answers DATA with that reply
(e.g. "451 4.3.0 try later") and stores nothing; `drop_after_data` stores the message, then
aborts the connection without replying (a reply lost after the message was accepted).
`connections` counts client connections since the last `start()`.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import signal
import ssl
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from launcher.maildir import envelope_header, lf, message_id_hash, write_atomically
from referral_loop.ops.heap import freeze_startup_objects
from referral_loop.settings import Settings

log = logging.getLogger(__name__)
SINK_HOSTNAME = "mail-sink"
AUTH_REQUIRED = "530 5.7.0 Authentication required"


class _Handler:
    """aiosmtpd hooks: authentication check at MAIL, storage and fault switches at DATA."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.sink.auth is not None and not session.authenticated:
            return AUTH_REQUIRED
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.sink.refuse_recipients.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal = self.sink.refuse_with
        if refusal:
            return refusal
        if self.sink.data_delay_s:
            await asyncio.sleep(self.sink.data_delay_s)
        self.sink.store(envelope)
        if not self.sink.drop_after_data:
            return "250 2.0.0 OK: stored"
        if isinstance(server.transport, asyncio.WriteTransport):
            server.transport.abort()
        dropped: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        return await dropped  # cancelled by connection_lost: no reply is ever sent

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):  # a client that does not trust our certificate
            log.info("mail sink: a client's TLS handshake failed")
            return "454 4.7.0 TLS handshake failed"
        log.error("mail sink: could not handle a command", exc_info=error)
        return "451 4.3.0 the mail sink failed"


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP, counting connections and tracking them so `stop()` can close them."""

    def __init__(self, sink: MailSink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None:  # not the TLS layer of a STARTTLS upgrade
            self.sink.connections += 1
            self.sink.live.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.sink.live.discard(self)
        super().connection_lost(error)


class _Controller(Controller):
    def __init__(self, sink: MailSink, **kwargs: Any) -> None:
        super().__init__(_Handler(sink), **kwargs)
        self.sink = sink

    def factory(self) -> SMTP:
        return _SinkSMTP(self.sink, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # port 0: learn the port the OS chose before aiosmtpd's readiness probe connects to it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]

    async def abort_connections(self) -> None:
        for protocol in list(self.sink.live):
            if isinstance(protocol.transport, asyncio.WriteTransport):
                protocol.transport.abort()
        await asyncio.sleep(0)


class MailSink:
    """An SMTP server in a thread of its own that stores what it receives under `directory`."""

    def __init__(
        self,
        directory: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
        *,
        require_tls: bool = False,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.host, self._port, self.tls_context = host, port, tls_context
        self.require_tls, self.implicit_tls, self.auth = require_tls, implicit_tls, auth
        self.refuse_with: str | None = None
        self.refuse_recipients: dict[str, str] = {}
        self.data_delay_s = 0.0
        """A slow server: wait this long before storing each message."""
        """Lower-cased address -> the answer to RCPT for it (e.g. "550 5.1.1 no such user")."""
        self.drop_after_data = False
        self.connections = 0
        self.live: set[SMTP] = set()
        self._seq = itertools.count(1)
        self._controller: _Controller | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("the mail sink is already running")
        self.directory.mkdir(parents=True, exist_ok=True)
        controller = _Controller(self, hostname=self.host, port=self._port, **self._smtp_options())
        controller.start()
        self._port, self._controller = controller.port, controller
        self.connections = 0  # aiosmtpd's own readiness probe is not a client

    def _smtp_options(self) -> dict[str, Any]:
        tls = self.tls_context
        options: dict[str, Any] = {"server_hostname": SINK_HOSTNAME, "authenticator": self._authenticate}
        if tls is not None and self.implicit_tls:  # AUTH over implicit TLS: aiosmtpd sees no STARTTLS
            return options | {"ssl_context": tls, "auth_require_tls": False}
        return options | {
            "tls_context": tls,
            "require_starttls": self.require_tls,
            "auth_require_tls": bool(tls),
        }

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if self.auth is None or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = (value.encode() for value in self.auth)
        ok = hmac.compare_digest(data.login, user) & hmac.compare_digest(data.password, password)
        return AuthResult(success=ok, handled=False)

    def stop(self) -> None:
        """Close every client connection, then the server; a no-op when not running."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        closing = asyncio.run_coroutine_threadsafe(controller.abort_connections(), controller.loop)
        closing.result(timeout=5)
        controller.stop()

    def store(self, envelope: Envelope) -> Path:
        """Write one received message (called on the server's thread)."""
        content = bytes(envelope.original_content or b"")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{next(self._seq):06d}-{message_id_hash(content)}.eml"
        write_atomically(path, envelope_header(envelope) + content)
        return path

    def files(self) -> list[Path]:
        """The stored messages' files, oldest first."""
        return sorted(self.directory.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """The stored messages, parsed, oldest first (CRLF read as LF: text parts end in "\\n")."""
        return [message_from_bytes(lf(path.read_bytes()), policy=policy.default) for path in self.files()]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_sink(settings: Settings) -> None:
    """Serve settings.mail_dir on 127.0.0.1:settings.mail_sink_port until SIGINT or SIGTERM."""
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with MailSink(settings.mail_dir, port=settings.mail_sink_port) as sink:
            log.info("mail sink on 127.0.0.1:%d, storing in %s", sink.port, sink.directory)
            freeze_startup_objects()
            stopping.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
