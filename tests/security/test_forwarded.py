"""Whose word on the client intake and the ops app take (issue 14, finding 7), against the real
processes: X-Forwarded-For from a peer that is not a configured proxy changes nothing, so a guesser
on the machine rotating it meets the sign-in limit as anyone does, and attempts on intake and on the
ops app count together; from a proxy in REFERRAL_LOOP_FORWARDED_ALLOW_IPS it is believed (each
client its own budget) and so is X-Forwarded-Proto (the session cookie Secure behind TLS)."""

from __future__ import annotations

from pathlib import Path

import httpx

from referral_loop.settings import Settings
from referral_loop.web.users import ensure_local_users
from tests.ops.support import get
from tests.support.processes import ProcessRegistry, free_port, wait_until
from tests.support.servers import NatsServer
from tests.support.signin import csrf_of, fresh_connections, sign_in_over

LIMIT = 6


def settings_for(tmp_path: Path, nats_server: NatsServer, **update: object) -> Settings:
    return Settings(
        data_dir=tmp_path,
        nats_url=nats_server.url,
        intake_port=free_port(),
        ops_port=free_port(),
        login_attempts_per_minute=LIMIT,
        **update,  # type: ignore[arg-type]
    )


def serving(services: ProcessRegistry, settings: Settings, *names: str) -> str:
    """Start the services and wait for their sign-in forms; intake's local password."""
    password = ensure_local_users(settings.users_path)["intake"]["password"]
    ports = {"intake": settings.intake_port, "projections": settings.ops_port}
    for name in names:
        services.start(name, settings)
        port = ports[name]
        wait_until(lambda: get(port, "/login")[0] == 200, 30, f"{name} serving")  # noqa: B023 - waited for here
    return password


def test_a_rotated_x_forwarded_for_from_an_unconfigured_peer_resets_nothing(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = settings_for(tmp_path, nats_server)
    password = serving(services, settings, "intake", "projections")
    apps = [settings.base_url, f"http://127.0.0.1:{settings.ops_port}"]
    answers = []
    for attempt in range(LIMIT):
        with fresh_connections(apps[attempt % 2]) as guesser:
            forged = {"X-Forwarded-For": f"198.51.100.{attempt + 1}"}
            answers.append(sign_in_over(guesser, "intake", f"guess-{attempt}", **forged).status_code)
    assert answers == [401] * LIMIT
    for app in apps:
        with fresh_connections(app) as guesser:
            forged = {"X-Forwarded-For": "198.51.100.200"}
            assert sign_in_over(guesser, "intake", password, **forged).status_code == 429


def test_a_configured_proxy_is_believed_for_the_client_and_the_scheme(
    tmp_path: Path, nats_server: NatsServer, services: ProcessRegistry
) -> None:
    settings = settings_for(tmp_path, nats_server, forwarded_allow_ips="127.0.0.1")
    password = serving(services, settings, "intake")
    guesser = {"X-Forwarded-For": "203.0.113.5"}
    with fresh_connections(settings.base_url) as proxy:
        answers = [sign_in_over(proxy, "intake", f"guess-{i}", **guesser).status_code for i in range(LIMIT)]
        assert answers == [401] * LIMIT
        assert sign_in_over(proxy, "intake", password, **guesser).status_code == 429
        signed_in = over_tls(proxy, password, {"X-Forwarded-For": "198.51.100.7"})
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"].lower()
    assert cookie.startswith("rl_intake_session=") and "; secure" in cookie
    assert "strict-transport-security" in signed_in.headers


def over_tls(proxy: httpx.Client, password: str, headers: dict[str, str]) -> httpx.Response:
    """Sign in as a browser on https does through a TLS-terminating proxy: the proxy says
    X-Forwarded-Proto: https, and the browser sends back the (Secure) sign-in form's cookie."""
    headers = headers | {"X-Forwarded-Proto": "https"}
    form = proxy.get("/login", headers=headers)
    [token] = [c.split(";")[0] for c in form.headers.get_list("set-cookie") if "_signin=" in c]
    assert "; secure" in form.headers["set-cookie"].lower()
    data = {"csrf_token": csrf_of(form.text), "username": "intake", "password": password}
    proxy.cookies.clear()
    return proxy.post("/login", data=data, headers=headers | {"Cookie": token})
