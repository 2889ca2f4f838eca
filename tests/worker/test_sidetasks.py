"""The worker's side-task table and batching plan, driven with a manual clock:
each step runs alone, at times the test chooses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from joblane import JobStatus, Queue, Worker
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock
from joblane.worker.batching import MAX_BATCH, NO_BATCH, BatchPlan, plan_batch
from joblane.worker.sidetasks import SideTasks
from tests.jobs import sample


def test_tasks_run_when_due_in_table_order() -> None:
    clock = ManualClock(100.0)
    ran: list[tuple[str, float]] = []
    table = SideTasks(clock.now)
    table.add("often", 1.0, lambda now: ran.append(("often", now)))
    table.add("rarely", 5.0, lambda now: ran.append(("rarely", now)), first=2.0)
    assert table.run_due(7.0) == ["often"]
    assert table.remaining() == 1.0
    clock.advance(1.0)
    assert table.run_due(8.0) == ["often"]
    clock.advance(1.0)
    assert table.run_due(9.0) == ["often", "rarely"]
    clock.advance(0.5)
    assert table.run_due(9.5) == []
    assert table.remaining() == 0.5
    assert ran == [("often", 7.0), ("often", 8.0), ("often", 9.0), ("rarely", 9.0)]


def test_a_task_may_ask_to_run_sooner_than_its_interval() -> None:
    clock = ManualClock(0.0)
    table = SideTasks(clock.now)
    table.add("scheduler", 10.0, lambda now: clock.now() + 2.0)
    table.run_due(0.0)
    assert table.remaining() == 2.0
    table.add("late", 10.0, lambda now: clock.now() + 60.0)  # later than its interval
    table.run("late", 0.0)
    assert table.tasks["late"].next == 10.0


def test_a_task_runs_alone_and_names_are_unique() -> None:
    clock = ManualClock(0.0)
    calls: list[float] = []
    table = SideTasks(clock.now)
    table.add("reaper", 1.0, calls.append, first=30.0)
    table.run("reaper", 5.0)
    assert calls == [5.0]
    assert table.tasks["reaper"].next == 1.0
    with pytest.raises(ValueError, match="'reaper' exists already"):
        table.add("reaper", 1.0, calls.append)


@pytest.mark.parametrize(
    ("avg_run", "concurrency", "plan"),
    [
        (None, 4, NO_BATCH),
        (0.010, 2, BatchPlan(ahead=1, depth=1)),
        (0.002, 2, BatchPlan(ahead=5, depth=1)),
        (0.0005, 2, BatchPlan(ahead=20, depth=2)),
        (0.0, 8, BatchPlan(ahead=MAX_BATCH, depth=2)),
        (5.0, 8, BatchPlan(ahead=0, depth=1)),
    ],
)
def test_plan_batch(avg_run: float | None, concurrency: int, plan: BatchPlan) -> None:
    assert plan_batch(avg_run, concurrency) == plan


def test_a_worker_side_tasks_each_run_alone_with_a_manual_clock() -> None:
    clock = ManualClock()
    mono = ManualClock(0.0)
    backend = MemoryBackend(clock=clock)
    queue = Queue("normal", backend=backend)
    worker = Worker(backend, ["normal"], executor="thread", monotonic=mono.now,
                    lease_seconds=5)  # fmt: skip
    assert list(worker.side_tasks.tasks) == [
        "renew", "scheduler", "reaper", "housekeeping", "registration",
    ]  # fmt: skip
    due_in_10 = queue.enqueue_in(timedelta(seconds=10), sample.add, 1, 2)
    # The scheduler wakes at the due time of the next job it knows of.
    worker.side_tasks.run("scheduler", clock.now())
    assert worker.side_tasks.tasks["scheduler"].next == 0.5  # its tick comes first
    clock.advance(10)
    mono.advance(10)
    assert "scheduler" in worker.side_tasks.run_due(clock.now())
    assert due_in_10.refresh().status is JobStatus.QUEUED
    # The reaper, alone: a job whose worker died goes back first in its queue.
    victim = queue.enqueue(sample.add, 2, 3)
    _, [claimed] = backend.claim(["normal"], worker="gone", limit=1, lease_seconds=5,
                                 now=clock.now())  # fmt: skip
    assert claimed.id == due_in_10.id
    clock.advance(6)
    worker.side_tasks.run("reaper", clock.now())
    assert due_in_10.refresh().status is JobStatus.QUEUED
    assert due_in_10.lost_attempts == 1
    assert [j.id for j in queue.get_jobs()] == [due_in_10.id, victim.id]


def test_a_worker_without_scheduler_has_no_scheduler_task() -> None:
    worker = Worker(MemoryBackend(), ["normal"], executor="thread", with_scheduler=False)
    assert "scheduler" not in worker.side_tasks.tasks
