"""Staff submitting referrals to a running intake until it stops taking connections."""

from __future__ import annotations

import httpx

from tests.support import referrals as make


def keep_submitting(base_url: str, password: str, accepted: list[str], other: list[int]) -> None:
    """POST referrals as `intake` one after another: each 202's referral id goes to `accepted`;
    any other answer goes to `other` and ends it, as does intake closing its connections."""
    with httpx.Client(base_url=base_url, auth=("intake", password), timeout=30) as client:
        while True:
            try:
                response = client.post("/api/referrals", json=make.referral_body())
            except httpx.TransportError:
                return  # intake stopped taking connections: not acknowledged, not counted
            if response.status_code != 202:
                other.append(response.status_code)
                return
            accepted.append(response.json()["referral_id"])
