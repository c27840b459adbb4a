"""uvicorn's configuration for intake and the ops app, and whose word on the client they take.

uvicorn by default believes X-Forwarded-For and X-Forwarded-Proto from loopback, so anything on the
machine could claim any client address (and reset its sign-in limit each attempt). Here they are
believed only from the proxies in REFERRAL_LOOP_FORWARDED_ALLOW_IPS (none by default: the TCP peer
is the client, the scheme is the connection's); uvicorn's own FORWARDED_ALLOW_IPS is not read."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from referral_loop.settings import Settings


def trusted_proxies(settings: Settings) -> list[str]:
    """The configured proxies' addresses or networks; empty: trust no forwarded header."""
    return [entry.strip() for entry in settings.forwarded_allow_ips.split(",") if entry.strip()]


def server_config(app: FastAPI, settings: Settings, host: str, port: int) -> uvicorn.Config:
    proxies = trusted_proxies(settings)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # the process's logging (referral_loop.ops.logs), not uvicorn's own
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )
