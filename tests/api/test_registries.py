"""Queue counts, the six registries, paging and emptying."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from joblane import JobRegistry, JobStatus, Queue, Registry, WorkerThread
from joblane.backends.memory import MemoryBackend
from joblane.core.states import REGISTRY_STATUSES
from joblane.testing import ManualClock
from tests.api.conftest import drain
from tests.jobs import sample


def test_all_six_registries(
    queue: Queue, backend: MemoryBackend, start_worker: Callable[..., WorkerThread]
) -> None:
    finished = queue.enqueue(sample.noop)
    failed = queue.enqueue(sample.fail)
    drain(backend)

    key = "api-registries-started"
    started = queue.enqueue(sample.hold, key)
    start_worker()  # one slot, busy with the held job from here on
    try:
        assert sample.gate(key + ":running").wait(5)
        parent = queue.enqueue(sample.noop)
        deferred = queue.enqueue(sample.noop, depends_on=parent)
        scheduled = queue.enqueue_in(timedelta(hours=1), sample.noop)
        canceled = queue.enqueue(sample.noop)
        canceled.cancel()

        expected = {
            Registry.STARTED: [started.id],
            Registry.DEFERRED: [deferred.id],
            Registry.CANCELED: [canceled.id],
            Registry.FAILED: [failed.id],
            Registry.FINISHED: [finished.id],
            Registry.SCHEDULED: [scheduled.id],
        }
        for registry, ids in expected.items():
            view = queue.registry(registry)
            assert view.name == registry.value
            assert (view.count, len(view)) == (len(ids), len(ids)), registry
            assert view.get_job_ids() == ids, registry
            assert all(j.status in REGISTRY_STATUSES[registry] for j in view.get_jobs())
        assert queue.count == 1
        assert [j.id for j in queue.get_jobs()] == [parent.id]
    finally:
        sample.gate(key).set()


def test_registry_properties_and_names(queue: Queue) -> None:
    views = {
        "started": queue.started_job_registry,
        "deferred": queue.deferred_job_registry,
        "canceled": queue.canceled_job_registry,
        "failed": queue.failed_job_registry,
        "finished": queue.finished_job_registry,
        "scheduled": queue.scheduled_job_registry,
    }
    for short, view in views.items():
        assert isinstance(view, JobRegistry)
        assert view.name == f"{short}_job_registry"
        assert queue.registry(short).registry is view.registry
        assert queue.registry(f"{short}_job_registry").registry is view.registry
        assert view.count == 0
        assert view.get_jobs() == []
    with pytest.raises(ValueError, match="unknown registry 'queued'"):
        queue.registry("queued")


def test_registries_are_per_queue(queue: Queue, backend: MemoryBackend) -> None:
    other = Queue("low", backend=backend)
    queue.enqueue(sample.fail)
    other.enqueue(sample.noop)
    drain(backend, ["normal", "low"])
    assert (queue.failed_job_registry.count, queue.finished_job_registry.count) == (1, 0)
    assert (other.failed_job_registry.count, other.finished_job_registry.count) == (0, 1)


def test_registry_paging_is_oldest_first(
    queue: Queue, backend: MemoryBackend, clock: ManualClock
) -> None:
    ids = []
    for n in range(5):
        # Ids in reverse order of time: the order is by time, not by id.
        ids.append(queue.enqueue(sample.noop, job_id=f"job-{9 - n}").id)
        drain(backend)
        clock.advance(1)
    registry = queue.finished_job_registry
    assert registry.count == 5
    assert registry.get_job_ids() == ids
    assert registry.get_job_ids(0, 2) == ids[:2]
    assert registry.get_job_ids(2, 2) == ids[2:4]
    assert registry.get_job_ids(4, 2) == ids[4:]
    assert registry.get_job_ids(5, 2) == []
    assert [j.id for j in registry.get_jobs(1, 3)] == ids[1:4]


def test_scheduled_registry_is_ordered_by_due_time(queue: Queue) -> None:
    c = queue.enqueue_in(timedelta(seconds=30), sample.noop, job_id="c")
    a = queue.enqueue_in(timedelta(seconds=10), sample.noop, job_id="z")
    b = queue.enqueue_in(timedelta(seconds=20), sample.noop, job_id="a")
    assert queue.scheduled_job_registry.get_job_ids() == [a.id, b.id, c.id]
    assert queue.scheduled_job_registry.get_job_ids(1, 1) == [b.id]


def test_queue_count_and_paging(queue: Queue) -> None:
    ids = [queue.enqueue(sample.noop).id for _ in range(7)]
    assert queue.count == len(queue) == 7
    assert [j.id for j in queue.get_jobs()] == ids
    assert [j.id for j in queue.get_jobs(0, 3)] == ids[:3]
    assert [j.id for j in queue.get_jobs(3, 3)] == ids[3:6]
    assert [j.id for j in queue.get_jobs(6, 3)] == ids[6:]
    assert queue.get_jobs(7) == []


def test_queue_count_excludes_other_states(queue: Queue, backend: MemoryBackend) -> None:
    parent = queue.enqueue(sample.noop)
    queue.enqueue(sample.noop, depends_on=parent)
    queue.enqueue_in(timedelta(minutes=1), sample.noop)
    queue.enqueue(sample.noop).cancel()
    assert queue.count == 1
    assert Queue("low", backend=backend).count == 0


def test_empty(queue: Queue, backend: MemoryBackend) -> None:
    other = Queue("low", backend=backend)
    queued = [queue.enqueue(sample.noop) for _ in range(3)]
    scheduled = queue.enqueue_in(timedelta(minutes=1), sample.noop)
    failed = queue.enqueue(sample.fail)
    drain(backend)  # runs all queued ones
    queued = [queue.enqueue(sample.noop) for _ in range(3)]
    kept = other.enqueue(sample.noop)

    assert queue.empty() == 3
    assert queue.count == 0
    assert all(queue.fetch_job(j.id) is None for j in queued)
    assert scheduled.get_status() is JobStatus.SCHEDULED
    assert failed.get_status() is JobStatus.FAILED
    assert other.count == 1 and kept.get_status() is JobStatus.QUEUED
    assert queue.empty() == 0

    again = queue.enqueue(sample.add, 1, 1)
    drain(backend)
    assert again.refresh().return_value == 2
