"""The worker's cron side task, driven alone with a manual clock."""

from __future__ import annotations

import pytest

from joblane import InvalidScheduleError, Queue, Worker, cron
from joblane.backends.immediate import ImmediateBackend
from joblane.backends.memory import MemoryBackend
from joblane.core.clock import isoformat
from joblane.schedules import META_KEY
from joblane.testing import ManualClock
from joblane.worker.cron import CRON_INTERVAL, REGISTRATION_TTL
from tests.jobs import sample

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a minute's tick


def ticks_enqueued(backend: MemoryBackend) -> list[str | None]:
    jobs = Queue("normal", backend=backend).get_jobs(0, 1000)
    return [isoformat(job.meta[META_KEY]["tick"]) for job in jobs]


def make_worker(backend: MemoryBackend, mono: ManualClock, *schedules: object) -> Worker:
    return Worker(backend, ["normal"], executor="thread", monotonic=mono.now,
                  schedules=schedules)  # type: ignore[arg-type]  # fmt: skip


def test_a_tick_is_enqueued_once_and_the_task_wakes_at_the_next() -> None:
    clock, mono = ManualClock(T0 - 3), ManualClock(0.0)
    backend = MemoryBackend(clock=clock)
    worker = make_worker(backend, mono, cron(sample.add, "* * * * *", args=(1, 2)))
    assert "cron" in worker.side_tasks.tasks
    worker.side_tasks.run("cron", clock.now())
    assert ticks_enqueued(backend) == []
    assert worker.side_tasks.tasks["cron"].next == 3.0  # the tick, sooner than its interval
    clock.advance(3)
    mono.advance(3)
    assert "cron" in worker.side_tasks.run_due(clock.now())
    assert ticks_enqueued(backend) == ["2026-01-01T00:00:00"]
    worker.side_tasks.run("cron", clock.now())  # again, at the same time: nothing new
    assert ticks_enqueued(backend) == ["2026-01-01T00:00:00"]
    assert worker.side_tasks.tasks["cron"].next == 3.0 + CRON_INTERVAL
    [job] = Queue("normal", backend=backend).get_jobs()
    assert (job.func_name, job.args) == ("tests.jobs.sample.add", [1, 2])


def test_two_workers_racing_for_a_tick_enqueue_it_once() -> None:
    clock = ManualClock(T0)
    backend = MemoryBackend(clock=clock)
    every = cron(sample.add, second=None, args=(1, 1))
    workers = [make_worker(backend, ManualClock(0.0), every) for _ in range(3)]
    for _ in range(5):
        for worker in workers:
            worker.side_tasks.run("cron", clock.now())
        clock.advance(1)
    assert len(ticks_enqueued(backend)) == 4  # from the tick after the first run on
    assert len(set(ticks_enqueued(backend))) == len(ticks_enqueued(backend))
    assert sum(worker.cron.enqueued for worker in workers) == 4


@pytest.mark.parametrize(
    ("missed", "restart", "expected"),
    [
        # A worker starts 10 s after the 01:58 tick: on time (grace 30 s).
        ("skip", "01:58:10", ["00:00", "01:58", "02:00"]),
        ("run_once", "01:58:10", ["00:00", "01:56", "01:58", "02:00"]),
        # 40 s after it: missed, like the ticks of the two hours before.
        ("skip", "01:58:40", ["00:00", "02:00"]),
        ("run_once", "01:58:40", ["00:00", "01:58", "02:00"]),
    ],
)
def test_ticks_missed_while_no_worker_ran(missed: str, restart: str, expected: list[str]) -> None:
    clock = ManualClock(T0 - 1)
    backend = MemoryBackend(clock=clock)
    every_2_minutes = cron(sample.add, "*/2 * * * *", args=(0, 0), missed=missed, grace=30)
    first = make_worker(backend, ManualClock(0.0), every_2_minutes)
    first.side_tasks.run("cron", clock.now())  # starts the schedule: nothing due yet
    clock.set(T0)
    first.side_tasks.run("cron", clock.now())
    # The worker stops; none runs for two hours, then one starts at *restart*.
    hours, minutes, seconds = (int(part) for part in restart.split(":"))
    clock.set(T0 + hours * 3600 + minutes * 60 + seconds)
    later = make_worker(backend, ManualClock(0.0), every_2_minutes)
    later.side_tasks.run("cron", clock.now())
    clock.set(T0 + 2 * 3600)
    later.side_tasks.run("cron", clock.now())
    assert ticks_enqueued(backend) == [f"2026-01-01T{hhmm}:00" for hhmm in expected]


def test_schedules_are_registered_with_their_next_run_and_lapse() -> None:
    clock = ManualClock(T0 + 10)
    backend = MemoryBackend(clock=clock)
    nightly = cron(sample.add, hour=3, minute=0, args=(1, 2), timezone="Europe/Paris",
                   missed="run_once", queue="low")  # fmt: skip
    worker = make_worker(backend, ManualClock(0.0), nightly)
    assert backend.schedules() == []
    worker.side_tasks.run("cron", clock.now())
    [info] = backend.schedules()
    assert (info.name, info.func_name, info.spec, info.timezone, info.queue, info.missed) == (
        "tests.jobs.sample.add", "tests.jobs.sample.add", "0 3 * * *", "Europe/Paris", "low",
        "run_once",
    )  # fmt: skip
    assert isoformat(info.next_run) == "2026-01-01T02:00:00"  # 03:00 in Paris
    assert info.last_tick == T0 + 10  # started: no tick claimed yet
    assert info.worker == worker.name
    clock.advance(REGISTRATION_TTL)
    assert backend.schedules() == []  # no live worker runs it any more


def test_a_worker_refuses_two_schedules_of_one_name() -> None:
    backend = MemoryBackend()
    with pytest.raises(InvalidScheduleError, match="two schedules are called"):
        Worker(backend, executor="thread",
               schedules=[cron(sample.add, hour=1), cron(sample.add, hour=2)])  # fmt: skip
    with pytest.raises(InvalidScheduleError, match=r"made by joblane\.cron"):
        Worker(backend, executor="thread", schedules=["0 3 * * *"])  # type: ignore[list-item]


def test_the_immediate_backend_runs_a_tick_s_job_inline() -> None:
    clock = ManualClock(T0 - 1)
    backend = ImmediateBackend(clock=clock)
    worker = Worker(backend, ["normal"], executor="thread", monotonic=ManualClock(0.0).now,
                    schedules=[cron(sample.add, "* * * * *", args=(20, 22))])  # fmt: skip
    worker.side_tasks.run("cron", clock.now())
    clock.advance(1)
    worker.side_tasks.run("cron", clock.now())
    [job] = Queue("normal", backend=backend).finished_job_registry.get_jobs()
    assert (job.return_value, job.meta[META_KEY]["tick"]) == (42, T0)
