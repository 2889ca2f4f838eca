"""Who enqueued a job, through the public API: captured when the job is built,
stored with it, restored by a worker's hook around each attempt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from joblane import IdentityError, JobStatus, Queue, Retry
from joblane.backends.memory import MemoryBackend
from joblane.identity import Identity, acting_as, ignore, set_provider
from tests.api.conftest import drain
from tests.jobs import identity as jobs
from tests.jobs import sample


@pytest.fixture(autouse=True)
def no_provider() -> Iterator[None]:
    yield
    set_provider(None)


def test_a_job_built_now_and_stored_later_keeps_its_enqueuer(
    queue: Queue, backend: MemoryBackend
) -> None:
    with acting_as("alice", site="/plone"):
        prepared = queue.build(sample.add, 1, 2)
    set_provider(lambda: "someone-else")  # at store time: not asked again
    (job,) = queue.store([prepared])
    stored = backend.get(job.id)
    assert stored is not None and stored.enqueued_by == Identity("alice", {"site": "/plone"})
    assert job.to_dict()["enqueued_by"] == {"user_id": "alice", "context": {"site": "/plone"}}


def test_enqueue_many_takes_one_enqueuer_for_the_batch(queue: Queue) -> None:
    set_provider(lambda: "bob")
    jobs_ = queue.enqueue_many(
        [
            queue.prepare_data(sample.add, (1, 2)),
            queue.prepare_data(sample.add, (3, 4), job_id="x"),
        ]
    )
    assert [j.record.enqueued_by for j in jobs_] == [Identity("bob"), Identity("bob")]


def test_an_enqueue_whose_identity_cannot_be_captured_stores_nothing(
    queue: Queue, backend: MemoryBackend
) -> None:
    set_provider(lambda: Identity("carol", {"request": object()}))  # type: ignore[dict-item]
    with pytest.raises(IdentityError, match="the context of user 'carol' has request="):
        queue.enqueue(sample.add, 1, 2)
    assert backend.count("normal") == 0


def test_a_worker_runs_the_job_as_its_enqueuer(queue: Queue, backend: MemoryBackend) -> None:
    with acting_as("alice"):
        job = queue.enqueue(jobs.who, meta={"k": "v"})
    drain(backend, identity=jobs.restore)
    assert job.refresh().get_status() is JobStatus.FINISHED, job.last_job_result
    result = job.return_value
    assert result["running_as"] == "alice" and result["meta"] == {"k": "v"}
    assert result["enqueued_by"] == {"user_id": "alice", "context": {}}


def test_a_worker_without_a_hook_fails_a_job_that_has_an_identity(
    queue: Queue, backend: MemoryBackend
) -> None:
    with acting_as("alice"):
        job = queue.enqueue(jobs.who, retry=Retry(max=3))
    plain = queue.enqueue(jobs.who)
    drain(backend)
    assert job.refresh().get_status() is JobStatus.FAILED
    assert job.retries_left == 3  # not retried: another attempt would fail alike
    assert (job.last_job_result or "").startswith(
        "IdentityError: the job was enqueued by user 'alice', and this worker has no identity hook"
    )
    assert plain.refresh().get_status() is JobStatus.FINISHED


def test_a_worker_may_opt_into_running_jobs_without_their_user(
    queue: Queue, backend: MemoryBackend
) -> None:
    with acting_as("alice"):
        job = queue.enqueue(jobs.who)
    drain(backend, identity=ignore)
    assert job.refresh().get_status() is JobStatus.FINISHED
    assert job.return_value["running_as"] is None


def test_a_failing_restore_is_retried_by_the_jobs_policy_unless_it_refuses_the_user(
    queue: Queue, backend: MemoryBackend
) -> None:
    with acting_as("db-down"):
        down = queue.enqueue(jobs.who, retry=Retry(max=1))
    with acting_as("mallory"):
        refused = queue.enqueue(jobs.who, retry=Retry(max=1))
    drain(backend, identity=jobs.restore)
    assert down.refresh().get_status() is JobStatus.FAILED
    assert down.attempts == 2
    assert "cannot run the job as user 'db-down': ConnectionError" in (down.last_job_result or "")
    assert refused.refresh().get_status() is JobStatus.FAILED
    assert refused.attempts == 1
    assert refused.last_job_result == (
        "IdentityError: cannot run the job as user 'mallory': no such user in acl_users"
    )


def test_the_immediate_backend_runs_the_job_as_the_caller(iqueue: Queue) -> None:
    with acting_as("alice"):
        job = iqueue.enqueue(jobs.who)
    assert job.get_status() is JobStatus.FINISHED, job.last_job_result
    assert job.return_value["enqueued_by"] == {"user_id": "alice", "context": {}}
