"""Restart with backoff, on a fake clock: what `make run` does when one of its processes dies."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from launcher.supervisor import KeepsFailing, RestartPolicy, Supervisor


@dataclass
class FakeProcess:
    name: str
    starts: int = 0
    code: int | None = None
    stopped: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.starts, self.code = self.starts + 1, None

    def exit_code(self) -> int | None:
        return self.code

    def stop(self) -> int | None:
        self.stopped.append(self.name)
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervised(*processes: FakeProcess, **policy: float) -> tuple[Supervisor, Clock, list[str]]:
    clock, said = Clock(), []
    supervisor = Supervisor(RestartPolicy(**policy), said.append, clock)  # type: ignore[arg-type]
    for process in processes:
        supervisor.start(process)
    return supervisor, clock, said


def test_a_dead_process_is_restarted_after_a_doubling_wait_and_the_terminal_is_told() -> None:
    writer = FakeProcess("store-writer")
    supervisor, clock, said = supervised(writer, limit=5, first_delay_s=0.5)
    waits = []
    for _ in range(3):
        writer.code = -9
        supervisor.check()
        died_at = clock.now
        while writer.code is not None:
            clock.now += 0.25
            supervisor.check()
        waits.append(round(clock.now - died_at, 2))
    assert waits == [0.5, 1.0, 2.0]
    assert writer.starts == 4
    assert (
        said[0]
        == "store-writer exited with code -9; restarting it in 0.5 s (restart 1 of at most 5 in a row)"
    )
    assert said[1] == "restarted store-writer"


def test_a_process_that_keeps_dying_makes_the_supervisor_give_up() -> None:
    nats, intake = FakeProcess("nats-server"), FakeProcess("intake")
    supervisor, clock, _ = supervised(nats, intake, limit=2, first_delay_s=0.1)
    for _ in range(2):
        intake.code = 1
        supervisor.check()
        clock.now += 10
        supervisor.check()
    intake.code = 1
    with pytest.raises(KeepsFailing, match="intake exited with code 1, 3 times in a row"):
        supervisor.check()
    assert nats.starts == 1, "the others are left alone"


def test_a_process_that_stayed_up_a_while_starts_a_new_count() -> None:
    intake = FakeProcess("intake")
    supervisor, clock, said = supervised(intake, limit=1, first_delay_s=0.1, stable_s=60)
    for _ in range(3):
        intake.code = 1
        supervisor.check()
        clock.now += 0.1
        supervisor.check()
        clock.now += 61  # up for more than stable_s before it dies again
    assert intake.starts == 4
    assert all("restart 1 of" in line for line in said if "exited" in line)


def test_the_wait_is_capped() -> None:
    assert RestartPolicy(first_delay_s=0.5, max_delay_s=30).delay(10) == 30


def test_stop_all_stops_the_newest_first() -> None:
    stopped: list[str] = []
    processes = [FakeProcess(name, stopped=stopped) for name in ("nats-server", "store-writer", "intake")]
    supervisor, _, said = supervised(*processes)
    supervisor.stop_all()
    assert stopped == ["intake", "store-writer", "nats-server"]
    assert said == [f"stopped {name} (exit code 0)" for name in stopped]
