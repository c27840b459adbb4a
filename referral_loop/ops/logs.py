"""Service logs: one JSON object per line (or plain text), configured once per process.

Each line has time, level, service, logger and message, and `referral_id` when the code passes
one (`log.info(..., extra={"referral_id": rid})`). Exceptions are logged by type and stack frames
only: an exception's message can carry input values (a validation error quotes what it refused),
and no patient detail may reach a log.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def exception_summary(exc_info: Any) -> str:
    """`Type` and the stack frames (file:line in function) of an exception and its causes, no message."""
    _, error, _ = exc_info
    parts: list[str] = []
    while error is not None:
        frames = traceback.extract_tb(error.__traceback__)
        where = " < ".join(
            f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in reversed(frames)
        )
        parts.append(f"{type(error).__name__} at {where}" if where else type(error).__name__)
        error = error.__cause__ or error.__context__
    return "; caused by ".join(parts)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        referral_id = getattr(record, "referral_id", None)
        if referral_id is not None:
            line["referral_id"] = str(referral_id)
        if record.exc_info:
            line["exception"] = exception_summary(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic one-line format, with exceptions summarised the same PHI-safe way."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatException(self, ei: Any) -> str:
        return exception_summary(ei)


def configure(service: str, level: str, fmt: str = "json") -> None:
    """Root logging to stderr for this process; uvicorn's loggers go through it too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(logging.NOTSET)  # the root's level, whatever uvicorn set before
