"""The ops endpoints: /healthz, /readyz as JSON (200 or 503), /metrics, over the tiny HTTP server."""

from __future__ import annotations

import asyncio
import json

from referral_loop.ops.checks import Check, Failing
from referral_loop.ops.endpoints import Ops
from referral_loop.ops.metrics import Metrics
from referral_loop.ops.server import OpsServer, serve_ops


async def ok() -> None:
    return None


async def broken() -> None:
    raise Failing("stream REFERRALS missing")


async def stuck() -> None:
    await asyncio.sleep(60)


async def crashing() -> None:
    raise OSError("connection refused")


async def request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return int(status_line.split()[1]), headers, body


async def get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return await request(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


async def serving(ops: Ops) -> OpsServer:
    server = await serve_ops("127.0.0.1", 0, ops.routes())
    assert server is None
    return await OpsServer("127.0.0.1", 0, ops.routes()).start()


async def test_ready_when_every_check_passes_and_503_naming_each_failing_one() -> None:
    checks = [Check("nats", ok), Check("streams", broken), Check("store", stuck, timeout_s=0.2)]
    server = await serving(Ops("store-writer", [*checks, Check("smtp", crashing)]))
    try:
        status, headers, body = await get(server.port, "/readyz")
        assert status == 503 and headers["content-type"] == "application/json"
        answer = json.loads(body)
        assert answer["ready"] is False and answer["service"] == "store-writer"
        reasons = {c["name"]: (c["ok"], c["reason"]) for c in answer["checks"]}
        assert reasons == {
            "nats": (True, ""),
            "streams": (False, "stream REFERRALS missing"),
            "store": (False, "no answer within 0.2 s"),
            "smtp": (False, "OSError"),
        }
        ready = await OpsServer("127.0.0.1", 0, Ops("x", [Check("nats", ok)]).routes()).start()
        try:
            status, _, body = await get(ready.port, "/readyz?verbose=1")
            assert status == 200 and json.loads(body)["ready"] is True
        finally:
            await ready.close()
    finally:
        await server.close()


async def test_not_ready_once_shutting_down_though_still_alive() -> None:
    ops = Ops("feedback", [Check("nats", ok)])
    server = await serving(ops)
    try:
        ops.stopping = True
        status, _, body = await get(server.port, "/readyz")
        assert (
            status == 503
            and {"name": "running", "ok": False, "reason": "shutting down"} in json.loads(body)["checks"]
        )
        assert (await get(server.port, "/healthz"))[:3:2] == (200, b"ok")
    finally:
        await server.close()


async def test_metrics_refreshed_at_scrape_time_and_a_failing_source_is_counted() -> None:
    metrics = Metrics()
    lag = metrics.gauge("referral_loop_consumer_lag", "lag", ["consumer"])
    scrapes = []

    async def refresh() -> None:
        scrapes.append(1)
        lag.labels("store-writer").set(len(scrapes) * 10)

    async def unavailable() -> None:
        raise ConnectionError

    metrics.on_scrape("consumer", refresh)
    metrics.on_scrape("store", unavailable)
    server = await serving(Ops("store-writer", [], metrics))
    try:
        await get(server.port, "/metrics")
        status, headers, body = await get(server.port, "/metrics")
        text = body.decode()
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'referral_loop_consumer_lag{consumer="store-writer"} 20.0' in text
        assert 'referral_loop_metrics_refresh_failures_total{source="store"} 2.0' in text
        assert "process_resident_memory_bytes" in text
    finally:
        await server.close()


async def test_unknown_paths_other_methods_and_garbage_get_no_route() -> None:
    server = await serving(Ops("feedback", []))
    try:
        assert (await get(server.port, "/admin"))[0] == 404
        assert (await get(server.port, "/healthz", "POST"))[0] == 405
        status, headers, body = await get(server.port, "/healthz", "HEAD")
        assert status == 200 and headers["content-length"] == "2" and body == b""
        assert (await request(server.port, b"\x16\x03\x01 not http\r\n\r\n"))[0] == 405
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"garbage\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed without an answer
        writer.close()
        assert (await get(server.port, "/healthz"))[0] == 200
    finally:
        await server.close()
