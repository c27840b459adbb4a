"""A service's start-up objects frozen out of the collector's scans; what comes later still collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from referral_loop.ops.heap import freeze_startup_objects


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    yield
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> Node:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


def test_what_start_up_made_is_no_longer_scanned_and_what_comes_later_is(frozen_heap: None) -> None:
    schemas = [cycle() for _ in range(1_000)]  # given what a service builds before its first fact
    frozen = freeze_startup_objects()  # when it is set up
    assert frozen >= len(schemas) * 2  # then those objects are out of the collector's generations
    assert gc.get_freeze_count() == frozen
    cycle()  # and garbage made afterwards is still found and freed
    assert gc.collect() >= 2
