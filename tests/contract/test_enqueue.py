"""Backend.enqueue: atomic batches, duplicate ids, dependencies, round-trips."""

from __future__ import annotations

from typing import Any

import pytest

from joblane.backends.base import Backend
from joblane.core.job import JobOptions, JobRecord, new_job
from joblane.core.limits import MAX_DURATION, MAX_RETRIES
from joblane.core.retry import Retry
from joblane.core.states import JobStatus
from joblane.errors import DuplicateJobError, NoSuchJobError
from joblane.testing import ManualClock

from .conftest import Store
from .helpers import FAILURE, claim_one, drive_to, enqueue, make_job, report

LIVE = [JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED]
ENDED = [JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED]


def test_enqueue_returns_the_jobs_as_stored(backend: Backend, clock: ManualClock) -> None:
    jobs = [make_job(clock, "normal", i) for i in range(3)]
    stored = backend.enqueue(jobs)
    assert stored == jobs
    assert backend.get_many([j.id for j in jobs]) == jobs


def test_enqueue_of_nothing_stores_nothing(backend: Backend) -> None:
    assert backend.enqueue([]) == []
    assert backend.queue_names() == []


def test_every_field_round_trips_exactly(backend: Backend, clock: ManualClock) -> None:
    job = make_job(
        clock,
        "normal",
        1,
        "two",
        {"three": [3.0]},
        job_id="job-1",
        retry=Retry(max=3, interval=[1, 2.5]),
        job_timeout=None,
        result_ttl=-1,
        ttl=600,
        failure_ttl=0,
        meta={"user": "ann", "tags": ["a"], "nested": {"n": None}},
        at_front=True,
    )
    backend.enqueue([job])
    stored = backend.get("job-1")
    assert stored == job
    assert stored is not None
    assert type(stored.payload) is bytes
    assert stored.retry_intervals == (1, 2.5) and type(stored.retry_intervals[0]) is int
    assert type(stored.retry_intervals) is tuple and type(stored.depends_on) is tuple
    assert stored.at_front is True and stored.cancel_requested is False
    assert stored.job_timeout is None and stored.failure_ttl == 0 and stored.retries_left == 3


def test_defaults_round_trip_with_none_and_zero_kept_apart(
    backend: Backend, clock: ManualClock
) -> None:
    job = make_job(clock)
    backend.enqueue([job])
    stored = backend.get(job.id)
    assert stored == job
    assert stored is not None
    assert stored.ttl is None and stored.expires_at is None and stored.result is None
    assert stored.attempts == 0 and stored.retries_left == 0
    assert stored.meta == {} and stored.retry_intervals == () and stored.depends_on == ()


def test_a_live_duplicate_fails_the_whole_batch(backend: Backend, clock: ManualClock) -> None:
    taken = enqueue(backend, clock, job_id="taken")
    first, second = make_job(clock), make_job(clock)
    with pytest.raises(DuplicateJobError) as raised:
        backend.enqueue([first, make_job(clock, job_id="taken"), second])
    assert raised.value.job_id == "taken"
    assert backend.get_many([first.id, second.id]) == [None, None]
    assert backend.get("taken") == taken
    assert backend.count("normal") == 1


def test_a_duplicate_inside_the_batch_fails_it(backend: Backend, clock: ManualClock) -> None:
    first = make_job(clock)
    with pytest.raises(DuplicateJobError):
        backend.enqueue([first, make_job(clock, job_id="twice"), make_job(clock, job_id="twice")])
    assert backend.get(first.id) is None
    assert backend.get("twice") is None


