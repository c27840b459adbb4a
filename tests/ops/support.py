"""Helpers of the ops tests: HTTP to the ops endpoints, reading metrics, seeding the store."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from contracts import Fact
from referral_loop.settings import Settings
from referral_loop.store.config import open_ledger
from referral_loop.store.ledger import Positioned
from tests.support.processes import wait_until


def get(port: int, path: str) -> tuple[int | None, str]:
    """(status, body) of a GET on 127.0.0.1:port, or (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return None, type(error).__name__


def readiness(port: int) -> tuple[int | None, dict[str, Any]]:
    """The /readyz status and each check by name: {"nats": (ok, reason), ...}."""
    status, body = get(port, "/readyz")
    if status not in (200, 503):
        return status, {}
    return status, {c["name"]: (c["ok"], c["reason"]) for c in json.loads(body)["checks"]}


def wait_ready(port: int, timeout: float = 30.0) -> dict[str, Any]:
    wait_until(lambda: readiness(port)[0] == 200, timeout, f"/readyz 200 on port {port}")
    return readiness(port)[1]


def metric(port: int, name: str, **labels: str) -> float | None:
    """The value of one sample on /metrics (None when absent)."""
    _, text = get(port, "/metrics")
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else None


def seed(settings: Settings, facts: Sequence[Fact], first_position: int = 1) -> None:
    """Record facts straight into the referral store (as the store writer would, one batch)."""
    ledger = open_ledger(settings)
    try:
        batch = [Positioned(first_position + i, fact) for i, fact in enumerate(facts)]
        ledger.record_batch(batch)
    finally:
        ledger.close()
