"""The one mechanism in the client: enqueues inside a transaction are buffered
and stored at its commit (joblane.pending, joblane.atomic)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

import tests.jobs.sample  # noqa: F401  # the @job functions
from joblane import Job, JobNotStoredError, JobStatus, NoSuchJobError, Queue, atomic
from joblane.backends.memory import MemoryBackend
from joblane.core.job import JobRecord
from joblane.errors import BackendError
from joblane.pending import PendingJobs, add_provider, current_pending, remove_provider

ADD = "tests.jobs.sample.add"


class CountingBackend(MemoryBackend):
    """The memory backend, counting its enqueue calls (round trips)."""

    def __init__(self) -> None:
        super().__init__()
        self.enqueue_calls = 0
        self.refuse = False

    def enqueue(self, jobs: Sequence[JobRecord], *, unique: bool = False) -> list[JobRecord]:
        if self.refuse:
            raise BackendError("backend away")
        self.enqueue_calls += 1
        return super().enqueue(jobs, unique=unique)


@pytest.fixture
def backend() -> CountingBackend:
    return CountingBackend()


@pytest.fixture
def queue(backend: CountingBackend) -> Queue:
    return Queue("normal", backend=backend)


def test_outside_a_transaction_enqueue_stores_at_once(queue: Queue) -> None:
    assert current_pending() is None
    job = queue.enqueue(ADD, 1, 2)
    assert Job.fetch(job.id, backend=queue.backend).status is JobStatus.QUEUED


def test_atomic_stores_at_a_clean_exit_in_one_round_trip(
    queue: Queue, backend: CountingBackend
) -> None:
    with atomic():
        jobs = [queue.enqueue(ADD, i, 1) for i in range(5)]
        jobs += queue.enqueue_many([Queue.prepare_data(ADD, (9, 9))])
        assert len(queue) == 0 and backend.enqueue_calls == 0
        assert all(job.id for job in jobs)  # ids at once, before the commit
    assert backend.enqueue_calls == 1
    assert [j.id for j in queue.get_jobs()] == [j.id for j in jobs]


def test_atomic_stores_nothing_when_the_block_raises(queue: Queue) -> None:
    with pytest.raises(RuntimeError), atomic():
        job = queue.enqueue(ADD, 1, 2)
        raise RuntimeError("rolled back")
    assert len(queue) == 0
    with pytest.raises(NoSuchJobError) as raised:
        Job.fetch(job.id, backend=queue.backend)
    assert type(raised.value) is NoSuchJobError  # not stored, and not pending any more


def test_fetch_before_the_commit_says_not_stored_yet(queue: Queue) -> None:
    with atomic():
        job = queue.enqueue(ADD, 1, 2)
        with pytest.raises(JobNotStoredError, match="has not committed yet"):
            Job.fetch(job.id, backend=queue.backend)
        with pytest.raises(JobNotStoredError):
            job.refresh()
    assert job.refresh().status is JobStatus.QUEUED


def test_an_inner_atomic_is_a_savepoint(queue: Queue) -> None:
    with atomic():
        kept = queue.enqueue(ADD, 1, 1)
        with pytest.raises(RuntimeError), atomic():
            queue.enqueue(ADD, 2, 2)
            raise RuntimeError("inner only")
        with atomic():
            inner = queue.enqueue(ADD, 3, 3)
        assert len(queue) == 0  # the inner clean exit waits for the outer one
    assert {j.id for j in queue.get_jobs()} == {kept.id, inner.id}


def test_one_round_trip_per_backend(queue: Queue, backend: CountingBackend) -> None:
    other = CountingBackend()
    with atomic():
        queue.enqueue(ADD, 1, 1)
        Queue("low", backend=other).enqueue(ADD, 2, 2)
        queue.enqueue(ADD, 3, 3)
    assert (backend.enqueue_calls, other.enqueue_calls) == (1, 1)
    assert len(queue) == 2 and other.count("low") == 1


def test_a_failed_store_at_exit_raises_and_forgets_the_jobs(
    queue: Queue, backend: CountingBackend
) -> None:
    backend.refuse = True
    with pytest.raises(BackendError), atomic():
        job = queue.enqueue(ADD, 1, 2)
    backend.refuse = False
    with pytest.raises(NoSuchJobError) as raised:
        Job.fetch(job.id, backend=backend)
    assert type(raised.value) is NoSuchJobError


@pytest.fixture
def transaction_buffer() -> Iterator[PendingJobs]:
    """A provider as an adapter registers one: the buffer of 'its transaction'."""
    buffer = PendingJobs()

    def provider() -> PendingJobs:
        return buffer

    add_provider(provider)
    yield buffer
    remove_provider(provider)


def test_a_provider_receives_the_enqueues(queue: Queue, transaction_buffer: PendingJobs) -> None:
    job = queue.enqueue(ADD, 1, 2)
    assert len(queue) == 0 and [r.id for _, r, _ in transaction_buffer.entries] == [job.id]
    transaction_buffer.store()
    assert queue.fetch_job(job.id) is not None


def test_atomic_inside_an_adapters_transaction_hands_its_jobs_over(
    queue: Queue, transaction_buffer: PendingJobs
) -> None:
    with atomic():
        job = queue.enqueue(ADD, 1, 2)
    assert len(queue) == 0 and len(transaction_buffer) == 1
    with pytest.raises(JobNotStoredError):
        Job.fetch(job.id, backend=queue.backend)
    transaction_buffer.discard()
    assert len(queue) == 0


def test_store_after_a_partial_failure_stores_only_what_is_left() -> None:
    first, second = CountingBackend(), CountingBackend()
    buffer = PendingJobs()
    records: list[JobRecord] = [Queue(backend=b).build(ADD, 1, 2).record for b in (first, second)]
    buffer.add(first, [records[0]], False)
    buffer.add(second, [records[1]], False)
    second.refuse = True
    with pytest.raises(BackendError):
        buffer.store()
    second.refuse = False
    buffer.store()  # no DuplicateJobError from first: its group left the buffer
    assert (first.enqueue_calls, second.enqueue_calls) == (1, 1)


def test_a_dependency_enqueued_in_the_same_transaction(queue: Queue) -> None:
    with atomic():
        parent = queue.enqueue(ADD, 1, 2)
        child = queue.enqueue(ADD, 3, 4, depends_on=parent)
    assert child.refresh().status is JobStatus.DEFERRED  # its stored status, after the commit
