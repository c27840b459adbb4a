"""Prometheus metrics of one process: its own registry, counters bumped as work happens, and
gauges refreshed at scrape time (consumer lag, backlogs: asked when Prometheus asks, not per fact).

Labels are low-cardinality words (an outcome, a consumer's name), never ids or patient details.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

log = logging.getLogger(__name__)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
REFRESH_TIMEOUT_S = 3.0
Refresh = Callable[[], Awaitable[None]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # resident memory, CPU seconds, open files
        self.refreshers: list[tuple[str, Refresh]] = []
        self.refresh_failures = self.counter(
            "referral_loop_metrics_refresh_failures", "Scrape-time gauges that could not be read.", ["source"]
        )

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=self.registry)

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def on_scrape(self, source: str, refresh: Refresh) -> None:
        """Run `refresh` (it sets gauges) before every exposition."""
        self.refreshers.append((source, refresh))

    async def exposition(self) -> bytes:
        """The text format, after refreshing every scrape-time gauge at once (a failing one keeps
        its last value and counts a refresh failure)."""
        results = await asyncio.gather(
            *(asyncio.wait_for(refresh(), REFRESH_TIMEOUT_S) for _, refresh in self.refreshers),
            return_exceptions=True,
        )
        for (source, _), result in zip(self.refreshers, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("metrics from %s unavailable (%s)", source, type(result).__name__)
                self.refresh_failures.labels(source).inc()
        return generate_latest(self.registry)
