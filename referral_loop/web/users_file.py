"""Reading and changing the users file: one writer at a time (a file lock beside it), each change
written to a temporary file (mode 600) and renamed over the old one, so a reader never sees half."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_users(path: Path) -> dict[str, Any]:
    """{"users": {...}, "tokens": {...}}; both empty when there is no file yet."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("users", {})
    data.setdefault("tokens", {})
    return data


def update_users_file(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Read, `change` in place and write back the users file, under its lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a") as held:
        os.chmod(lock, 0o600)
        fcntl.flock(held, fcntl.LOCK_EX)
        data = read_users(path)
        change(data)
        write_private(path, data)


def write_private(path: Path, content: object) -> None:
    """Write JSON readable by this user only, atomically (a temporary file renamed over `path`)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(json.dumps(content, indent=2) + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
