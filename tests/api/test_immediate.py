"""The immediate backend runs each job at enqueue and records it as a worker would."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from joblane import Job, JobStatus, Queue, Retry
from joblane.backends.immediate import ImmediateBackend
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_enqueue_runs_the_job(iqueue: Queue, immediate: ImmediateBackend) -> None:
    job = iqueue.enqueue(sample.add, 1, b=2)
    assert job.status is JobStatus.FINISHED
    assert job.return_value == 3
    assert job.attempts == 1
    assert job.last_job_result is None
    assert job.worker_name == "immediate"
    assert job.started_at is not None and job.ended_at is not None
    assert iqueue.count == 0
    assert iqueue.finished_job_registry.get_job_ids() == [job.id]
    assert Job.fetch(job.id, backend=immediate).return_value == 3


def test_failure_is_recorded(iqueue: Queue) -> None:
    job = iqueue.enqueue(sample.fail, "inline")
    assert job.status is JobStatus.FAILED
    assert job.return_value is None
    assert (job.last_job_result or "").startswith("Traceback (most recent call last):")
    assert (job.last_job_result or "").endswith("RuntimeError: inline\n")
    assert iqueue.failed_job_registry.get_job_ids() == [job.id]


def test_url() -> None:
    queue = Queue("normal", url="immediate://")
    assert isinstance(queue.backend, ImmediateBackend)
    assert queue.enqueue(sample.add, 2, 2).return_value == 4


def test_coroutine_job(iqueue: Queue) -> None:
    job = iqueue.enqueue(sample.async_add, 4, 5)
    assert (job.status, job.return_value) == (JobStatus.FINISHED, 9)


def test_current_job(iqueue: Queue) -> None:
    job = iqueue.enqueue(sample.whoami, job_id="me")
    assert job.return_value == {"id": "me", "queue": "normal", "attempt": 1}


CASES: list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]] = [
    ("ok", sample.add, (1, 2), {}),
    ("echo", sample.echo, ([1, "x"],), {"k": None}),
    ("none", sample.noop, (), {}),
    ("fails", sample.fail, ("same",), {}),
    ("retried", sample.fail, ("again",), {"retry": Retry(max=2)}),
    ("unserializable", sample.unserializable_result, (), {"retry": 2}),
    ("context", sample.whoami, (), {}),
    ("bad-args", sample.add, (1,), {}),
]


@pytest.mark.parametrize(("job_id", "func", "args", "options"), CASES, ids=[c[0] for c in CASES])
def test_records_exactly_as_a_worker_would(
    job_id: str,
    func: Any,
    args: tuple[Any, ...],
    options: dict[str, Any],
    clock: ManualClock,
    immediate: ImmediateBackend,
) -> None:
    memory = MemoryBackend(clock=clock)
    Queue("normal", backend=memory).enqueue(func, *args, job_id=job_id, **options)
    drain(memory)
    inline = Queue("normal", backend=immediate).enqueue(func, *args, job_id=job_id, **options)
    by_worker = Job.fetch(job_id, backend=memory)

    assert inline.status is by_worker.status
    assert inline.return_value == by_worker.return_value
    assert inline.last_job_result == by_worker.last_job_result
    assert inline.attempts == by_worker.attempts
    assert inline.retries_left == by_worker.retries_left
    assert inline.ended_at == by_worker.ended_at
    assert inline.record.expires_at == by_worker.record.expires_at


def test_retry_with_an_interval_waits_for_run_pending(
    iqueue: Queue, immediate: ImmediateBackend, clock: ManualClock
) -> None:
    job = iqueue.enqueue(sample.fail, retry=Retry(max=1, interval=60))
    assert job.status is JobStatus.SCHEDULED
    assert job.attempts == 1
    assert immediate.run_pending() == 0
    clock.advance(60)
    assert immediate.run_pending() == 1
    job.refresh()
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)


def test_scheduled_job_runs_at_the_first_enqueue_after_it_is_due(
    iqueue: Queue, clock: ManualClock
) -> None:
    later = iqueue.enqueue_in(timedelta(seconds=30), sample.add, 1, 1)
    assert later.status is JobStatus.SCHEDULED
    clock.advance(30)
    iqueue.enqueue(sample.noop)
    assert later.get_status() is JobStatus.FINISHED


def test_runs_released_dependents(iqueue: Queue, tmp_path: Path) -> None:
    log = str(tmp_path / "order")
    parent, child = iqueue.enqueue_many(
        [
            Queue.prepare_data(sample.touch, (log, "parent"), job_id="parent"),
            Queue.prepare_data(sample.touch, (log, "child"), job_id="child", depends_on="parent"),
        ]
    )
    assert parent.status is child.status is JobStatus.FINISHED
    assert Path(log).read_text().split() == ["parent", "child"]


def test_runs_dependents_released_later(
    iqueue: Queue, immediate: ImmediateBackend, clock: ManualClock
) -> None:
    parent = iqueue.enqueue_in(timedelta(seconds=5), sample.noop)
    child = iqueue.enqueue(sample.add, 2, 2, depends_on=parent)
    grandchild = iqueue.enqueue(sample.add, 3, 3, depends_on=child)
    assert child.status is grandchild.status is JobStatus.DEFERRED
    clock.advance(5)
    assert immediate.run_pending() == 3
    assert child.refresh().return_value == 4
    assert grandchild.refresh().return_value == 6


def test_dependents_of_a_failed_job_are_canceled(iqueue: Queue) -> None:
    parent, child = iqueue.enqueue_many(
        [
            Queue.prepare_data(sample.fail, job_id="bad-parent"),
            Queue.prepare_data(sample.noop, job_id="child", depends_on="bad-parent"),
        ]
    )
    assert parent.status is JobStatus.FAILED
    assert child.status is JobStatus.CANCELED


def test_higher_tiers_run_first(
    immediate: ImmediateBackend, clock: ManualClock, tmp_path: Path
) -> None:
    log = str(tmp_path / "order")
    important = Queue("important", backend=immediate)
    low = Queue("low", backend=immediate)
    parent = low.enqueue_in(timedelta(seconds=1), sample.noop)
    low.enqueue(sample.touch, log, "low", depends_on=parent)
    important.enqueue(sample.touch, log, "important", depends_on=parent)
    Queue("custom", backend=immediate).enqueue(sample.touch, log, "custom", depends_on=parent)
    assert not Path(log).exists()
    clock.advance(1)
    immediate.run_pending()
    assert Path(log).read_text().split() == ["important", "low", "custom"]


def test_unique_returns_the_ended_job_replaced(iqueue: Queue) -> None:
    first = iqueue.enqueue(sample.add, 1, 1, job_id="u")
    second = iqueue.enqueue(sample.add, 2, 2, job_id="u", unique=True)
    assert first.return_value == 2
    assert second.return_value == 4  # the ended job was not live: replaced and run
