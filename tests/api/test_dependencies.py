"""depends_on: deferred until the parents finish, canceled when one fails for good."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from joblane import JobStatus, NoSuchJobError, Queue, Retry
from joblane.backends.memory import MemoryBackend
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_deferred_until_the_parent_finishes(
    queue: Queue, backend: MemoryBackend, clock: ManualClock, tmp_path: Path
) -> None:
    log = str(tmp_path / "order")
    parent = queue.enqueue(sample.touch, log, "parent")
    child = queue.enqueue(sample.touch, log, "child", depends_on=parent)
    assert child.status is JobStatus.DEFERRED
    assert child.enqueued_at is None
    assert queue.deferred_job_registry.get_job_ids() == [child.id]
    assert [j.id for j in queue.get_jobs()] == [parent.id]
    clock.advance(3)
    drain(backend)
    assert Path(log).read_text().split() == ["parent", "child"]
    assert parent.refresh().status is child.refresh().status is JobStatus.FINISHED
    assert child.enqueued_at == parent.ended_at
    assert queue.deferred_job_registry.count == 0


def test_depends_on_ids_and_several_parents(queue: Queue, backend: MemoryBackend) -> None:
    a = queue.enqueue(sample.noop, job_id="pa")
    b = queue.enqueue_in(timedelta(minutes=1), sample.noop, job_id="pb")
    child = queue.enqueue(sample.add, 1, 1, depends_on=["pa", b])
    assert child.record.depends_on == ("pa", "pb")
    drain(backend)
    assert a.get_status() is JobStatus.FINISHED
    assert child.get_status() is JobStatus.DEFERRED  # pb has not run yet


def test_released_after_the_last_parent_finishes(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    queue.enqueue(sample.noop, job_id="p1")
    queue.enqueue_in(timedelta(seconds=5), sample.noop, job_id="p2")
    child = queue.enqueue(sample.add, 1, 1, depends_on=["p1", "p2"])
    drain(backend)
    assert child.get_status() is JobStatus.DEFERRED
    clock.advance(5)
    drain(backend)
    assert child.refresh().status is JobStatus.FINISHED
    assert child.return_value == 2


def test_depends_on_a_finished_job_is_queued(queue: Queue, backend: MemoryBackend) -> None:
    parent = queue.enqueue(sample.noop)
    drain(backend)
    child = queue.enqueue(sample.noop, depends_on=parent)
    assert child.status is JobStatus.QUEUED


@pytest.mark.parametrize("end", ["failed", "canceled"])
def test_depends_on_a_job_that_will_never_finish_is_canceled(
    queue: Queue, backend: MemoryBackend, end: str
) -> None:
    parent = queue.enqueue(sample.fail)
    if end == "failed":
        drain(backend)
    else:
        parent.cancel()
    child = queue.enqueue(sample.noop, depends_on=parent)
    assert child.status is JobStatus.CANCELED
    assert child.ended_at is not None
    assert queue.count == 0


def test_canceled_when_the_parent_fails_for_good(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    parent = queue.enqueue(sample.fail, retry=Retry(max=1, interval=10))
    child = queue.enqueue(sample.noop, depends_on=parent)
    grandchild = queue.enqueue(sample.noop, depends_on=child)
    drain(backend)
    # The parent waits for its retry: its dependents wait with it.
    assert parent.get_status() is JobStatus.SCHEDULED
    assert child.get_status() is JobStatus.DEFERRED
    assert grandchild.get_status() is JobStatus.DEFERRED
    clock.advance(10)
    stats = drain(backend)
    assert stats.claimed == 1  # only the parent ran
    assert parent.get_status() is JobStatus.FAILED
    assert child.get_status() is JobStatus.CANCELED
    assert grandchild.get_status() is JobStatus.CANCELED
    assert queue.canceled_job_registry.count == 2
    assert queue.deferred_job_registry.count == 0


def test_cancel_the_parent_cancels_its_dependents(queue: Queue) -> None:
    parent = queue.enqueue(sample.noop)
    child = queue.enqueue(sample.noop, depends_on=parent)
    parent.cancel()
    assert child.get_status() is JobStatus.CANCELED


def test_requeued_dependent_runs_after_its_parent_is_requeued(
    queue: Queue, backend: MemoryBackend, tmp_path: Path
) -> None:
    parent = queue.enqueue(sample.flaky, str(tmp_path / "runs"), 1)
    child = queue.enqueue(sample.add, 2, 3, depends_on=parent)
    drain(backend)
    assert child.get_status() is JobStatus.CANCELED
    parent.requeue()
    drain(backend)
    assert parent.get_status() is JobStatus.FINISHED
    child.requeue()
    drain(backend)
    assert child.refresh().return_value == 5


def test_missing_parent(queue: Queue) -> None:
    with pytest.raises(NoSuchJobError, match="'ghost'"):
        queue.enqueue(sample.noop, depends_on="ghost")
    assert queue.deferred_job_registry.count == 0