@pytest.mark.parametrize("status", LIVE, ids=str)
def test_every_live_status_blocks_its_id(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    live = drive_to(backend, clock, status, job_id="same")
    with pytest.raises(DuplicateJobError):
        backend.enqueue([make_job(clock, job_id="same")])
    assert backend.get("same") == live


@pytest.mark.parametrize("status", LIVE, ids=str)
def test_unique_returns_the_live_job_instead(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    live = drive_to(backend, clock, status, job_id="same")
    other = make_job(clock, "other")
    stored = backend.enqueue([make_job(clock, "other", job_id="same"), other], unique=True)
    assert stored == [live, other]
    assert backend.get("same") == live
    assert backend.get(other.id) == other


def test_unique_returns_the_first_of_a_repeated_id(backend: Backend, clock: ManualClock) -> None:
    first = make_job(clock, "normal", 1, job_id="twice")
    stored = backend.enqueue([first, make_job(clock, "normal", 2, job_id="twice")], unique=True)
    assert stored == [first, first]
    assert backend.count("normal") == 1


@pytest.mark.parametrize("status", ENDED, ids=str)
@pytest.mark.parametrize("unique", [False, True], ids=["plain", "unique"])
def test_an_ended_job_is_replaced(
    backend: Backend, clock: ManualClock, status: JobStatus, unique: bool
) -> None:
    drive_to(backend, clock, status, job_id="again")
    clock.advance(5)
    fresh = make_job(clock, "normal", "fresh", job_id="again")
    assert backend.enqueue([fresh], unique=unique) == [fresh]
    assert backend.get("again") == fresh
    assert [j.id for j in backend.list_queued("normal")] == ["again"]


def test_a_job_whose_dependencies_finished_is_queued(backend: Backend, clock: ManualClock) -> None:
    done = drive_to(backend, clock, JobStatus.FINISHED)
    job = make_job(clock, depends_on=[done.id])
    assert backend.enqueue([job]) == [job]
    assert backend.list_queued("normal") == [job]


@pytest.mark.parametrize("status", LIVE, ids=str)
def test_a_job_waiting_for_a_live_job_is_deferred(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    done = drive_to(backend, clock, JobStatus.FINISHED)
    blocker = drive_to(backend, clock, status, queue="blocking")
    job = make_job(clock, ttl=60, depends_on=[done.id, blocker.id])
    [stored] = backend.enqueue([job])
    deferred = job.copy(status=JobStatus.DEFERRED, enqueued=None, expires_at=None)
    assert stored == deferred
    assert backend.get(job.id) == deferred
    assert backend.count("normal") == 0


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED])
def test_a_job_waiting_for_a_job_that_will_never_finish_is_canceled(
    backend: Backend, clock: ManualClock, status: JobStatus
) -> None:
    dead = drive_to(backend, clock, status, queue="dead")
    clock.advance(1)
    job = make_job(clock, failure_ttl=100, depends_on=[dead.id])
    [stored] = backend.enqueue([job])
    canceled = job.copy(status=JobStatus.CANCELED, ended=job.created, expires_at=job.created + 100)
    assert stored == canceled
    assert backend.get(job.id) == canceled


def test_a_missing_dependency_fails_the_whole_batch(backend: Backend, clock: ManualClock) -> None:
    first = make_job(clock)
    with pytest.raises(NoSuchJobError) as raised:
        backend.enqueue([first, make_job(clock, depends_on=["nowhere"])])
    assert raised.value.job_id == "nowhere"
    assert backend.get(first.id) is None


def test_a_dependency_earlier_in_the_batch_defers(backend: Backend, clock: ManualClock) -> None:
    parent = make_job(clock)
    child = make_job(clock, depends_on=[parent.id])
    stored = backend.enqueue([parent, child])
    assert [j.status for j in stored] == [JobStatus.QUEUED, JobStatus.DEFERRED]
    assert report(backend, clock, claim_one(backend, clock), FAILURE)
    child_now = backend.get(child.id)
    assert child_now is not None and child_now.status is JobStatus.CANCELED


def test_a_scheduled_job_is_stored_scheduled(backend: Backend, clock: ManualClock) -> None:
    job = make_job(clock, scheduled=clock.now() + 60)
    assert backend.enqueue([job]) == [job]
    assert job.status is JobStatus.SCHEDULED
    assert backend.count("normal") == 0
    assert backend.next_due() == clock.now() + 60


def test_a_big_batch_is_stored_in_order(backend: Backend, clock: ManualClock) -> None:
    jobs = [make_job(clock, "normal", i) for i in range(500)]
    backend.enqueue(jobs)
    assert backend.count("normal") == 500
    assert [j.id for j in backend.list_queued("normal", 0, 500)] == [j.id for j in jobs]


@pytest.mark.requires(persistent=True)
def test_an_accepted_job_outlives_the_instance(store: Store, clock: ManualClock) -> None:
    first = store.open()
    job: JobRecord = enqueue(first, clock)
    first.close()
    assert store.open().get(job.id) == job


def test_a_big_batch_of_mixed_functions_keeps_order_and_fields(
    backend: Backend, clock: ManualClock
) -> None:
    # Runs that share their function and options, then others: every job keeps
    # its own fields, and the queue keeps the batch's order after earlier jobs.
    first = enqueue(backend, clock)
    jobs = [make_job(clock, "normal", i) for i in range(20)]
    other = JobOptions(job_timeout=5)
    jobs += [
        new_job("normal", "tests.contract.tasks.other", [i], {}, other, now=clock.now())
        for i in range(20)
    ]
    jobs += [make_job(clock, "normal", i, retry=2) for i in range(20)]
    backend.enqueue(jobs)
    queued = backend.list_queued("normal", 0, 100)
    assert [j.id for j in queued] == [first.id] + [j.id for j in jobs]
    for stored, sent in zip(queued[1:], jobs, strict=True):
        assert stored == sent


def test_the_largest_accepted_durations_round_trip_and_stay_readable(
    backend: Backend, clock: ManualClock
) -> None:
    """Every duration at its documented bound (10 years): stored, and read back
    after the job ran, failed and waits its retry (a Redis ttl of 10**30 was
    stored and then unreadable; a 3e11 s retry made the job unreadable)."""
    longest: dict[str, Any] = {"job_timeout": MAX_DURATION, "result_ttl": MAX_DURATION,
               "failure_ttl": MAX_DURATION, "ttl": MAX_DURATION}  # fmt: skip
    far = clock.now() + MAX_DURATION
    scheduled = make_job(clock, "low", job_id="scheduled", scheduled=far, **longest)
    retry = Retry(max=MAX_RETRIES, interval=[1, MAX_DURATION])
    retried = make_job(clock, job_id="retried", retry=retry, **longest)
    backend.enqueue([scheduled, retried])
    assert backend.get_many(["scheduled", "retried"]) == [scheduled, retried]
    assert retried.expires_at == clock.now() + MAX_DURATION
    for interval in (1, MAX_DURATION):
        clock.advance(interval)
        backend.promote_due(clock.now())
        assert report(backend, clock, claim_one(backend, clock), FAILURE)
    stored = backend.get("retried")
    assert stored is not None and stored.status is JobStatus.SCHEDULED
    assert stored.scheduled == clock.now() + MAX_DURATION
    assert stored.retries_left == MAX_RETRIES - 2
    assert backend.next_due() == clock.now() + MAX_DURATION
    due = backend.get("scheduled")  # promoted: its ttl counts from then
    assert due is not None and due.status is JobStatus.QUEUED
    assert due.expires_at == clock.now() + MAX_DURATION


def test_backoff_with_jitter_round_trips_exactly(backend: Backend, clock: ManualClock) -> None:
    # The waits are expanded and jittered when the job is built: up to 100
    # arbitrary floats in the existing interval list, nothing new stored.
    retry = Retry(max=MAX_RETRIES, interval=0.001, factor=1.5, cap=MAX_DURATION, jitter=1)
    job = make_job(clock, retry=retry)
    assert len(job.retry_intervals) == 67  # 0.001 * 1.5 ** 66 > 10 years: capped
    backend.enqueue([job])
    stored = backend.get(job.id)
    assert stored is not None
    assert stored.retry_intervals == job.retry_intervals
