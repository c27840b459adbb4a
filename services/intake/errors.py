"""Field-level error answers: each problem names the field and says what is wrong, never echoing input."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette import status


def field_name(loc: tuple[Any, ...]) -> str:
    """`("body", "patient", "birth_date")` -> `patient.birth_date`."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def field_errors(errors: list[Any]) -> list[dict[str, str]]:
    return [
        {"field": field_name(tuple(e["loc"])), "message": str(e["msg"]).removeprefix("Value error, ")}
        for e in errors
    ]


async def validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    content = {"detail": "the request has invalid fields", "errors": field_errors(list(error.errors()))}
    return JSONResponse(content, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
