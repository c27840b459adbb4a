"""Service logs are JSON lines with the agreed fields, and exceptions never bring their message."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from uuid import uuid4

import pytest

from referral_loop.ops.logs import configure

CANARY = "Zebulon Canaryfield"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_json_line_per_record_with_time_level_service_logger_message_and_referral(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("store-writer", "INFO", "json")
    rid = uuid4()
    logging.getLogger("services.test").warning("recorded %d facts", 3, extra={"referral_id": rid})
    logging.getLogger("services.test").debug("below the level")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["level"] == "WARNING" and line["service"] == "store-writer"
    assert line["logger"] == "services.test" and line["message"] == "recorded 3 facts"
    assert line["referral_id"] == str(rid) and line["time"].endswith("+00:00")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_an_exception_is_logged_by_type_and_frames_never_by_its_message(
    fmt: str, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("feedback", "INFO", fmt)

    def refuse() -> None:
        raise ValueError(f"invalid patient name {CANARY!r}")

    try:
        try:
            refuse()
        except ValueError as error:
            raise RuntimeError(f"could not record {CANARY}") from error
    except RuntimeError:
        logging.getLogger("services.test").exception("a fact could not be recorded")
    out = capsys.readouterr().err
    assert CANARY not in out
    assert "RuntimeError" in out and "caused by ValueError" in out and "in refuse" in out
    if fmt == "json":
        (line,) = [json.loads(text) for text in out.splitlines()]
        assert line["message"] == "a fact could not be recorded" and "ValueError" in line["exception"]


def test_uvicorn_logs_go_through_the_same_json_handler(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler())
    configure("intake", "INFO", "json")
    logging.getLogger("uvicorn.error").info("Started server process")
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["logger"] == "uvicorn.error"
