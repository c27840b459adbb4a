"""Run one callable from several threads at once (replicas or services starting together), and
collect what each raised: the tests of opening races assert that nothing did."""

from __future__ import annotations

import threading
from collections.abc import Callable


def failures_at_once(start: Callable[[], object], times: int = 4) -> list[Exception]:
    failures: list[Exception] = []

    def run() -> None:
        try:
            start()
        except Exception as error:  # the failure under test
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
