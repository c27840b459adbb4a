"""Scrape-time gauges shared by the services: NATS connection, JetStream consumer lag and the
dead-letter count (asked of the server), a store follower's position behind the store, and the
facts a follower set aside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.aio.client import Client

from contracts import bus
from referral_loop.ops import stores
from referral_loop.ops.metrics import Metrics
from referral_loop.ops.threads import in_thread


def nats_connected(metrics: Metrics, nc: Callable[[], Client | None]) -> None:
    gauge = metrics.gauge("referral_loop_nats_connected", "1 while this process is connected to NATS.")

    async def refresh() -> None:
        client = nc()
        gauge.set(1 if client is not None and client.is_connected else 0)

    metrics.on_scrape("nats", refresh)


def consumer_lag(metrics: Metrics, nc: Client, consumer: str) -> None:
    """Facts in the stream the durable consumer has not had yet, plus those it has not acked."""
    lag = metrics.gauge(
        "referral_loop_consumer_lag", "Facts not yet delivered or not yet acked, per consumer.", ["consumer"]
    )
    unacked = metrics.gauge(
        "referral_loop_consumer_ack_pending", "Facts delivered and not yet acked, per consumer.", ["consumer"]
    )

    async def refresh() -> None:
        info = await nc.jetstream().consumer_info(bus.STREAM, consumer, timeout=2)
        pending, ack_pending = info.num_pending or 0, info.num_ack_pending or 0
        lag.labels(consumer).set(pending + ack_pending)
        unacked.labels(consumer).set(ack_pending)

    metrics.on_scrape("consumer", refresh)


def deadletter_count(metrics: Metrics, nc: Client) -> None:
    gauge = metrics.gauge(
        "referral_loop_deadletter_messages", f"Facts parked in {bus.DEADLETTER_STREAM} (never recorded)."
    )

    async def refresh() -> None:
        info = await nc.jetstream().stream_info(bus.DEADLETTER_STREAM)
        gauge.set(info.state.messages)

    metrics.on_scrape("deadletter", refresh)


def quarantined(metrics: Metrics, follower: str, count: Callable[[], int]) -> None:
    """How many facts `follower` set aside (`count`, asked in a worker thread at scrape time)."""
    gauge = metrics.gauge(
        "referral_loop_quarantined_facts",
        "Store facts a follower could not read or apply and set aside (recorded, ops told).",
        ["follower"],
    )

    async def refresh() -> None:
        gauge.labels(follower).set(await in_thread(count))

    metrics.on_scrape(f"quarantine_{follower}", refresh)


def follower_lag(metrics: Metrics, follower: str, upstream: Any, position: Callable[[], int]) -> None:
    """How many store notifications `follower` is behind (the store's last id minus its position)."""
    lag = metrics.gauge(
        "referral_loop_follower_lag", "Store facts a follower has not processed yet.", ["follower"]
    )
    last = metrics.gauge("referral_loop_store_position", "The referral store's last notification id.")

    def read() -> tuple[int, int]:
        return stores.position(upstream.recorder), position()

    async def refresh() -> None:
        end, done = await in_thread(read)
        last.set(end)
        lag.labels(follower).set(max(end - done, 0))

    metrics.on_scrape("store", refresh)
