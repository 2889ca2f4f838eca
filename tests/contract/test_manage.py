"""What users do to jobs: cancel, requeue, delete, empty, save_meta."""

from __future__ import annotations

import pytest

from joblane.backends.base import Backend
from joblane.core.outcome import STOPPED
from joblane.core.states import JobStatus, Registry
from joblane.errors import InvalidStateError, NoSuchJobError
from joblane.testing import ManualClock

from .helpers import SUCCESS, claim, claim_one, drive_to, enqueue, report

CANCELABLE = [JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED]
ENDED = [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED]
REQUEUEABLE = [JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED]


@pytest.mark.parametrize("status", CANCELABLE, ids=str)
def test_cancel_ends_a_job_that_has_not_started(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    job = drive_to(backend, clock, status, failure_ttl=90)
    clock.advance(3)
    now = clock.now()
    canceled = backend.cancel(job.id, now)
    assert canceled == job.copy(status=JobStatus.CANCELED, ended=now, expires_at=now + 90)
    assert backend.get(job.id) == canceled
    assert backend.list_registry("normal", Registry.CANCELED) == [canceled]
    assert claim(backend, clock) == []
    assert backend.promote_due(now + 10 * 3600) == 0


@pytest.mark.parametrize("status", CANCELABLE, ids=str)
def test_cancel_cancels_the_deferred_dependents_too(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    job = drive_to(backend, clock, status)
    child = enqueue(backend, clock, "children", depends_on=[job.id])
    grandchild = enqueue(backend, clock, "children", depends_on=[child.id])
    backend.cancel(job.id, clock.now())
    assert [j.status for j in backend.get_many([child.id, grandchild.id]) if j] == [
        JobStatus.CANCELED,
        JobStatus.CANCELED,
    ]


def test_cancel_of_a_started_job_asks_its_worker(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock)
    child = enqueue(backend, clock, "children", depends_on=[job.id])
    running = claim_one(backend, clock)
    asked = backend.cancel(job.id, clock.now())
    assert asked == running.copy(cancel_requested=True)
    assert backend.get(job.id) == asked
    assert running.lease_token
    renewed = backend.renew([(job.id, running.lease_token)], lease_seconds=30, now=clock.now())
    assert renewed.cancel_requested == [job.id]
    assert report(backend, clock, running, STOPPED)
    stopped = backend.get(job.id)
    assert stopped is not None and stopped.status is JobStatus.STOPPED
    canceled = backend.get(child.id)
    assert canceled is not None and canceled.status is JobStatus.CANCELED


@pytest.mark.parametrize("status", ENDED, ids=str)
def test_cancel_of_an_ended_job_is_refused(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    job = drive_to(backend, clock, status)
    with pytest.raises(InvalidStateError):
        backend.cancel(job.id, clock.now())
    assert backend.get(job.id) == job


def test_cancel_of_a_missing_job_raises(backend: Backend, clock: ManualClock) -> None:
    with pytest.raises(NoSuchJobError):
        backend.cancel("missing", clock.now())


@pytest.mark.parametrize("status", REQUEUEABLE, ids=str)
def test_requeue_puts_an_ended_job_at_the_back_of_its_queue(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    job = drive_to(backend, clock, status, ttl=100)
    waiting = enqueue(backend, clock)
    clock.advance(7)
    now = clock.now()
    requeued = backend.requeue(job.id, now)
    assert requeued == job.copy(
        status=JobStatus.QUEUED,
        enqueued=now,
        started=None,
        ended=None,
        result=None,
        worker_name=None,
        lease_token=None,
        lease_expires=None,
        cancel_requested=False,
        expires_at=now + 100,
    )
    assert backend.get(job.id) == requeued
    assert [j.id for j in backend.list_queued("normal")] == [waiting.id, job.id]
    assert [j.id for j in claim(backend, clock)] == [waiting.id, job.id]


@pytest.mark.parametrize(
    "status", [JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED,
               JobStatus.FINISHED], ids=str
)  # fmt: skip
def test_requeue_of_a_job_that_did_not_fail_is_refused(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    job = drive_to(backend, clock, status)
    with pytest.raises(InvalidStateError):
        backend.requeue(job.id, clock.now())
    assert backend.get(job.id) == job


def test_requeue_of_a_missing_job_raises(backend: Backend, clock: ManualClock) -> None:
    with pytest.raises(NoSuchJobError):
        backend.requeue("missing", clock.now())


@pytest.mark.parametrize("status", list(JobStatus), ids=str)
def test_delete_removes_a_job_in_any_state(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    job = drive_to(backend, clock, status)
    assert backend.delete(job.id)
    assert backend.get(job.id) is None
    assert not backend.delete(job.id)


def test_the_worker_of_a_deleted_job_records_nothing(backend: Backend, clock: ManualClock) -> None:
    enqueue(backend, clock)
    running = claim_one(backend, clock)
    assert running.lease_token
    assert backend.delete(running.id)
    renewed = backend.renew([(running.id, running.lease_token)], lease_seconds=30, now=0)
    assert renewed.lost == [running.id]
    assert not report(backend, clock, running, SUCCESS)
    assert backend.get(running.id) is None


def test_empty_deletes_the_queued_jobs_of_one_queue(backend: Backend, clock: ManualClock) -> None:
    running = drive_to(backend, clock, JobStatus.STARTED)
    scheduled = drive_to(backend, clock, JobStatus.SCHEDULED)
    queued = [enqueue(backend, clock) for _ in range(3)]
    other = enqueue(backend, clock, "other")
    assert backend.empty("normal") == 3
    assert backend.get_many([j.id for j in queued]) == [None, None, None]
    assert backend.count("normal") == 0
    assert backend.get_many([running.id, scheduled.id, other.id]) == [running, scheduled, other]
    assert backend.empty("normal") == 0
    assert backend.empty("never-used") == 0


def test_save_meta_replaces_the_meta(backend: Backend, clock: ManualClock) -> None:
    job = enqueue(backend, clock, meta={"a": 1, "b": 2})
    backend.save_meta(job.id, {"progress": 0.5, "steps": ["x"]})
    assert backend.get(job.id) == job.copy(meta={"progress": 0.5, "steps": ["x"]})
    backend.save_meta(job.id, {})
    assert backend.get(job.id) == job.copy(meta={})


def test_save_meta_of_a_missing_job_raises(backend: Backend) -> None:
    with pytest.raises(NoSuchJobError):
        backend.save_meta("missing", {"a": 1})
